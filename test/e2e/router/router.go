package router

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"

	"github.com/ferrydvm/ferry/internal/kube"
	"github.com/ferrydvm/ferry/internal/testenv"
	"github.com/ferrydvm/ferry/test/e2e/cluster"
	"github.com/ferrydvm/ferry/test/e2e/trigger"
)

// Options configure the router of one cluster.
type Options struct {
	Cluster *cluster.Cluster // required; the Route CRD must be installed
	Netns   *testenv.Netns   // required: where HAProxy runs
	// IP is the router's address in Netns; it listens on IP:443. Required.
	IP string
	// Subdomain is the domain of generated route hosts, e.g. "apps.target.test". Required.
	Subdomain string
	// Hosts are namespaces whose /etc/netns/<ns>/hosts gets every host the router serves
	// (programs that read /etc/hosts at each lookup see them at once; others resolve
	// through the environment's DNS).
	Hosts []*testenv.Netns
}

// Router runs HAProxy for one cluster until the test ends.
type Router struct {
	o       Options
	dyn     dynamic.Interface
	log     *slog.Logger
	trigger *trigger.Trigger
	haproxy *haproxy
	lists   listers
	known   map[string]bool // hosts already written to the hosts files
}

// Start runs the router from now until the test's cleanup.
func Start(tb testing.TB, o Options) *Router {
	tb.Helper()
	bin := testenv.Need(tb, "haproxy")["haproxy"]
	dir := tb.TempDir()
	logFile, err := os.Create(filepath.Join(dir, "router.log"))
	if err != nil {
		tb.Fatalf("router: %v", err)
	}
	dyn, err := dynamic.NewForConfig(o.Cluster.RESTConfig())
	if err != nil {
		tb.Fatalf("router: dynamic client: %v", err)
	}
	r := &Router{
		o:       o,
		dyn:     dyn,
		log:     slog.New(slog.NewTextHandler(logFile, nil)).With("cluster", o.Cluster.Name),
		trigger: trigger.New(),
		known:   map[string]bool{},
	}
	r.haproxy, err = startHAProxy(o.Netns, bin, dir, o.IP+":443")
	if err != nil {
		tb.Fatalf("router: %v", err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	typed := informers.NewSharedInformerFactory(o.Cluster.Client(), 30*time.Second)
	dynamicFactory := dynamicinformer.NewDynamicSharedInformerFactory(dyn, 30*time.Second)
	handler := r.trigger.Handler()
	routes := dynamicFactory.ForResource(kube.RouteGVR)
	for _, inf := range []cache.SharedIndexInformer{
		routes.Informer(),
		typed.Networking().V1().Ingresses().Informer(),
		typed.Core().V1().Services().Informer(),
		typed.Core().V1().Pods().Informer(),
	} {
		inf.AddEventHandler(handler)
	}
	r.lists = listers{
		routes:    routes.Lister(),
		ingresses: typed.Networking().V1().Ingresses().Lister(),
		services:  typed.Core().V1().Services().Lister(),
		pods:      typed.Core().V1().Pods().Lister(),
	}
	typed.Start(ctx.Done())
	dynamicFactory.Start(ctx.Done())
	typed.WaitForCacheSync(ctx.Done())
	dynamicFactory.WaitForCacheSync(ctx.Done())

	var wg sync.WaitGroup
	wg.Go(func() { r.trigger.Run(ctx, r.log, r.reconcile) })
	tb.Cleanup(func() {
		cancel()
		wg.Wait()
		typed.Shutdown()
		dynamicFactory.Shutdown()
		r.haproxy.stop()
		logFile.Close()
		if tb.Failed() {
			b, _ := os.ReadFile(logFile.Name())
			tb.Logf("router of %s:\n%s\nhaproxy:\n%s\nconfiguration:\n%s", o.Cluster.Name, b, r.haproxy.logTail(), r.haproxy.last)
		}
	})
	r.trigger.Poke()
	return r
}

// Host is the host the router gives a Route without spec.host.
func (r *Router) Host(namespace, name string) string {
	return fmt.Sprintf("%s-%s.%s", name, namespace, r.o.Subdomain)
}

// reconcile gives hosts and status to Routes and Ingresses, and HAProxy the backends.
func (r *Router) reconcile(ctx context.Context) error {
	routes, err := r.lists.routes.List(labels.Everything())
	if err != nil {
		return err
	}
	ingresses, err := r.lists.ingresses.List(labels.Everything())
	if err != nil {
		return err
	}
	// Status is reported only once HAProxy serves what it says: a client that waits for
	// "admitted" must find the host routed.
	var backends []Backend
	var reports []func()
	claimed := map[string]string{} // host -> who holds it
	for _, o := range oldestFirst(routes) {
		be, report := r.route(ctx, o, claimed)
		backends = append(backends, be...)
		reports = append(reports, report)
	}
	for _, ing := range ingresses {
		be, report := r.ingress(ctx, ing, claimed)
		backends = append(backends, be...)
		reports = append(reports, report)
	}
	if err := r.haproxy.apply(Config(r.o.IP+":443", r.haproxy.dir, backends)); err != nil {
		return err
	}
	for _, be := range backends {
		if r.known[be.Host] {
			continue
		}
		for _, ns := range r.o.Hosts {
			if err := ns.PutHost(be.Host, r.o.IP); err != nil {
				return err
			}
		}
		r.known[be.Host] = true
	}
	for _, report := range reports {
		report()
	}
	return nil
}
