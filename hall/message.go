package hall

// WatchMessage decodes any message of the watch stream (see handleWatch)
// and the rooms document of GET /v1/regions/{name}/rooms.
type WatchMessage struct {
	Type     string `json:"type"` // snapshot, resume, delta
	Region   string `json:"region"`
	Epoch    string `json:"epoch,omitempty"`
	Version  uint64 `json:"version"`
	Players  int    `json:"players"`
	Capacity int    `json:"capacity"`
	// Rooms: every room (snapshot); in a delta, rooms that are new or
	// changed more than their player count.
	Rooms []Room `json:"rooms,omitempty"`
	// Counts: in a delta, [room, players] of rooms whose count alone changed.
	Counts [][2]int `json:"counts,omitempty"`
	// Removed: in a delta, rooms no longer offered.
	Removed []int `json:"removed,omitempty"`
}

// Apply folds a snapshot or delta into view (room number → Room). It
// reports false for a delta that does not follow version (the client then
// needs a new snapshot).
func (m *WatchMessage) Apply(view map[int]Room, version uint64) bool {
	switch m.Type {
	case "snapshot":
		clear(view)
		for _, r := range m.Rooms {
			view[r.Room] = r
		}
	case "delta":
		if m.Version != version+1 {
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
