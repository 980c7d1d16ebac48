// Package web is the browser client, embedded in the binary: the lobby and
// the Dou Dizhu table at "/", the operator's live view at "/ops". The pages
// are plain ES modules and CSS with no build step and nothing fetched from
// elsewhere; they speak the hall's HTTP API and watch stream, and the
// shards' protocol as JSON over WebSocket (docs/design-notes.md, "The
// browser client").
package web

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"

	"github.com/gamehall/gamehall/internal/httpserver"
)

//go:embed static
var static embed.FS

// asset is one file, encoded once at start.
type asset struct {
	body, gz []byte
	etag     string
	ctype    string
}

var assets = load()

func load() map[string]*asset {
	out := map[string]*asset{}
	err := fs.WalkDir(static, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := static.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		a := &asset{body: b, etag: `"` + hex.EncodeToString(sum[:8]) + `"`, ctype: mime.TypeByExtension(path.Ext(p))}
		if a.ctype == "" {
			a.ctype = "application/octet-stream"
		}
		var gz bytes.Buffer
		w, _ := gzip.NewWriterLevel(&gz, gzip.BestCompression)
		w.Write(b)
		w.Close()
		if gz.Len() < len(b) {
			a.gz = gz.Bytes()
		}
		out[strings.TrimPrefix(p, "static")] = a
		return nil
	})
	if err != nil {
		panic("web: embedded assets: " + err.Error())
	}
	return out
}

// Register mounts the pages on mux: GET / (the lobby), GET /ops (the
// operator's view) and GET /static/… (their scripts and styles).
func Register(mux *http.ServeMux) {
	mux.Handle("GET /{$}", serve("/index.html"))
	mux.Handle("GET /ops", serve("/ops.html"))
	mux.HandleFunc("GET /static/", func(w http.ResponseWriter, r *http.Request) {
		serve(strings.TrimPrefix(r.URL.Path, "/static")).ServeHTTP(w, r)
	})
}

// contentSecurity lets the pages load only their own files and connect to
// the hall and to shards (other ports, so any ws: origin).
const contentSecurity = "default-src 'self'; connect-src 'self' ws: wss: http: https:; img-src 'self' data:; " +
	"style-src 'self'; script-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"

func serve(name string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a := assets[name]
		if a == nil {
			http.NotFound(w, r)
			return
		}
		h := w.Header()
		h.Set("Content-Type", a.ctype)
		h.Set("ETag", a.etag)
		// Revalidate every load: a new binary serves new files at once.
		h.Set("Cache-Control", "no-cache")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Content-Security-Policy", contentSecurity)
		h.Set("Vary", "Accept-Encoding")
		if match := r.Header.Get("If-None-Match"); match != "" && strings.Contains(match, a.etag) {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		body := a.body
		if a.gz != nil && httpserver.AcceptsGzip(r) {
			h.Set("Content-Encoding", "gzip")
			body = a.gz
		}
		w.Write(body)
	})
}
