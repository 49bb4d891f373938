package testenv

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"
)

// NginxOptions configures Nginx as a TLS front (an L7 load balancer) for an HTTPS upstream.
type NginxOptions struct {
	Netns    *Netns // where nginx runs; nil: the test's namespace
	Addr     string // "ip" or "ip:port"; default 127.0.0.1, free port
	Upstream string // https://host:port to forward to
	CertFile string // the front's TLS certificate and key (PEM)
	KeyFile  string
	// PassUpgrade forwards the Upgrade and Connection headers (WebSocket, SPDY); without it
	// nginx drops them, as many L7 fronts do.
	PassUpgrade bool
	// Locations are nginx location blocks placed before the one that forwards everything,
	// for paths the front answers itself (`location ~ /exec$ { return 403; }`).
	Locations string
}

// Nginx runs nginx in the foreground as a TLS-terminating reverse proxy and returns its
// address.
func Nginx(t testing.TB, o NginxOptions) string {
	t.Helper()
	bin := need1(t, "nginx")
	host, port := listenAddr(t, o.Netns, o.Addr)
	addr := net.JoinHostPort(host, port)
	dir := peerDir(t, "nginx")
	upgrade := ""
	if o.PassUpgrade {
		upgrade = "proxy_set_header Upgrade $http_upgrade; proxy_set_header Connection \"upgrade\";"
	}
	conf := fmt.Sprintf(`daemon off;
worker_processes 1;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log info;
events { worker_connections 256; }
http {
  access_log %[1]s/access.log;
  client_body_temp_path %[1]s/body;
  proxy_temp_path %[1]s/proxy;
  fastcgi_temp_path %[1]s/fastcgi;
  uwsgi_temp_path %[1]s/uwsgi;
  scgi_temp_path %[1]s/scgi;
  server {
    listen %[2]s ssl;
    ssl_certificate %[3]s;
    ssl_certificate_key %[4]s;
    %[7]s
    location / {
      proxy_pass %[5]s;
      proxy_http_version 1.1;
      proxy_ssl_verify off;
      proxy_read_timeout 60s;
      %[6]s
    }
  }
}
`, dir, addr, o.CertFile, o.KeyFile, o.Upstream, upgrade, o.Locations)
	writeFile(t, dir+"/nginx.conf", conf)
	p := startPeer(t, "nginx", dir, o.Netns.Command(context.Background(), bin, "-c", dir+"/nginx.conf", "-p", dir), dir+"/error.log")
	p.waitListening(t, o.Netns, addr, 30*time.Second)
	return addr
}
