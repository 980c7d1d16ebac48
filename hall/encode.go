package hall

import (
	"bytes"
	"encoding/json"
	"strconv"
)

// The watch stream's messages (see handleWatch), encoded by hand: they are
// built once per page and shared by every watcher of it, and for a
// 50,000-room region the snapshot is megabytes.

// writeHead writes the fields every message carries, up to the version.
// d.mu is held.
func (d *directory) writeHead(b *bytes.Buffer, typ string, r *region, page int, since, version uint64) {
	b.WriteString(`{"type":"` + typ + `","region":`)
	writeString(b, r.info.Name)
	if typ != "delta" {
		b.WriteString(`,"epoch":`)
		writeString(b, r.epoch)
	} else {
		b.WriteString(`,"since":` + strconv.FormatUint(since, 10))
	}
	b.WriteString(`,"version":` + strconv.FormatUint(version, 10) +
		`,"page":` + strconv.Itoa(page) + `,"pageSize":` + strconv.Itoa(d.pageSize) +
		`,"pages":` + strconv.Itoa(r.pages(d.pageSize)) + `,"roomCount":` + strconv.Itoa(r.rooms) +
		`,"players":` + strconv.Itoa(r.players) + `,"capacity":` + strconv.Itoa(r.capacity))
}

// encodeSnapshot encodes every room of page (0: the region) at the
// published version. d.mu is held.
func (d *directory) encodeSnapshot(r *region, page int) []byte {
	var b bytes.Buffer
	lo, hi := r.bounds(page, d.pageSize)
	b.Grow(160 + max(0, hi-lo+1)*96)
	d.writeHead(&b, "snapshot", r, page, 0, r.version)
	b.WriteString(`,"rooms":[`)
	first := true
	for n := lo; n <= hi; n++ {
		if s := &r.slots[n]; s.offered {
			if !first {
				b.WriteByte(',')
			}
			first = false
			writeRoom(&b, s.Room)
		}
	}
	b.WriteString("]}")
	return b.Bytes()
}

// encodeResume acknowledges a resume from version. d.mu is held.
func (d *directory) encodeResume(r *region, page int, version uint64) []byte {
	var b bytes.Buffer
	d.writeHead(&b, "resume", r, page, 0, version)
	b.WriteByte('}')
	return b.Bytes()
}

// delta is an encoded catch-up of one page from one version.
type delta struct {
	version uint64 // the version the delta brings a client to
	frame   []byte // the message as a WebSocket frame
	empty   bool   // totals only: no room of the page changed
	oldest  int64  // when the hall saw the oldest change in it (unix ns; 0 if empty)
}

// encodeDelta encodes the state of every room of page (0: the region) that
// changed after since, at the published version. Rooms whose player count
// alone changed go in "counts" as [room, players] pairs: most changes are
// seats, and a compact delta is what lets one replica feed many watchers.
// d.mu is held.
func (d *directory) encodeDelta(r *region, page int, since uint64) delta {
	var b bytes.Buffer
	d.writeHead(&b, "delta", r, page, since, r.version)
	lo, hi := r.bounds(page, d.pageSize)
	var counts, removed []int
	var oldest int64
	b.WriteString(`,"rooms":[`)
	first := true
	for n := lo; n <= hi; n++ {
		s := &r.slots[n]
		if s.ver <= since {
			continue
		}
		if oldest == 0 || s.at < oldest {
			oldest = s.at
		}
		switch {
		case !s.offered:
			removed = append(removed, n)
		case s.fullVer <= since:
			counts = append(counts, n)
		default:
			if !first {
				b.WriteByte(',')
			}
			first = false
			writeRoom(&b, s.Room)
		}
	}
	b.WriteString(`],"counts":[`)
	for i, n := range counts {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString("[" + strconv.Itoa(n) + "," + strconv.Itoa(r.slots[n].Players) + "]")
	}
	b.WriteString(`],"removed":[`)
	for i, n := range removed {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Itoa(n))
	}
	b.WriteString("]}")
	return delta{version: r.version, frame: appendFrame(make([]byte, 0, b.Len()+10), opText, b.Bytes()), empty: oldest == 0, oldest: oldest}
}

func writeRoom(b *bytes.Buffer, rm Room) {
	b.WriteString(`{"room":` + strconv.Itoa(rm.Room) + `,"shard":`)
	writeString(b, rm.Shard)
	b.WriteString(`,"address":`)
	writeString(b, rm.Address)
	b.WriteString(`,"port":` + strconv.Itoa(rm.Port) + `,"players":` + strconv.Itoa(rm.Players) + `,"capacity":` + strconv.Itoa(rm.Capacity) + "}")
}

// writeString writes s as a JSON string. Names are DNS-like, so the fast
// path is taken; anything else goes through encoding/json.
func writeString(b *bytes.Buffer, s string) {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			j, _ := json.Marshal(s)
			b.Write(j)
			return
		}
	}
	b.WriteByte('"')
	b.WriteString(s)
	b.WriteByte('"')
}
