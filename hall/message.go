package hall

// WatchMessage decodes any message of the watch stream (see handleWatch)
// and the rooms document of GET /v1/regions/{name}/rooms.
type WatchMessage struct {
	Type    string `json:"type"` // snapshot, resume, delta
	Region  string `json:"region"`
	Epoch   string `json:"epoch,omitempty"`
	Since   uint64 `json:"since,omitempty"` // delta: the version it applies to
	Version uint64 `json:"version"`
	// Page is the page watched (0: the whole region); Pages how many pages
	// of PageSize room numbers the region spans.
	Page     int `json:"page"`
	PageSize int `json:"pageSize"`
	Pages    int `json:"pages"`
	// RoomCount, Players and Capacity are the region's totals.
	RoomCount int `json:"roomCount"`
	Players   int `json:"players"`
	Capacity  int `json:"capacity"`
	// Rooms: every room of the page (snapshot); in a delta, rooms that are
	// new or changed more than their player count.
	Rooms []Room `json:"rooms,omitempty"`
	// Counts: in a delta, [room, players] of rooms whose count alone changed.
	Counts [][2]int `json:"counts,omitempty"`
	// Removed: in a delta, rooms no longer offered.
	Removed []int `json:"removed,omitempty"`
}

// Apply folds a snapshot or delta into view (room number → Room). It
// reports false for a delta that does not apply to version (the client
// then needs a new snapshot, or to resume from the version it has).
func (m *WatchMessage) Apply(view map[int]Room, version uint64) bool {
	switch m.Type {
	case "snapshot":
		clear(view)
		for _, r := range m.Rooms {
			view[r.Room] = r
		}
	case "delta":
		if m.Since != version {
			return false
		}
		for _, r := range m.Rooms {
			view[r.Room] = r
		}
		for _, c := range m.Counts {
			if r, ok := view[c[0]]; ok {
				r.Players = c[1]
				view[c[0]] = r
			}
		}
		for _, n := range m.Removed {
			delete(view, n)
		}
	}
	return true
}
