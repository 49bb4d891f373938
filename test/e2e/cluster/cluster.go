package cluster

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// Options configure one cluster. Zero values mean the defaults.
type Options struct {
	// Name names the cluster in logs and is the kubeconfig's cluster and context name
	// ("source", "target"); letters, digits, '-' and '_'. Default "cluster".
	Name string
	// BindAddress is the IP address kube-apiserver listens on and advertises: a specific
	// IPv4 address (not 0.0.0.0; the service range is IPv4, and kube-apiserver wants the
	// two families to match). Default 127.0.0.1.
	//
	// TODO: run etcd and kube-apiserver inside a network namespace (ip netns exec) so a
	// cluster can live at an address of a namespace the test created; etcd then has to
	// move into the namespace too, and free ports must be picked there.
	BindAddress string
	// StartTimeout bounds the wait for etcd and then kube-apiserver to be ready, per
	// attempt. Default 60s.
	StartTimeout time.Duration
}

// withDefaults returns o with every zero field set to its default.
func (o Options) withDefaults() Options {
	if o.Name == "" {
		o.Name = "cluster"
	}
	if o.BindAddress == "" {
		o.BindAddress = "127.0.0.1"
	}
	if o.StartTimeout == 0 {
		o.StartTimeout = 60 * time.Second
	}
	return o
}

// Cluster is a running etcd and kube-apiserver, stopped when the test ends.
type Cluster struct {
	// Name is Options.Name.
	Name string
	// Kubeconfig is the path of an admin kubeconfig with one cluster, user and context.
	Kubeconfig string
	// Context is the kubeconfig context to use (equal to Name).
	Context string
	// URL is the API server's address, https://IP:PORT.
	URL string
	// Token is the bearer token of an admin in group system:masters.
	Token string
	// CAFile is the path of the CA certificate that signed the API server's serving
	// certificate.
	CAFile string
	// Dir is the folder of the cluster's files (etcd data, certificates, logs).
	Dir string

	caPEM     []byte
	client    kubernetes.Interface
	etcd      *process
	apiserver *process
}

// RESTConfig returns a fresh admin client configuration for the cluster.
func (c *Cluster) RESTConfig() *rest.Config {
	return &rest.Config{
		Host:            c.URL,
		BearerToken:     c.Token,
		TLSClientConfig: rest.TLSClientConfig{CAData: append([]byte(nil), c.caPEM...)},
		QPS:             100,
		Burst:           200,
		Timeout:         30 * time.Second,
	}
}

// Client returns an admin clientset for the cluster.
func (c *Cluster) Client() kubernetes.Interface { return c.client }

// Start starts a cluster and stops it when the test ends. It fails the test if the
// cluster does not come up, and skips it (fails it under CI) if the binaries are not
// built. Use StartAll to start several clusters at once.
func Start(tb testing.TB, opts Options) *Cluster {
	tb.Helper()
	return StartAll(tb, opts)[0]
}

// StartAll starts one cluster per Options concurrently, like Start.
func StartAll(tb testing.TB, opts ...Options) []*Cluster {
	tb.Helper()
	bins := FindBinaries(tb)
	clusters := make([]*Cluster, len(opts))
	errs := make([]error, len(opts))
	var wg sync.WaitGroup
	for i, o := range opts {
		wg.Go(func() {
			clusters[i], errs[i] = start(tb, bins, o.withDefaults())
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		tb.Fatal(err)
	}
	return clusters
}

// start brings up one cluster. Every process it starts is registered for cleanup as
// soon as it runs, so a failure part-way leaves nothing behind. It calls no FailNow
// method: StartAll runs it on several goroutines.
func start(tb testing.TB, bins Binaries, o Options) (*Cluster, error) {
	if !validName(o.Name) {
		return nil, fmt.Errorf("start cluster %q: want a name of letters, digits, '-' and '_'", o.Name)
	}
	bind, err := netip.ParseAddr(o.BindAddress)
	if err != nil || !bind.Is4() || bind.IsUnspecified() {
		return nil, fmt.Errorf("start cluster %s: bind address %q: want a specific IPv4 address", o.Name, o.BindAddress)
	}
	c := &Cluster{Name: o.Name, Context: o.Name, Dir: tb.TempDir()}
	began := time.Now()

	if err := c.writeCredentials(); err != nil {
		return nil, fmt.Errorf("start cluster %s: %w", o.Name, err)
	}

	// A free port found by listening and closing can be taken by someone else before
	// the server binds it; a server that exits at startup is retried on new ports.
	const attempts = 3
	for attempt := 1; ; attempt++ {
		err = c.startProcesses(tb, bins, o, bind, attempt)
		if err == nil {
			break
		}
		if attempt == attempts || !errors.Is(err, errExitedEarly) {
			return nil, fmt.Errorf("start cluster %s: %w", o.Name, err)
		}
		tb.Logf("cluster %s: attempt %d failed, retrying on new ports: %v", o.Name, attempt, err)
	}

	if err := c.finish(o); err != nil {
		return nil, fmt.Errorf("start cluster %s: %w", o.Name, err)
	}
	tb.Logf("cluster %s: ready at %s in %v (kubeconfig %s)", o.Name, c.URL, time.Since(began).Round(time.Millisecond), c.Kubeconfig)
	return c, nil
}

// writeCredentials writes the admin token file and the service-account signing key.
func (c *Cluster) writeCredentials() error {
	raw := make([]byte, 24)
	if _, err := rand.Read(raw); err != nil {
		return fmt.Errorf("generate admin token: %w", err)
	}
	c.Token = hex.EncodeToString(raw)
	tokens := fmt.Sprintf("%s,admin,admin,\"system:masters\"\n", c.Token)
	if err := os.WriteFile(filepath.Join(c.Dir, "tokens.csv"), []byte(tokens), 0o600); err != nil {
		return fmt.Errorf("write token file: %w", err)
	}

	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return fmt.Errorf("generate service-account key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return fmt.Errorf("encode service-account key: %w", err)
	}
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	if err := os.WriteFile(filepath.Join(c.Dir, "sa.key"), keyPEM, 0o600); err != nil {
		return fmt.Errorf("write service-account key: %w", err)
	}
	return nil
}

// startProcesses starts etcd and kube-apiserver on fresh ports and waits until the API
// server is ready. The processes of a failed attempt are stopped before it returns.
func (c *Cluster) startProcesses(tb testing.TB, bins Binaries, o Options, bind netip.Addr, attempt int) (err error) {
	loopback := netip.MustParseAddr("127.0.0.1")
	ports, err := freePorts(loopback, 2)
	if err != nil {
		return err
	}
	apiPort, err := freePorts(bind, 1)
	if err != nil {
		return err
	}
	etcdClient := "http://" + netip.AddrPortFrom(loopback, uint16(ports[0])).String()
	etcdPeer := "http://" + netip.AddrPortFrom(loopback, uint16(ports[1])).String()
	c.URL = "https://" + netip.AddrPortFrom(bind, uint16(apiPort[0])).String()

	// Each attempt gets fresh data and certificate folders.
	dataDir := filepath.Join(c.Dir, "etcd-data")
	certDir := filepath.Join(c.Dir, "certs")
	for _, d := range []string{dataDir, certDir} {
		if err := os.RemoveAll(d); err != nil {
			return fmt.Errorf("clean %s: %w", d, err)
		}
	}
	if err := os.Mkdir(dataDir, 0o700); err != nil {
		return fmt.Errorf("create etcd data folder: %w", err)
	}

	// One log per attempt: etcd.log, then etcd.2.log...
	logName := func(prog string) string {
		if attempt > 1 {
			return filepath.Join(c.Dir, fmt.Sprintf("%s.%d.log", prog, attempt))
		}
		return filepath.Join(c.Dir, prog+".log")
	}

	c.etcd, err = startProcess(tb, o.Name+"/etcd", logName("etcd"), bins.Etcd,
		"--name="+o.Name,
		"--data-dir="+dataDir,
		"--listen-client-urls="+etcdClient,
		"--advertise-client-urls="+etcdClient,
		"--listen-peer-urls="+etcdPeer,
		"--initial-advertise-peer-urls="+etcdPeer,
		"--initial-cluster="+o.Name+"="+etcdPeer,
		"--unsafe-no-fsync", // throw-away data: fsync only slows tests down
		"--log-level=warn",
	)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			c.etcd.discard()
		}
	}()

	ctx, cancel := context.WithTimeout(context.Background(), o.StartTimeout)
	defer cancel()
	if err := waitEtcd(ctx, c.etcd, etcdClient); err != nil {
		return err
	}

	c.apiserver, err = startProcess(tb, o.Name+"/kube-apiserver", logName("kube-apiserver"), bins.KubeAPIServer,
		"--etcd-servers="+etcdClient,
		"--bind-address="+bind.String(),
		// Without it the server advertises the host's default address, and fails to
		// start where there is no default route (inside a network namespace).
		"--advertise-address="+bind.String(),
		"--secure-port="+strconv.Itoa(apiPort[0]),
		"--cert-dir="+certDir,
		"--token-auth-file="+filepath.Join(c.Dir, "tokens.csv"),
		"--authorization-mode=RBAC",
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file="+filepath.Join(c.Dir, "sa.key"),
		"--service-account-signing-key-file="+filepath.Join(c.Dir, "sa.key"),
		"--service-cluster-ip-range=10.96.0.0/16",
		// Endpoints may not hold a loopback address; nothing routes to the
		// "kubernetes" Service here anyway.
		"--endpoint-reconciler-type=none",
		"--allow-privileged=true",
		"--profiling=false",
	)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			c.apiserver.discard()
		}
	}()

	if err := c.waitReady(ctx, filepath.Join(certDir, "apiserver.crt")); err != nil {
		return err
	}
	return nil
}

// errExitedEarly marks a server that stopped while the cluster was starting.
var errExitedEarly = errors.New("exited during startup")

// waitEtcd waits until etcd answers its health endpoint.
func waitEtcd(ctx context.Context, p *process, clientURL string) error {
	client := &http.Client{Timeout: 2 * time.Second}
	var last string
	for {
		if err := p.exited(); err != nil {
			return fmt.Errorf("wait for etcd: %w: %w\n%s", errExitedEarly, err, p.tail(30))
		}
		resp, err := client.Get(clientURL + "/health")
		if err == nil {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK && strings.Contains(string(body), `"health":"true"`) {
				return nil
			}
			last = fmt.Sprintf("%s: %s", resp.Status, body)
		} else {
			last = err.Error()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for etcd at %s: %w (last answer: %s)\n%s", clientURL, ctx.Err(), last, p.tail(30))
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// waitReady waits for kube-apiserver to write its self-signed serving certificate and
// to answer /readyz with "ok", verifying TLS against that certificate's CA.
func (c *Cluster) waitReady(ctx context.Context, certFile string) error {
	p := c.apiserver
	var client *http.Client
	var last string
	for {
		if err := p.exited(); err != nil {
			return fmt.Errorf("wait for kube-apiserver: %w: %w\n%s", errExitedEarly, err, p.tail(30))
		}
		if client == nil {
			if caPEM, err := readCA(certFile); err == nil {
				pool := x509.NewCertPool()
				pool.AppendCertsFromPEM(caPEM)
				client = &http.Client{
					Timeout: 5 * time.Second,
					Transport: &http.Transport{
						TLSClientConfig:   &tls.Config{RootCAs: pool},
						DisableKeepAlives: true,
					},
				}
				c.caPEM = caPEM
			} else {
				last = err.Error()
			}
		}
		if client != nil {
			last = probeReady(ctx, client, c.URL, c.Token)
			if last == "" {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			if client != nil {
				// The verbose form names the checks that fail.
				last = probeReady(context.Background(), client, c.URL+"/readyz?verbose", c.Token)
			}
			return fmt.Errorf("wait for kube-apiserver at %s/readyz: %w (last answer: %s)\n%s", c.URL, ctx.Err(), last, p.tail(30))
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// probeReady asks url (or url/readyz) once; it returns "" when the answer is "ok",
// else a description of the answer.
func probeReady(ctx context.Context, client *http.Client, url, token string) string {
	if !strings.Contains(url, "/readyz") {
		url += "/readyz"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err.Error()
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := client.Do(req)
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 16<<10))
	if resp.StatusCode == http.StatusOK && strings.TrimSpace(string(body)) == "ok" {
		return ""
	}
	return fmt.Sprintf("%s: %s", resp.Status, strings.TrimSpace(string(body)))
}

// readCA returns the CA certificates of the serving-certificate file kube-apiserver
// writes into --cert-dir (the serving certificate followed by the CA that signed it).
func readCA(certFile string) ([]byte, error) {
	data, err := os.ReadFile(certFile)
	if err != nil {
		return nil, fmt.Errorf("read serving certificate: %w", err)
	}
	var cas, all []byte
	for rest := data; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("parse serving certificate %s: %w", certFile, err)
		}
		enc := pem.EncodeToMemory(block)
		all = append(all, enc...)
		if cert.IsCA {
			cas = append(cas, enc...)
		}
	}
	if len(all) == 0 {
		// Written but not yet complete, or not written yet.
		return nil, fmt.Errorf("read serving certificate: no certificate in %s yet", certFile)
	}
	if len(cas) == 0 {
		return all, nil
	}
	return cas, nil
}

// finish writes the CA file and the kubeconfig, builds the client and creates the
// default ServiceAccount that pods need (no controller-manager runs to create it).
func (c *Cluster) finish(o Options) error {
	c.CAFile = filepath.Join(c.Dir, "ca.crt")
	if err := os.WriteFile(c.CAFile, c.caPEM, 0o644); err != nil {
		return fmt.Errorf("write CA file: %w", err)
	}

	user := o.Name + "-admin"
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters[o.Name] = &clientcmdapi.Cluster{Server: c.URL, CertificateAuthorityData: c.caPEM}
	cfg.AuthInfos[user] = &clientcmdapi.AuthInfo{Token: c.Token}
	cfg.Contexts[c.Context] = &clientcmdapi.Context{Cluster: o.Name, AuthInfo: user, Namespace: "default"}
	cfg.CurrentContext = c.Context
	c.Kubeconfig = filepath.Join(c.Dir, "kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, c.Kubeconfig); err != nil {
		return fmt.Errorf("write kubeconfig: %w", err)
	}

	client, err := kubernetes.NewForConfig(c.RESTConfig())
	if err != nil {
		return fmt.Errorf("build client: %w", err)
	}
	c.client = client

	// The "default" namespace is created by a post-start hook that /readyz does not
	// wait for: retry until it exists.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default"}}
	for {
		_, err := client.CoreV1().ServiceAccounts("default").Create(ctx, sa, metav1.CreateOptions{})
		if err == nil || apierrors.IsAlreadyExists(err) {
			return nil
		}
		if !apierrors.IsNotFound(err) {
			return fmt.Errorf("create default service account: %w", err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("create default service account: %w (last error: %w)", ctx.Err(), err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// validName reports whether name is usable as an etcd member name and in file names.
func validName(name string) bool {
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return name != ""
}

// freePorts returns n distinct TCP ports that are free on addr right now.
func freePorts(addr netip.Addr, n int) ([]int, error) {
	var ports []int
	var listeners []net.Listener
	defer func() {
		for _, l := range listeners {
			l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", netip.AddrPortFrom(addr, 0).String())
		if err != nil {
			return nil, fmt.Errorf("find a free port on %s: %w", addr, err)
		}
		listeners = append(listeners, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}
