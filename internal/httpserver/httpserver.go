// Package httpserver makes the platform's HTTP servers (the hall, local
// mode, the shards' WebSocket and internal ports) with every timeout set:
// a slow header, a slow body, a client that does not read its answer and an
// idle keep-alive each hold a connection for a bounded time. Handlers whose
// connection outlives a request — a WebSocket upgrade, a stream — clear the
// deadlines with LongLived.
package httpserver

import (
	"net/http"
	"strings"
	"time"
)

// The bounds of every request (the answers are small; the largest, a
// region's snapshot, is written well within WriteTimeout).
const (
	ReadHeaderTimeout = 10 * time.Second
	ReadTimeout       = 30 * time.Second // header and body
	WriteTimeout      = 30 * time.Second // from the end of the header to the end of the answer
	IdleTimeout       = 120 * time.Second
	MaxHeaderBytes    = 64 << 10
)

// New returns a server for h with the timeouts above.
func New(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: ReadHeaderTimeout,
		ReadTimeout:       ReadTimeout,
		WriteTimeout:      WriteTimeout,
		IdleTimeout:       IdleTimeout,
		MaxHeaderBytes:    MaxHeaderBytes,
	}
}

// LongLived clears the connection's read and write deadlines, for a handler
// whose connection outlives ReadTimeout or WriteTimeout: call it before a
// WebSocket upgrade (a hijacked connection keeps the deadlines the server
// set) or before a stream. The handler then bounds its own reads and
// writes. (Past the server's read deadline, net/http would also cancel the
// request's context.)
func LongLived(w http.ResponseWriter) error {
	rc := http.NewResponseController(w)
	if err := rc.SetReadDeadline(time.Time{}); err != nil {
		return err
	}
	return rc.SetWriteDeadline(time.Time{})
}

// AcceptsGzip tells whether r's Accept-Encoding takes gzip, for handlers
// that keep a gzipped copy of what they serve.
func AcceptsGzip(r *http.Request) bool {
	for _, v := range r.Header.Values("Accept-Encoding") {
		for part := range strings.SplitSeq(v, ",") {
			if enc, _, _ := strings.Cut(strings.TrimSpace(part), ";"); enc == "gzip" {
				return true
			}
		}
	}
	return false
}
