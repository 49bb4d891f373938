package controller

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
)

// ferry's own metrics, served with controller-runtime's on the metrics address.
var (
	migrations = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "ferry_migrations_total",
		Help: "DirectVolumeMigrations that reached a phase (Running, Succeeded, Failed) in this process.",
	}, []string{"phase"})
	running = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "ferry_migrations_running",
		Help: "DirectVolumeMigrations whose copy runs in this process now.",
	})
	bytesCopied = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "ferry_copied_bytes_total",
		Help: "Bytes of files copied and verified by the migrations of this process.",
	})
	bytesSent = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "ferry_sent_bytes_total",
		Help: "File data that travelled for the migrations of this process (changed files send only changed blocks).",
	})
)

var registerOnce sync.Once

// registerMetrics adds ferry's metrics to controller-runtime's registry (a global), once.
func registerMetrics() {
	registerOnce.Do(func() { metrics.Registry.MustRegister(migrations, running, bytesCopied, bytesSent) })
}
