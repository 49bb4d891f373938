package bench

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ferrydvm/ferry/internal/testenv"
	"github.com/ferrydvm/ferry/internal/treegen"
)

// mtcRsyncOptions are the options MTC's DVM gives rsync by default.
var mtcRsyncOptions = []string{"--recursive", "--links", "--perms", "--devices", "--specials", "--times",
	"--owner", "--group", "--hard-links", "--delete", "--partial", "--human-readable",
	"--info=COPY2,DEL2,REMOVE2,SKIP2,FLIST2,PROGRESS2,STATS2", "--exclude=lost+found"}

// paths is the reference path and ferry, set up once per benchmark on loopback.
type paths struct {
	ferry     string
	certs     string
	squid     string
	refClient string // stunnel client in front of the rsync daemon's stunnel server
	refTarget string // where the rsync daemon writes
	ferryAddr string
	ferryDst  string
	servePID  int
	stopServe func()
}

func setupPaths(b *testing.B) *paths {
	testenv.Need(b, "stunnel4", "squid", "rsync")
	p := &paths{ferry: ferryBinary(b), certs: certs(b), refTarget: b.TempDir(), ferryDst: b.TempDir()}
	p.squid = testenv.Squid(b, testenv.SquidOptions{Users: map[string]string{"bench": "pw"}})
	rsyncd := testenv.RsyncDaemon(b, nil, "", p.refTarget)
	pr := stunnelPair(b, p.certs, p.squid, rsyncd)
	p.refClient = pr.addr
	p.startServe(b)
	return p
}

// startServe (re)starts ferry serve, so its peak memory belongs to one scenario.
func (p *paths) startServe(b *testing.B) {
	if p.stopServe != nil {
		p.stopServe()
	}
	p.ferryAddr = freeAddr(b)
	cmd := exec.Command(p.ferry, "serve", "--listen", p.ferryAddr, "--certs", p.certs, "--volume", "v="+p.ferryDst, "--log-level", "warn")
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	p.servePID = cmd.Process.Pid
	p.stopServe = func() { cmd.Process.Kill(); cmd.Wait() }
	b.Cleanup(func() { p.stopServe() })
	waitPort(b, p.ferryAddr)
}

// servePeakRSS is the receiver's peak resident memory so far, in bytes.
func (p *paths) servePeakRSS() int64 {
	data, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.servePID))
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmHWM:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	return 0
}

// result of one timed command.
type result struct {
	wall time.Duration
	rss  int64 // peak of the command's own process tree
}

func timed(b *testing.B, name string, args ...string) result {
	b.Helper()
	exec.Command("sync").Run()
	cmd := exec.Command(name, args...)
	out, err := os.CreateTemp(b.TempDir(), "out")
	if err != nil {
		b.Fatal(err)
	}
	defer out.Close()
	cmd.Stdout, cmd.Stderr = out, out
	start := time.Now()
	err = cmd.Run()
	wall := time.Since(start)
	if err != nil {
		log, _ := os.ReadFile(out.Name())
		b.Fatalf("%s %v: %v\n%s", name, args, err, log)
	}
	ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	return result{wall: wall, rss: ru.Maxrss << 10}
}

// Each run writes into its own new subdirectory: on ext4 a directory that has held and lost
// many files stays slower to create files in, which would favour whoever runs first.
func (p *paths) sendFerry(b *testing.B, src, sub string) result {
	return timed(b, p.ferry, "send", src, p.ferryAddr+"/v/"+sub, "--certs", p.certs, "--server-name", "localhost",
		"--proxy", "http://bench:pw@"+p.squid, "--progress", "none", "--delete")
}

func (p *paths) sendReference(b *testing.B, src, sub string) result {
	args := append(append([]string{}, mtcRsyncOptions...), src+"/", "rsync://"+p.refClient+"/mnt/"+sub+"/")
	return timed(b, "rsync", args...)
}

func generate(b *testing.B, s treegen.Spec) string {
	dir := filepath.Join(b.TempDir(), "src")
	if _, err := treegen.Generate(context.Background(), dir, s); err != nil {
		b.Fatal(err)
	}
	return dir
}

// scenario runs ferry, the reference and a local floor in turn, rounds times, and prints
// medians and ratios. fresh empties the targets before each run.
type scenario struct {
	name   string
	target float64 // ferry/reference at most
	rounds int
	fresh  bool
	floor  func(b *testing.B, src, dst string) result
	floorN string
}

func (sc scenario) run(b *testing.B, p *paths, src string) {
	floorDst := b.TempDir()
	var ferry, ref, floor []time.Duration
	var sendRSS int64
	if !sc.fresh { // a populated target for re-sync scenarios
		p.sendFerry(b, src, "r0")
		p.sendReference(b, src, "r0")
	}
	p.startServe(b)
	for b.Loop() {
		for i := range sc.rounds {
			sub := "r0"
			if sc.fresh {
				sub = fmt.Sprintf("r%d", i+1)
			}
			runs := []func(){
				func() {
					r := p.sendFerry(b, src, sub)
					ferry = append(ferry, r.wall)
					sendRSS = max(sendRSS, r.rss)
				},
				func() { ref = append(ref, p.sendReference(b, src, sub).wall) },
			}
			if sc.floor != nil {
				runs = append(runs, func() { floor = append(floor, sc.floor(b, src, filepath.Join(floorDst, sub)).wall) })
			}
			for k := range runs { // each round starts with another contender
				runs[(i+k)%len(runs)]()
			}
		}
	}
	f, r := median(ferry), median(ref)
	fmt.Printf("\n%s (median of %d, alternating):\n", sc.name, sc.rounds)
	fmt.Printf("  ferry %.3fs   reference %.3fs   ferry/reference %.2fx (target <= %.2fx)\n", f.Seconds(), r.Seconds(), f.Seconds()/r.Seconds(), sc.target)
	if len(floor) > 0 {
		fl := median(floor)
		fmt.Printf("  floor (%s) %.3fs   ferry/floor %.2fx\n", sc.floorN, fl.Seconds(), f.Seconds()/fl.Seconds())
		b.ReportMetric(f.Seconds()/fl.Seconds(), "ferry/floor")
	}
	fmt.Printf("  peak RSS: sender %d MiB, receiver %d MiB\n", sendRSS>>20, p.servePeakRSS()>>20)
	b.ReportMetric(f.Seconds()/r.Seconds(), "ferry/reference")
	b.ReportMetric(float64(sendRSS>>20), "sender-MiB")
	b.ReportMetric(float64(p.servePeakRSS()>>20), "receiver-MiB")
}

func cpFloor(b *testing.B, src, dst string) result { return timed(b, "cp", "-a", src, dst) }

func tarFloor(b *testing.B, src, dst string) result {
	os.MkdirAll(dst, 0o755)
	return timed(b, "sh", "-c", fmt.Sprintf("tar -C %s -cf - . | tar -C %s -xf -", src, dst))
}

func BenchmarkSmallFiles(b *testing.B) {
	p := setupPaths(b)
	src := generate(b, treegen.Spec{SmallFiles: 50000, SmallSize: 4096, Seed: 1})
	scenario{name: "50,000 files of 4 KiB", target: 0.25, rounds: 5, fresh: true, floor: cpFloor, floorN: "cp -a"}.run(b, p, src)
}

func BenchmarkLargeFile(b *testing.B) {
	p := setupPaths(b)
	src := generate(b, treegen.Spec{LargeFiles: 1, LargeSize: 1 << 30, Seed: 2})
	scenario{name: "one 1 GiB file of random data", target: 0.4, rounds: 5, fresh: true, floor: tarFloor, floorN: "tar | tar"}.run(b, p, src)
}

func BenchmarkResync(b *testing.B) {
	p := setupPaths(b)
	src := generate(b, treegen.Spec{SmallFiles: 50000, SmallSize: 4096, Seed: 1})
	// The least any comparison does: lstat every object of both trees, both at once, with
	// no network, no xattrs and nothing compared.
	statBoth := func(b *testing.B, src, _ string) result {
		dst := filepath.Join(p.ferryDst, "r0")
		const f = "-printf '%s %T@ %m %U %G\\n' >/dev/null"
		return timed(b, "sh", "-c", fmt.Sprintf("find %s %s & find %s %s; wait", src, f, dst, f))
	}
	scenario{name: "unchanged re-sync of 50,000 files", target: 0.3, rounds: 5, floor: statBoth, floorN: "find -printf on both trees"}.run(b, p, src)
}

// BenchmarkMillionFiles reports time and memory for 1,000,000 small files (set
// FERRY_BENCH_MILLION=1; it needs several GiB of disk and minutes).
func BenchmarkMillionFiles(b *testing.B) {
	if os.Getenv("FERRY_BENCH_MILLION") == "" {
		b.Skip("set FERRY_BENCH_MILLION=1 to run")
	}
	p := setupPaths(b)
	src := generate(b, treegen.Spec{SmallFiles: 1000000, SmallSize: 512, Seed: 3})
	scenario{name: "1,000,000 files of 512 bytes", target: 1, rounds: 1, fresh: true}.run(b, p, src)
}
