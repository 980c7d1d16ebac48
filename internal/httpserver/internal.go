package httpserver

import (
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// InternalMux serves what only operators and Prometheus reach — /metrics
// of reg and Go's profiles under /debug/pprof/ — on a port apart from the
// players' (the hall's --internal-listen): a profile costs CPU and metrics
// describe the service to whoever reads them.
func InternalMux(reg prometheus.Gatherer) *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}

// NewInternal is New for InternalMux, with the write timeout long enough
// for a CPU profile or trace (?seconds=30 by default).
func NewInternal(reg prometheus.Gatherer) *http.Server {
	s := New(InternalMux(reg))
	s.WriteTimeout = 2 * time.Minute
	return s
}
