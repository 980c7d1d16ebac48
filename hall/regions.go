package hall

import (
	"fmt"
	"net/http"
	"sort"

	"github.com/gamehall/gamehall/internal/httpserver"
	"github.com/gamehall/gamehall/login"
)

// RegionSummary is one entry of GET /v1/regions.
type RegionSummary struct {
	Name        string `json:"name"`
	Game        string `json:"game"`
	DisplayName string `json:"displayName"`
	Players     int    `json:"players"`
	Capacity    int    `json:"capacity"`
	Rooms       int    `json:"rooms"`
	Version     uint64 `json:"version"`
	// Pages and PageSize describe the watch stream's pages (?page=1…Pages).
	Pages    int `json:"pages"`
	PageSize int `json:"pageSize"`
}

func (h *Server) handleRegions(w http.ResponseWriter, r *http.Request) {
	if !h.guard(w, r, true) {
		return
	}
	login.WriteJSON(w, http.StatusOK, map[string]any{"regions": h.Regions()})
}

// Regions lists the regions with their totals, by name.
func (h *Server) Regions() []RegionSummary {
	h.dir.mu.RLock()
	out := make([]RegionSummary, 0, len(h.dir.regions))
	for _, r := range h.dir.regions {
		out = append(out, RegionSummary{
			Name: r.info.Name, Game: r.info.Game, DisplayName: r.info.DisplayName,
			Players: r.players, Capacity: r.capacity, Rooms: r.rooms, Version: r.version,
			Pages: r.pages(h.dir.pageSize), PageSize: h.dir.pageSize,
		})
	}
	h.dir.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// RegionNames lists the regions the hall lists, by name.
func (h *Server) RegionNames() []string {
	h.dir.mu.RLock()
	out := make([]string, 0, len(h.dir.regions))
	for name := range h.dir.regions {
		out = append(out, name)
	}
	h.dir.mu.RUnlock()
	sort.Strings(out)
	return out
}

// RegionDatabase is where a listed region's players' data lives (see
// RegionInfo.Database); ok is false for a region the hall does not list.
func (h *Server) RegionDatabase(name string) (database string, ok bool) {
	h.dir.mu.RLock()
	defer h.dir.mu.RUnlock()
	r := h.dir.regions[name]
	if r == nil {
		return "", false
	}
	return r.info.Database, true
}

func (h *Server) region(w http.ResponseWriter, r *http.Request) *region {
	name := r.PathValue("name")
	h.dir.mu.RLock()
	reg := h.dir.regions[name]
	h.dir.mu.RUnlock()
	if reg == nil {
		login.WriteError(w, http.StatusNotFound, login.CodeNotFound, fmt.Sprintf("no region %q", name))
	}
	return reg
}

// handleRooms serves the region's snapshot; encoded (and gzipped) once per
// version, so many clients cost little more than one.
func (h *Server) handleRooms(w http.ResponseWriter, r *http.Request) {
	if !h.guard(w, r, true) {
		return
	}
	reg := h.region(w, r)
	if reg == nil {
		return
	}
	s := h.dir.snapshotOf(reg)
	h.m.snapshots.WithLabelValues("rooms").Inc()
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Vary", "Accept-Encoding")
	body := s.json
	if httpserver.AcceptsGzip(r) {
		w.Header().Set("Content-Encoding", "gzip")
		body = s.gz
	}
	w.Write(body)
}
