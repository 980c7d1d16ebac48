package web

import (
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// The pages are served from the binary: gzipped once, revalidated by ETag,
// locked to their own origin's files.
func TestServe(t *testing.T) {
	mux := http.NewServeMux()
	Register(mux)
	get := func(path string, hdr map[string]string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(http.MethodGet, path, nil)
		for k, v := range hdr {
			r.Header.Set(k, v)
		}
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, r)
		return w
	}
	for path, want := range map[string]string{"/": `src="/static/js/app.js"`, "/ops": `src="/static/js/ops.js"`, "/static/js/cards.js": "export function readings"} {
		w := get(path, map[string]string{"Accept-Encoding": "gzip"})
		if w.Code != http.StatusOK || w.Header().Get("Content-Encoding") != "gzip" {
			t.Fatalf("%s: %d, encoding %q", path, w.Code, w.Header().Get("Content-Encoding"))
		}
		zr, err := gzip.NewReader(w.Body)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(zr)
		if !strings.Contains(string(b), want) {
			t.Errorf("%s lacks %q", path, want)
		}
		if csp := w.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") {
			t.Errorf("%s: CSP %q", path, csp)
		}
		if again := get(path, map[string]string{"If-None-Match": w.Header().Get("ETag")}); again.Code != http.StatusNotModified {
			t.Errorf("%s with its ETag: %d, want 304", path, again.Code)
		}
	}
	if w := get("/static/js/nope.js", nil); w.Code != http.StatusNotFound {
		t.Errorf("unknown asset: %d", w.Code)
	}
	if w := get("/static/css/app.css", nil); w.Header().Get("Content-Type") != "text/css; charset=utf-8" || w.Header().Get("Content-Encoding") != "" {
		t.Errorf("css without gzip: %q %q", w.Header().Get("Content-Type"), w.Header().Get("Content-Encoding"))
	}
}
