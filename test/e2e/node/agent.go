package node

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	storagelisters "k8s.io/client-go/listers/storage/v1"
	"k8s.io/client-go/tools/cache"

	"github.com/ferrydvm/ferry/internal/testenv"
	"github.com/ferrydvm/ferry/test/e2e/cluster"
)

// Options configure the agent of one cluster. Zero values mean the defaults.
type Options struct {
	// Cluster is the API server to serve. Required.
	Cluster *cluster.Cluster
	// Netns is the cluster's network, where pod processes run. Required.
	Netns *testenv.Netns
	// NodeName names the Node. Default Cluster.Name + "-node".
	NodeName string
	// NodeIP is an address of Netns: the Node's InternalIP and the pods' hostIP.
	// Required.
	NodeIP string
	// PodCIDR is where pod addresses come from: each pod gets the next free one, added
	// as a /32 on lo inside Netns. Default 10.244.0.0/24.
	PodCIDR string
	// Images maps an image reference, exact or a prefix ending in "*", to the binary
	// that is the image's entrypoint.
	Images map[string]string
	// Dir holds logs, volumes and per-pod files. Default t.TempDir().
	Dir string
	// ServiceHost is the host:port given to pods as KUBERNETES_SERVICE_HOST and
	// KUBERNETES_SERVICE_PORT. Default 10.96.0.1:443, the "kubernetes" Service.
	ServiceHost string
}

// withDefaults returns o with its defaults applied, or an error naming a missing or
// malformed field.
func (o Options) withDefaults(tb testing.TB) (Options, error) {
	if o.Cluster == nil || o.Netns == nil {
		return o, fmt.Errorf("node: Options.Cluster and Options.Netns are required")
	}
	if _, err := netip.ParseAddr(o.NodeIP); err != nil {
		return o, fmt.Errorf("node: Options.NodeIP %q: want an IP address of the namespace", o.NodeIP)
	}
	if o.NodeName == "" {
		o.NodeName = o.Cluster.Name + "-node"
	}
	if o.PodCIDR == "" {
		o.PodCIDR = "10.244.0.0/24"
	}
	if o.ServiceHost == "" {
		o.ServiceHost = "10.96.0.1:443"
	}
	if o.Dir == "" {
		o.Dir = tb.TempDir()
	}
	return o, nil
}

// Agent plays the kubelet of one Node, the scheduler, and the controllers pods and
// claims need, against one cluster, until the test ends.
type Agent struct {
	o       Options
	tb      testing.TB
	client  kubernetes.Interface
	caPEM   []byte
	ip      string // the ip program
	podexec string // the launcher
	ipam    *ipam

	ctx    context.Context // ends when the agent stops
	cancel context.CancelFunc
	wg     sync.WaitGroup // every goroutine of the agent
	goMu   sync.Mutex     // orders wg.Go before wg.Wait

	factory    informers.SharedInformerFactory
	pods       corelisters.PodLister
	pvcs       corelisters.PersistentVolumeClaimLister
	pvs        corelisters.PersistentVolumeLister
	classes    storagelisters.StorageClassLister
	scheduler  *controller
	storage    *controller
	namespaces *controller

	mu       sync.Mutex
	workers  map[types.UID]*podWorker
	logs     map[string]string // namespace/pod/container -> log of its latest run
	stopping bool              // no new pod workers
}

// Start registers the Node and serves it until the test ends; then it kills every pod
// process, removes the pod addresses and deletes the Node.
func Start(tb testing.TB, o Options) *Agent {
	tb.Helper()
	testenv.Root(tb)
	o, err := o.withDefaults(tb)
	if err != nil {
		tb.Fatal(err)
	}
	caPEM, err := os.ReadFile(o.Cluster.CAFile)
	if err != nil {
		tb.Fatalf("node: read cluster CA: %v", err)
	}
	pool, err := newIPAM(o.PodCIDR)
	if err != nil {
		tb.Fatalf("node: %v", err)
	}
	podexec, err := buildPodexec()
	if err != nil {
		tb.Fatalf("node: %v", err)
	}
	for _, d := range []string{"logs", "pods", "volumes"} {
		if err := os.MkdirAll(filepath.Join(o.Dir, d), 0o755); err != nil {
			tb.Fatalf("node: %v", err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	a := &Agent{
		o: o, tb: tb, client: o.Cluster.Client(), caPEM: caPEM,
		ip: testenv.Need(tb, "ip")["ip"], podexec: podexec, ipam: pool,
		ctx: ctx, cancel: cancel,
		workers: map[types.UID]*podWorker{},
		logs:    map[string]string{},
	}
	tb.Cleanup(a.stop)

	began := time.Now()
	if err := a.registerNode(ctx); err != nil {
		tb.Fatal(err)
	}
	if err := a.ensureStorageClass(ctx); err != nil {
		tb.Fatal(err)
	}
	a.startInformers()
	if err := a.waitForCaches(); err != nil {
		tb.Fatal(err)
	}
	a.goRun(a.heartbeat)
	a.goRun(func(ctx context.Context) { a.scheduler.run(ctx, 2) })
	a.goRun(func(ctx context.Context) { a.storage.run(ctx, 2) })
	a.goRun(func(ctx context.Context) { a.namespaces.run(ctx, 1) })
	tb.Logf("node %s: ready in %v (pods from %s, files in %s)", o.NodeName, time.Since(began).Round(time.Millisecond), o.PodCIDR, o.Dir)
	return a
}

// goRun runs f on a goroutine that stop waits for; once stop waits, it runs nothing.
func (a *Agent) goRun(f func(ctx context.Context)) {
	a.goMu.Lock()
	defer a.goMu.Unlock()
	if a.ctx.Err() == nil {
		a.wg.Go(func() { f(a.ctx) })
	}
}

// startInformers watches what the agent acts on; event handlers only queue work.
func (a *Agent) startInformers() {
	a.factory = informers.NewSharedInformerFactory(a.client, 0)
	core := a.factory.Core().V1()
	a.pods = core.Pods().Lister()
	a.pvcs = core.PersistentVolumeClaims().Lister()
	a.pvs = core.PersistentVolumes().Lister()
	a.classes = a.factory.Storage().V1().StorageClasses().Lister()
	a.scheduler = newController("schedule", a.logf, a.schedule)
	a.storage = newController("storage", a.logf, a.syncStorage)
	a.namespaces = newController("namespace", a.logf, a.syncNamespace)

	core.Pods().Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { a.podChanged(obj) },
		UpdateFunc: func(_, obj any) { a.podChanged(obj) },
		DeleteFunc: a.podDeleted,
	})
	core.PersistentVolumeClaims().Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    a.claimChanged,
		UpdateFunc: func(_, obj any) { a.claimChanged(obj) },
		DeleteFunc: a.claimChanged,
	})
	core.PersistentVolumes().Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    a.volumeChanged,
		UpdateFunc: func(_, obj any) { a.volumeChanged(obj) },
		DeleteFunc: a.volumeChanged,
	})
	a.factory.Storage().V1().StorageClasses().Informer()
	core.Namespaces().Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    a.namespaceChanged,
		UpdateFunc: func(_, obj any) { a.namespaceChanged(obj) },
	})
	// Pods waiting for a Secret or ConfigMap try again as soon as one changes.
	for _, inf := range []cache.SharedIndexInformer{core.Secrets().Informer(), core.ConfigMaps().Informer()} {
		inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
			AddFunc:    a.kickNamespaceOf,
			UpdateFunc: func(_, obj any) { a.kickNamespaceOf(obj) },
			DeleteFunc: a.kickNamespaceOf,
		})
	}
	a.factory.Start(a.ctx.Done())
}

func (a *Agent) waitForCaches() error {
	ctx, cancel := context.WithTimeout(a.ctx, 30*time.Second)
	defer cancel()
	for typ, ok := range a.factory.WaitForCacheSync(ctx.Done()) {
		if !ok {
			return fmt.Errorf("node: fill the cache of %v: %w", typ, ctx.Err())
		}
	}
	return nil
}

// stop kills every pod process (their grace periods capped at stopGrace), removes the
// pod addresses and the Node, and waits for the agent's goroutines.
func (a *Agent) stop() {
	a.mu.Lock()
	a.stopping = true
	workers := make([]*podWorker, 0, len(a.workers))
	for _, w := range a.workers {
		workers = append(workers, w)
	}
	a.mu.Unlock()
	for _, w := range workers {
		w.kill(stopGrace, false)
	}
	for _, w := range workers {
		<-w.done
	}
	a.goMu.Lock()
	a.cancel()
	a.goMu.Unlock()
	if a.factory != nil {
		a.factory.Shutdown()
	}
	a.wg.Wait()
	a.deleteNode()
}

// stopGrace caps the grace period of the pods still running when the test ends.
const stopGrace = 3 * time.Second

// logf logs through the test; callers keep it to a line per pod start and exit.
func (a *Agent) logf(format string, args ...any) { a.tb.Logf(format, args...) }

// NodeName returns the name of the agent's Node.
func (a *Agent) NodeName() string { return a.o.NodeName }

// Dir returns the folder of the agent's files.
func (a *Agent) Dir() string { return a.o.Dir }

// LogPath returns the log of the latest run of a container, or "" when it never ran.
// Logs are kept after the pod is deleted.
func (a *Agent) LogPath(namespace, pod, container string) string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.logs[namespace+"/"+pod+"/"+container]
}

func (a *Agent) setLogPath(namespace, pod, container, path string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.logs[namespace+"/"+pod+"/"+container] = path
}

// Logs returns the output (stdout and stderr) of the latest run of a container.
func (a *Agent) Logs(namespace, pod, container string) (string, error) {
	path := a.LogPath(namespace, pod, container)
	if path == "" {
		return "", fmt.Errorf("logs of %s/%s container %s: it has not run on node %s", namespace, pod, container, a.o.NodeName)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("logs of %s/%s container %s: %w", namespace, pod, container, err)
	}
	return string(data), nil
}

// VolumePath returns the host folder that backs a bound PersistentVolumeClaim.
func (a *Agent) VolumePath(namespace, claim string) (string, error) {
	ctx, cancel := context.WithTimeout(a.ctx, 10*time.Second)
	defer cancel()
	path, err := a.claimPath(ctx, namespace, claim)
	if err != nil {
		return "", fmt.Errorf("volume path of claim %s/%s: %w", namespace, claim, err)
	}
	return path, nil
}
