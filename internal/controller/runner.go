package controller

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"k8s.io/apimachinery/pkg/types"

	"github.com/ferrydvm/ferry/internal/proxy"
)

// errDeleted cancels the migration of a DVM that is being deleted.
var errDeleted = errors.New("the DirectVolumeMigration is being deleted")

// runners are the migrations running in this process, one per DVM UID.
type runners struct {
	mu   sync.Mutex
	runs map[types.UID]*run
	wg   sync.WaitGroup
}

// run is one migration's goroutine.
type run struct {
	cancel context.CancelCauseFunc
	done   chan struct{}
}

// start runs f on a goroutine of its own under a context derived from base, unless uid
// runs already; it reports whether it started f.
func (rs *runners) start(base context.Context, uid types.UID, f func(ctx context.Context)) bool {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if rs.runs == nil {
		rs.runs = map[types.UID]*run{}
	}
	if _, ok := rs.runs[uid]; ok {
		return false
	}
	ctx, cancel := context.WithCancelCause(base)
	r := &run{cancel: cancel, done: make(chan struct{})}
	rs.runs[uid] = r
	rs.wg.Go(func() {
		defer func() {
			rs.mu.Lock()
			delete(rs.runs, uid)
			rs.mu.Unlock()
			cancel(nil)
			close(r.done)
		}()
		f(ctx)
	})
	return true
}

// running reports whether uid's migration runs in this process.
func (rs *runners) running(uid types.UID) bool {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	_, ok := rs.runs[uid]
	return ok
}

// stop cancels uid's migration with cause and reports whether none runs any more.
func (rs *runners) stop(uid types.UID, cause error) bool {
	rs.mu.Lock()
	r, ok := rs.runs[uid]
	rs.mu.Unlock()
	if !ok {
		return true
	}
	r.cancel(cause)
	select {
	case <-r.done:
		return true
	case <-time.After(100 * time.Millisecond):
		return false
	}
}

// wait waits until every migration has returned, at most timeout; it reports whether
// they all did.
func (rs *runners) wait(timeout time.Duration) bool {
	done := make(chan struct{})
	go func() { rs.wg.Wait(); close(done) }()
	select {
	case <-done:
		return true
	case <-time.After(timeout):
		return false
	}
}

// throttle calls flush at most once per interval after Kick, always once more after the
// last Kick; Close flushes what is pending and stops.
type throttle struct {
	every  time.Duration
	flush  func()
	kick   chan struct{}
	closed chan struct{}
	done   chan struct{}
}

func newThrottle(every time.Duration, flush func()) *throttle {
	t := &throttle{every: every, flush: flush, kick: make(chan struct{}, 1), closed: make(chan struct{}), done: make(chan struct{})}
	go t.loop()
	return t
}

// Kick asks for a flush.
func (t *throttle) Kick() {
	select {
	case t.kick <- struct{}{}:
	default:
	}
}

// Close flushes once more if a Kick is pending, keeping to the interval, and stops.
func (t *throttle) Close() {
	close(t.closed)
	<-t.done
}

func (t *throttle) loop() {
	defer close(t.done)
	var last time.Time
	var timer <-chan time.Time
	for {
		select {
		case <-t.kick:
			if timer == nil {
				timer = time.After(t.every - time.Since(last))
			}
		case <-timer:
			t.flush()
			last, timer = time.Now(), nil
		case <-t.closed:
			select {
			case <-t.kick:
				timer = time.After(t.every - time.Since(last))
			default:
			}
			if timer != nil {
				<-timer
				t.flush()
			}
			return
		}
	}
}

// scrubber masks the passwords of proxy URLs in text meant for a status or an Event.
// Messages from the migration should not hold them; this makes sure.
type scrubber struct{ replacer *strings.Replacer }

func newScrubber(proxies []string) scrubber {
	var pairs []string
	for _, raw := range proxies {
		pairs = append(pairs, raw, proxy.Redact(raw))
		if p, err := proxy.Parse(raw); err == nil && len(p.Password) >= 4 {
			userinfo := strings.TrimPrefix(url.UserPassword("", p.Password).String(), ":")
			pairs = append(pairs, userinfo, "xxxxx", url.QueryEscape(p.Password), "xxxxx", url.PathEscape(p.Password), "xxxxx", p.Password, "xxxxx")
		}
	}
	return scrubber{strings.NewReplacer(pairs...)}
}

func (s scrubber) clean(text string) string {
	if s.replacer == nil {
		return text
	}
	return s.replacer.Replace(text)
}

// truncate shortens text to at most n bytes, on a rune boundary, marking the cut.
func truncate(text string, n int) string {
	if len(text) <= n {
		return text
	}
	cut := n - len(" …")
	for cut > 0 && !utf8.RuneStart(text[cut]) {
		cut--
	}
	return text[:cut] + " …"
}

// Limits of texts: Event notes are limited to 1 KiB by the API server.
const (
	maxEventNote = 1000
	maxMessage   = 4000
)
