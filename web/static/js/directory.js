// The lobby's data layer: one page of a region's rooms and the region's
// totals, kept live from the hall's watch stream (docs/protocol.md, "The
// hall's watch stream": a snapshot, then deltas that each cover everything
// since our version; "resume" after a reconnect that the hall can catch
// up). Everything the lobby knows of the stream's format is in this file.
import { get, watchProtocols, watchURL } from "./api.js";

// How long a room that left the directory (its shard drains or stops) is
// still shown, marked as closing.
const CLOSING_MS = 5000;

export class RegionWatch {
  // onChange(rooms, totals) gets the page's rooms sorted by number: {room,
  // shard, address, port, players, capacity, closing}; totals (the
  // region's): {players, capacity, roomCount, live, page, pages}. page: a
  // page number, or "auto" (the hall picks one with free seats; the page it
  // chose is kept on reconnect).
  constructor(session, region, page, onChange, onStatus) {
    this.s = session;
    this.region = region;
    this.page = page;
    this.pages = 0;
    this.onChange = onChange;
    this.onStatus = onStatus || (() => {});
    this.rooms = new Map();
    this.closing = new Map(); // room → {room, until}
    this.epoch = "";
    this.version = 0;
    this.players = 0;
    this.capacity = 0;
    this.live = false;
    this.stopped = false;
    this.retry = 500;
    this.firstAt = 0; // when the first snapshot arrived (performance.now)
    this.connect();
    this.sweep = setInterval(() => this.expireClosing(), 1000);
  }

  stop() {
    this.stopped = true;
    clearInterval(this.sweep);
    clearTimeout(this.timer);
    if (this.ws) this.ws.close();
  }

  connect() {
    if (this.stopped) return;
    const ws = new WebSocket(watchURL(this.s, this.region, this.page, this.epoch, this.version), watchProtocols(this.s));
    this.ws = ws;
    let opened = false;
    ws.onopen = () => { opened = true; this.retry = 500; };
    ws.onmessage = (ev) => this.apply(JSON.parse(ev.data));
    ws.onclose = async (ev) => {
      if (this.stopped || ws !== this.ws) return;
      this.live = false;
      this.emit();
      if (!opened) {
        // Refused before the upgrade (a redirect to a peer, a full hall, an
        // expired ticket): the HTTP API says which, and follows redirects.
        try {
          await get(this.s, "/v1/regions");
        } catch (e) {
          this.onStatus(e);
          if (e.status === 401) return; // log in again
        }
      } else if (ev.code === 1001) {
        this.onStatus(new Error("this region was removed from the hall"));
        return;
      }
      this.timer = setTimeout(() => this.connect(), this.retry);
      this.retry = Math.min(this.retry * 2, 10000);
    };
  }

  apply(m) {
    switch (m.type) {
      case "snapshot":
        this.rooms.clear();
        for (const r of m.rooms || []) this.rooms.set(r.room, r);
        this.epoch = m.epoch;
        if (m.page) this.page = m.page;
        if (!this.firstAt) this.firstAt = performance.now();
        break;
      case "resume":
        this.epoch = m.epoch;
        break;
      case "delta":
        if (m.since !== this.version) {
          // Not from our version: start over with a snapshot.
          this.epoch = "";
          this.ws.close();
          return;
        }
        for (const r of m.rooms || []) this.rooms.set(r.room, r);
        for (const [room, players] of m.counts || []) {
          const r = this.rooms.get(room);
          if (r) this.rooms.set(room, { ...r, players });
        }
        for (const room of m.removed || []) {
          const r = this.rooms.get(room);
          if (r) this.closing.set(room, { ...r, until: Date.now() + CLOSING_MS });
          this.rooms.delete(room);
        }
        break;
      default:
        return;
    }
    this.version = m.version;
    this.players = m.players;
    this.capacity = m.capacity;
    this.pages = m.pages;
    this.roomCount = m.roomCount;
    this.live = true;
    this.emit();
  }

  expireClosing() {
    let changed = false;
    for (const [room, r] of this.closing) {
      if (r.until <= Date.now() || this.rooms.has(room)) {
        this.closing.delete(room);
        changed = true;
      }
    }
    if (changed) this.emit();
  }

  emit() {
    const list = [...this.rooms.values()].map((r) => ({ ...r, closing: false }));
    for (const [room, r] of this.closing) {
      if (!this.rooms.has(room)) list.push({ ...r, closing: true });
    }
    list.sort((a, b) => a.room - b.room);
    this.onChange(list, { players: this.players, capacity: this.capacity, live: this.live, page: this.page, pages: this.pages, roomCount: this.roomCount });
  }
}
