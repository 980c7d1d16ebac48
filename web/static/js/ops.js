// The operator's live view: every region's shards and rooms as a heat map,
// draining shards marked, players online, scaling events as they happen.
// It polls the hall's GET /v1/ops (a service ticket) every second.
import { $, h, replace, heat } from "./ui.js";

const KEY = "gamehall.ops";
const state = { ticket: "", since: 0, events: [], failures: 0 };
window.gamehall = { ops: state, ready: false };

function start() {
  // A link may carry the ticket in its fragment, which never reaches a
  // server or its logs; it is moved to this tab's storage at once.
  const m = location.hash.match(/ticket=([^&]+)/);
  if (m) {
    sessionStorage.setItem(KEY, decodeURIComponent(m[1]));
    history.replaceState(null, "", location.pathname);
  }
  state.ticket = sessionStorage.getItem(KEY) || "";
  if (!state.ticket) return askTicket();
  $("#ops").hidden = false;
  $("#ops-login").hidden = true;
  poll();
}

function askTicket(msg) {
  $("#ops").hidden = true;
  $("#ops-login").hidden = false;
  $("#ops-error").textContent = msg || "";
}

$("#ops-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  sessionStorage.setItem(KEY, $("#ops-ticket").value.trim());
  start();
});

async function poll() {
  let next = 1000;
  try {
    const resp = await fetch(`/v1/ops?since=${state.since}`, { headers: { Authorization: "Bearer " + state.ticket }, cache: "no-store" });
    const body = await resp.json();
    if (resp.status === 401 || resp.status === 403) {
      sessionStorage.removeItem(KEY);
      return askTicket(`${body.error ? body.error.message : resp.statusText}`);
    }
    if (!resp.ok) throw new Error(body.error ? body.error.message : resp.statusText);
    state.failures = 0;
    $("#conn").textContent = "";
    render(body);
  } catch (e) {
    state.failures++;
    $("#conn").textContent = `hall unreachable (${e.message}); retrying`;
    next = Math.min(1000 * 2 ** state.failures, 10000);
  }
  setTimeout(poll, next);
}

function render(v) {
  for (const e of v.events) {
    state.events.unshift(e);
    state.since = Math.max(state.since, e.seq);
  }
  state.events.length = Math.min(state.events.length, 200);
  state.view = v;
  const shards = v.regions.reduce((n, r) => n + r.shards.length, 0);
  const draining = v.regions.reduce((n, r) => n + r.shards.filter((s) => s.draining).length, 0);
  const capacity = v.regions.reduce((n, r) => n + r.capacity, 0);
  replace($("#ops-totals"),
    stat("Players in rooms", v.players, "ops-players"),
    stat("Sessions online", v.sessions < 0 ? "—" : v.sessions, "ops-sessions"),
    stat("Occupancy", capacity ? `${Math.round((100 * v.players) / capacity)}%` : "—"),
    stat("Shards", draining ? `${shards} (${draining} draining)` : shards, "ops-shards"),
    stat("Lobby watchers", v.watchers),
    stat("Hall", v.hall));
  replace($("#ops-regions"), v.regions.map(region));
  replace($("#ops-events"), state.events.length
    ? state.events.map((e) => h(`div.event.${e.kind}`, { dataset: { kind: e.kind, shard: e.shard } },
      h("time", new Date(e.time).toLocaleTimeString()), h("b", e.kind), " ", e.message))
    : h("p.note", "No scaling since this hall started."));
  replace($("#ops-links"),
    v.metrics ? [h("a", { href: v.metrics, target: "_blank" }, `hall ${v.hall}: ${v.metrics}`)] : [],
    v.regions.flatMap((r) => r.shards.filter((s) => s.metrics).map((s) =>
      h("a", { href: s.metrics, target: "_blank" }, `${s.name}: ${s.metrics}`))));
  window.gamehall.ready = true;
}

function stat(label, value, id) {
  return h("div.stat", h("b", id ? { id } : null, String(value)), label);
}

function region(r) {
  const share = r.capacity ? r.players / r.capacity : 0;
  return h("div.region-map.panel", { dataset: { region: r.name } },
    h("div.bar", h("h2", r.displayName || r.name), h("span.spacer"),
      h("span", `${r.players} / ${r.capacity} players · ${Math.round(share * 100)}% · ${r.shards.length} shard${r.shards.length === 1 ? "" : "s"}`)),
    h("div.legend", "empty", [0, 0.25, 0.5, 0.75, 1].map((x) => h("span.cell", { style: { background: heat(x) } })), "full",
      h("span.cell", { style: { background: "repeating-linear-gradient(135deg,#fff 0 3px,#c9a86a 3px 6px)" } }), "draining"),
    r.shards.map((s) => h("div.shard", { dataset: { shard: s.name }, class: `shard${s.draining ? " draining" : ""}` },
      h("div.sname", s.name, s.draining ? h("span.badge", "draining") : null, !s.ready ? h("span.badge", "starting") : null,
        h("small", `${s.players} / ${s.capacity} · ${s.address}${s.stale ? " · counts unavailable" : ""}`)),
      h("div.cells", s.rooms.map(([room, players, cap]) =>
        h("span.cell", { title: `room ${room}: ${players} / ${cap}`, style: { background: heat(cap ? players / cap : 0) } }))))));
}

start();
