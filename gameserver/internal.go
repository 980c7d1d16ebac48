package gameserver

import (
	"encoding/json"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/gamehall/gamehall/ticket"
)

type metrics struct {
	reg               *prometheus.Registry
	connections       prometheus.Gauge
	framesIn          prometheus.Counter
	framesOut         prometheus.Counter
	writes            prometheus.Counter
	errors            *prometheus.CounterVec
	delivery          prometheus.Histogram
	slowClients       prometheus.Counter
	gamesStarted      prometheus.Counter
	autoMoves         prometheus.Counter
	escapes           prometheus.Counter
	reconnects        prometheus.Counter
	evictions         prometheus.Counter
	heartbeatFailures prometheus.Counter
	cutOff            prometheus.Counter
	preAuthClosed     *prometheus.CounterVec // by preAuthTimeout / preAuthMalformed
	settleMetrics
}

// newMetrics registers on a registry of this shard's own, so several shards
// can run in one process (gamehall local), each on its internal port.
// Reasons of gamehall_preauth_closed_total.
const (
	preAuthTimeout   = "hello_timeout"
	preAuthMalformed = "malformed"
)

func newMetrics(s *Server) *metrics {
	reg := prometheus.NewRegistry()
	m := &metrics{
		reg:               reg,
		connections:       prometheus.NewGauge(prometheus.GaugeOpts{Name: "gamehall_connections", Help: "Open player connections."}),
		framesIn:          prometheus.NewCounter(prometheus.CounterOpts{Name: "gamehall_frames_in_total", Help: "Frames received from players."}),
		framesOut:         prometheus.NewCounter(prometheus.CounterOpts{Name: "gamehall_frames_out_total", Help: "Frames written to players."}),
		writes:            prometheus.NewCounter(prometheus.CounterOpts{Name: "gamehall_socket_writes_total", Help: "Writes to players' sockets (one system call on TCP, carrying one or more frames)."}),
		errors:            prometheus.NewCounterVec(prometheus.CounterOpts{Name: "gamehall_errors_total", Help: "Error answers sent, by protocol error code."}, []string{"code"}),
		delivery:          prometheus.NewHistogram(prometheus.HistogramOpts{Name: "gamehall_delivery_seconds", Help: "From making a game event or room chat (the oldest of a room's batch) to writing it to the player's socket.", Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1}}),
		slowClients:       prometheus.NewCounter(prometheus.CounterOpts{Name: "gamehall_slow_clients_total", Help: "Connections closed because their write queue filled."}),
		gamesStarted:      prometheus.NewCounter(prometheus.CounterOpts{Name: "gamehall_games_started_total", Help: "Games started."}),
		autoMoves:         prometheus.NewCounter(prometheus.CounterOpts{Name: "gamehall_auto_moves_total", Help: "Moves the server made for a player (turn timer or reconnect grace)."}),
		escapes:           prometheus.NewCounter(prometheus.CounterOpts{Name: "gamehall_escapes_total", Help: "Games ended because a player left or did not come back."}),
		reconnects:        prometheus.NewCounter(prometheus.CounterOpts{Name: "gamehall_reconnects_total", Help: "Players who resumed their seat on a new connection."}),
		evictions:         prometheus.NewCounter(prometheus.CounterOpts{Name: "gamehall_evictions_total", Help: "Sessions disconnected because presence says a newer login or a logout ended them."}),
		heartbeatFailures: prometheus.NewCounter(prometheus.CounterOpts{Name: "gamehall_presence_heartbeat_failures_total", Help: "Presence heartbeats that failed (presence unreachable); players stay."}),
		cutOff:            prometheus.NewCounter(prometheus.CounterOpts{Name: "gamehall_players_cut_off_total", Help: "Players in rooms when the shard closed (drain deadline passed, or stopped at once)."}),
		preAuthClosed: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "gamehall_preauth_closed_total",
			Help: "Sockets closed before a Hello: no Hello within the hello timeout of accept, or a malformed frame first."}, []string{"reason"}),
	}
	m.settleMetrics = newSettleMetrics()
	reg.MustRegister(m.settleMetrics.collectors()...)
	reg.MustRegister(m.connections, m.framesIn, m.framesOut, m.writes, m.errors, m.delivery, m.slowClients,
		m.gamesStarted, m.autoMoves, m.escapes, m.reconnects, m.evictions, m.heartbeatFailures, m.cutOff, m.preAuthClosed,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "gamehall_players", Help: "Players in rooms (including seats held for reconnect)."},
			func() float64 { return float64(s.inRooms.Load()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "gamehall_rooms_occupied", Help: "Rooms with at least one player."},
			func() float64 { return float64(s.occupiedRooms()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "gamehall_tables_playing", Help: "Tables with a game running."},
			func() float64 { return float64(s.tablesPlaying()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "gamehall_draining", Help: "1 while the shard drains."},
			func() float64 {
				if s.draining.Load() {
					return 1
				}
				return 0
			}),
	)
	return m
}

func (s *Server) occupiedRooms() int {
	s.occ.mu.Lock()
	defer s.occ.mu.Unlock()
	n := 0
	for _, p := range s.occ.players {
		if p > 0 {
			n++
		}
	}
	return n
}

func (s *Server) tablesPlaying() int {
	n := 0
	for _, r := range s.rooms {
		r.mu.Lock()
		n += r.playing
		r.mu.Unlock()
	}
	return n
}

// internalHandler serves the internal port: probes, metrics, the occupancy
// stream and the drain call.
func (s *Server) internalHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if s.draining.Load() {
			http.Error(w, "draining", http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("ok\n"))
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.metrics.reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /v1/occupancy", s.serveOccupancy)
	mux.HandleFunc("POST /v1/drain", func(w http.ResponseWriter, r *http.Request) {
		if !s.authService(w, r, ticket.AudShardDrain) {
			return
		}
		s.Drain()
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"draining": true, "players": s.inRooms.Load()})
	})
	mux.HandleFunc("GET /v1/stats", func(w http.ResponseWriter, r *http.Request) {
		if !s.authService(w, r, ticket.AudShardRead) {
			return
		}
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Query().Get("players") == "" {
			json.NewEncoder(w).Encode(s.Stats())
			return
		}
		json.NewEncoder(w).Encode(struct {
			Stats
			PlayerList []PlayerStat
		}{s.Stats(), s.PlayerStats()})
	})
	return mux
}
