package local

import (
	"context"
	"errors"
	"net"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gamehall/gamehall/hall"
	"github.com/gamehall/gamehall/internal/httpserver"
	"github.com/gamehall/gamehall/profiles"
	"github.com/gamehall/gamehall/store"
)

// StartPeer starts another hall replica beside the local one, as a Hall with
// several replicas runs them: on its own port of the hall's host, with the
// same keys, presence store and shard list, advertised in presence so that
// a busy replica redirects new clients to it. It serves the web client and
// players' profiles too, but not login. It stops when ctx ends; the URL it serves at is returned.
func (l *Local) StartPeer(ctx context.Context, cfg hall.Config) (string, error) {
	if l.ln == nil {
		return "", errors.New("local: StartPeer before Start")
	}
	host, _, _ := net.SplitHostPort(l.ln.Addr().String())
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return "", err
	}
	url := "http://" + ln.Addr().String()
	cfg.AdvertiseURL = url
	hs, err := hall.New(cfg, hall.Deps{Keys: l.keys, Presence: l.store, Source: l.source, Dial: hall.DialShard,
		Log: l.log.WithName("hall-peer")})
	if err != nil {
		ln.Close()
		return "", err
	}
	ps, err := l.profilesOf(hs, nil)
	if err != nil {
		ln.Close()
		return "", err
	}
	mux := http.NewServeMux()
	hs.Register(mux)
	ps.Register(mux)
	srv := httpserver.New(mux)
	srv.BaseContext = func(net.Listener) context.Context { return ctx }
	go func() { _ = hs.Run(ctx) }()
	go func() { _ = srv.Serve(ln) }()
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	return url, nil
}

// profilesOf serves players' profiles and leaderboards beside the hall hs
// (nil reg: no metrics).
func (l *Local) profilesOf(hs *hall.Server, reg prometheus.Registerer) (*profiles.Server, error) {
	pool := l.dbs
	if pool == nil {
		pool = store.NewPool(store.Options{}) // never used: no region names a database
	}
	return profiles.New(profiles.Config{}, profiles.Deps{Keys: l.keys, Regions: hs.RegionNames, Log: l.log.WithName("profiles"), Metrics: reg,
		DB: profiles.HallDatabases(hs.RegionDatabase, func(dsn string) (string, error) { return dsn, nil }, pool)})
}
