package services

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	corelisters "k8s.io/client-go/listers/core/v1"

	"github.com/ferrydvm/ferry/internal/testenv"
	"github.com/ferrydvm/ferry/test/e2e/cluster"
	"github.com/ferrydvm/ferry/test/e2e/trigger"
)

// Options configure the relay of one cluster.
type Options struct {
	Cluster *cluster.Cluster // required
	Netns   *testenv.Netns   // required: the cluster's network, where pods run
	// NodeIP is the node's address in Netns, where node ports listen. Required.
	NodeIP string
	// LoadBalancerIPs are the addresses handed to LoadBalancer Services, in order; they
	// are added to LoadBalancerDevice, the namespace's outward interface. None: such
	// Services stay pending, as on a cluster without a load-balancer controller.
	LoadBalancerIPs    []string
	LoadBalancerDevice string
}

// Relay serves the Services of one cluster until the test ends.
type Relay struct {
	o        Options
	services corelisters.ServiceLister
	pods     corelisters.PodLister
	log      *slog.Logger
	trigger  *trigger.Trigger
	ip       string // the ip command

	mu        sync.Mutex
	listeners map[string]*listener // by frontend address, ip:port
	addrs     map[string]string    // IP added to the namespace -> its device
	lbIPs     map[string]string    // namespace/name -> load-balancer IP; only the loop uses it
}

// Start serves the cluster's Services from now until the test's cleanup.
func Start(tb testing.TB, o Options) *Relay {
	tb.Helper()
	logFile, err := os.Create(filepath.Join(tb.TempDir(), "services.log"))
	if err != nil {
		tb.Fatalf("services: %v", err)
	}
	factory := informers.NewSharedInformerFactory(o.Cluster.Client(), 30*time.Second)
	r := &Relay{
		o:         o,
		services:  factory.Core().V1().Services().Lister(),
		pods:      factory.Core().V1().Pods().Lister(),
		log:       slog.New(slog.NewTextHandler(logFile, nil)).With("cluster", o.Cluster.Name),
		trigger:   trigger.New(),
		ip:        testenv.Need(tb, "ip")["ip"],
		listeners: map[string]*listener{},
		addrs:     map[string]string{},
		lbIPs:     map[string]string{},
	}
	// Pods matter only through the endpoints looked up at each connection, but a
	// resync on their changes keeps the relay simple to reason about.
	handler := r.trigger.Handler()
	factory.Core().V1().Services().Informer().AddEventHandler(handler)
	factory.Core().V1().Pods().Informer()

	ctx, cancel := context.WithCancel(context.Background())
	factory.Start(ctx.Done())
	factory.WaitForCacheSync(ctx.Done())
	var wg sync.WaitGroup
	wg.Go(func() { r.trigger.Run(ctx, r.log, r.reconcile) })
	tb.Cleanup(func() {
		cancel()
		wg.Wait()
		factory.Shutdown()
		r.closeAll()
		logFile.Close()
		if tb.Failed() {
			if b, err := os.ReadFile(logFile.Name()); err == nil {
				tb.Logf("services of %s:\n%s", o.Cluster.Name, b)
			}
		}
	})
	r.trigger.Poke()
	return r
}

// frontend is one address the relay should listen on.
type frontend struct {
	ip, dev  string // dev: where to add ip ("lo" unless a load-balancer address)
	port     int
	backends func() []string
	dial     dialFunc
}

// reconcile makes the listeners match the Services.
func (r *Relay) reconcile(ctx context.Context) error {
	svcs, err := r.services.List(labels.Everything())
	if err != nil {
		return err
	}
	r.releaseIPs(svcs)
	want := map[string]frontend{}
	for _, svc := range svcs {
		for _, f := range r.frontends(ctx, svc) {
			want[net.JoinHostPort(f.ip, strconv.Itoa(f.port))] = f
		}
	}

	r.mu.Lock()
	defer r.mu.Unlock()
	for addr, l := range r.listeners {
		if _, ok := want[addr]; !ok {
			l.close()
			delete(r.listeners, addr)
			r.log.Info("stopped", "addr", addr)
		}
	}
	var errs []error
	needIPs := map[string]string{r.o.NodeIP: ""}
	for addr, f := range want {
		needIPs[f.ip] = f.dev
		if _, ok := r.listeners[addr]; ok {
			continue
		}
		if err := r.ensureIP(f.ip, f.dev); err != nil {
			errs = append(errs, err)
			continue
		}
		ln, err := r.o.Netns.Listen("tcp", addr)
		if err != nil {
			errs = append(errs, fmt.Errorf("listen on %s: %w", addr, err))
			continue
		}
		r.listeners[addr] = newListener(ln, f.backends, f.dial, r.log.With("addr", addr))
		r.log.Info("serving", "addr", addr)
	}
	for ip, dev := range r.addrs {
		if _, ok := needIPs[ip]; !ok {
			r.removeIP(ip, dev)
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%d frontends failed, first: %w", len(errs), errs[0])
	}
	return nil
}

// frontends lists the addresses one Service is served on.
func (r *Relay) frontends(ctx context.Context, svc *corev1.Service) []frontend {
	ip := svc.Spec.ClusterIP
	if ip == "" || ip == corev1.ClusterIPNone || svc.Spec.Type == corev1.ServiceTypeExternalName {
		return nil
	}
	if svc.Namespace == "default" && svc.Name == "kubernetes" {
		return r.apiServer(svc)
	}
	lbIP := ""
	if svc.Spec.Type == corev1.ServiceTypeLoadBalancer {
		lbIP = r.loadBalancerIP(ctx, svc)
	}
	var out []frontend
	for _, port := range svc.Spec.Ports {
		if port.Protocol != "" && port.Protocol != corev1.ProtocolTCP {
			continue
		}
		backends := r.lookup(svc.Namespace, svc.Name, port.Name)
		f := frontend{ip: ip, dev: "lo", port: int(port.Port), backends: backends, dial: r.o.Netns.Dial}
		out = append(out, f)
		if port.NodePort != 0 {
			f.ip, f.port = r.o.NodeIP, int(port.NodePort)
			out = append(out, f)
		}
		if lbIP != "" {
			f.ip, f.dev, f.port = lbIP, r.o.LoadBalancerDevice, int(port.Port)
			out = append(out, f)
		}
	}
	return out
}

// lookup returns a function that finds the current endpoints of one service port.
func (r *Relay) lookup(namespace, name, portName string) func() []string {
	return func() []string {
		svc, err := r.services.Services(namespace).Get(name)
		if err != nil {
			return nil
		}
		pods, err := r.pods.Pods(namespace).List(labels.Everything())
		if err != nil {
			return nil
		}
		for _, port := range svc.Spec.Ports {
			if port.Name == portName {
				return Endpoints(svc, port, pods)
			}
		}
		return nil
	}
}

// apiServer serves the "kubernetes" Service: its port forwards to the API server, in the
// test's own namespace.
func (r *Relay) apiServer(svc *corev1.Service) []frontend {
	u, err := url.Parse(r.o.Cluster.URL)
	if err != nil {
		r.log.Warn("API server URL", "err", err)
		return nil
	}
	var d net.Dialer
	var out []frontend
	for _, port := range svc.Spec.Ports {
		out = append(out, frontend{
			ip: svc.Spec.ClusterIP, dev: "lo", port: int(port.Port),
			backends: func() []string { return []string{u.Host} },
			dial:     d.DialContext,
		})
	}
	return out
}

// ensureIP adds ip to dev inside the namespace, once. Called with r.mu held.
func (r *Relay) ensureIP(ip, dev string) error {
	if ip == r.o.NodeIP {
		return nil
	}
	if _, ok := r.addrs[ip]; ok {
		return nil
	}
	out, err := exec.Command(r.ip, "-n", r.o.Netns.Name, "addr", "add", ip+"/32", "dev", dev).CombinedOutput()
	if err != nil {
		return fmt.Errorf("add %s to %s in %s: %v: %s", ip, dev, r.o.Netns.Name, err, out)
	}
	r.addrs[ip] = dev
	return nil
}

// removeIP takes an address added by ensureIP away again. Called with r.mu held.
func (r *Relay) removeIP(ip, dev string) {
	exec.Command(r.ip, "-n", r.o.Netns.Name, "addr", "del", ip+"/32", "dev", dev).Run()
	delete(r.addrs, ip)
}

func (r *Relay) closeAll() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for addr, l := range r.listeners {
		l.close()
		delete(r.listeners, addr)
	}
	for ip, dev := range r.addrs {
		r.removeIP(ip, dev)
	}
}
