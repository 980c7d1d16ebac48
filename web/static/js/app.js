// The lobby: log in, pick a region, watch its rooms live, enter a room, sit,
// play, chat, leave. One page; the hall serves it at "/".
import * as api from "./api.js";
import * as C from "./cards.js";
import { RegionWatch } from "./directory.js";
import { ShardConn } from "./shard.js";
import { TableView } from "./table.js";
import { renderTable, tick } from "./tableui.js";
import { $, h, replace, toast, heat } from "./ui.js";

const S = {
  session: null, regions: [], region: "", watch: null, rooms: [], totals: null,
  conn: null, place: null, // place: the room we are in, from the directory
  roomState: null, view: null, sel: new Set(), chat: [], leaving: false, reconnects: 0,
  me: null, // GET /v1/me: balances and stats per region
};
// The browser test reads the state and the game log from here.
window.gamehall = { S, cards: C, log: [], ready: false };

function show(id) {
  for (const s of document.querySelectorAll("main > section")) s.hidden = s.id !== id;
  document.body.dataset.view = id;
}

function logLine(line) {
  if (!line) return;
  window.gamehall.log.push(line);
  const box = $("#gamelog");
  if (box) {
    box.append(h("div", line));
    box.scrollTop = box.scrollHeight;
  }
}

// ---- login ----

function showLogin(msg) {
  S.session = null;
  replace($("#who"));
  show("login");
  $("#login-error").textContent = msg || "";
  $("#account").focus();
}

async function enter(signup) {
  const account = $("#account").value.trim();
  const password = $("#password").value;
  $("#login-error").textContent = "";
  if (signup && !$("#login-form").reportValidity()) return;
  if (signup && !password) {
    $("#login-error").textContent = "Choose a password to sign up (empty: play as a guest).";
    return;
  }
  window.gamehall.loginAt = performance.now();
  try {
    if (signup) await api.signup(account, password);
    S.session = await api.login(account, password);
    await showLobby();
  } catch (e) {
    $("#login-error").textContent = e.code === "INVALID_CREDENTIALS" ? "Wrong name or password."
      : e.retryAfter ? `${e.message} (try again in ${e.retryAfter} s)` : e.message;
  }
}

$("#login-form").addEventListener("submit", (ev) => { ev.preventDefault(); enter(false); });
$("#signup-button").addEventListener("click", () => enter(true));

// ---- balances and the leaderboard (the region's database, via the hall) ----

// showCoins refreshes the header's balance in the region watched.
async function showCoins() {
  if (!S.session) return;
  try {
    const me = await api.get(S.session, "/v1/me");
    S.me = me;
    renderCoins();
  } catch { /* a region without a database, or it is down: no balance shown */ }
}

function renderCoins() {
  const r = S.me && (S.me.regions || []).find((x) => x.region === S.region);
  const el = $("#coins");
  if (!el) return;
  el.textContent = r ? `${r.coins} coins` : "";
  el.title = r ? `${r.games} games, ${r.wins} wins, score ${r.score}${r.rank ? ", rank " + r.rank : ""} in this region` : "";
}

// gotBalance applies the balance a GAME_OVER or Settled told this seat.
function gotBalance(coins) {
  if (!S.me) S.me = { regions: [] };
  let r = (S.me.regions || []).find((x) => x.region === S.region);
  if (!r) S.me.regions = [...(S.me.regions || []), r = { region: S.region, coins: 0, games: 0, wins: 0, score: 0 }];
  r.coins = coins;
  renderCoins();
}

async function showLeaderboard() {
  const box = $("#leaderboard");
  if (!box.hidden && box.dataset.region === S.region) {
    box.hidden = true;
    $("#leaderboard-button").setAttribute("aria-expanded", "false");
    return;
  }
  box.hidden = false;
  box.dataset.region = S.region;
  $("#leaderboard-button").setAttribute("aria-expanded", "true");
  replace(box, h("h3", "Leaderboard"), h("p.note", "Loading…"));
  let lb;
  try {
    lb = await api.get(S.session, `/v1/regions/${encodeURIComponent(S.region)}/leaderboard?limit=10`);
  } catch (e) {
    replace(box, h("h3", "Leaderboard"), h("p.error", e.status === 404 || e.status === 501
      ? "This region keeps no scores." : `Not available: ${e.message}`));
    return;
  }
  const row = (e, mine) => h("tr", { class: mine ? "mine" : null, dataset: { account: e.account } },
    h("td", String(e.rank)), h("td", e.account), h("td.num", String(e.score)), h("td.num", String(e.coins)), h("td.num", `${e.wins}/${e.games}`));
  const mineShown = lb.me && lb.entries.some((e) => e.account === lb.me.account);
  replace(box, h("h3", "Leaderboard"),
    h("p.note", `${lb.players} players ranked by score · as of ${new Date(lb.asOf).toLocaleTimeString()}`),
    h("table.scores#leaderboard-table",
      h("tr", h("th", "#"), h("th", "Player"), h("th", "Score"), h("th", "Coins"), h("th", "Won")),
      (lb.entries || []).map((e) => row(e, e.account === S.session.account)),
      lb.me && !mineShown ? [h("tr.gap", h("td", { colspan: "5" }, "…")), row(lb.me, true)] : null),
    !lb.me ? h("p.note", "Play a game to get a rank.") : null);
}

$("#leaderboard-button").addEventListener("click", showLeaderboard);

// ---- lobby ----

async function showLobby() {
  replace($("#who"), h("span", "Playing as ", h("b#me", S.session.account)), h("span#coins.coins"),
    h("button.link", { onclick: logout }, "Log out"));
  showCoins();
  show("lobby");
  let data;
  try {
    data = await api.get(S.session, "/v1/regions");
  } catch (e) {
    if (e.status === 401) return showLogin("Your session expired: log in again.");
    toast(`The hall did not answer: ${e.message}. Retrying…`, "error");
    setTimeout(showLobby, Math.max(1000, e.retryAfter * 1000));
    return;
  }
  S.regions = data.regions || [];
  const saved = localStorage.getItem("gamehall.region");
  const pick = S.regions.find((r) => r.name === saved) || S.regions[0];
  replace($("#regions"), S.regions.map((r) => h("button.region", {
    dataset: { region: r.name }, "aria-pressed": String(pick && r.name === pick.name),
    onclick: () => watchRegion(r.name),
  }, r.displayName || r.name)));
  if (!pick) {
    replace($("#rooms"), h("p.empty", "No region is open yet."));
    return;
  }
  watchRegion(pick.name);
  const back = JSON.parse(sessionStorage.getItem(PLACE) || "null");
  if (back && !S.place) enterRoom(back);
}

// watchRegion shows a page of the region's rooms: "auto" lets the hall pick
// one with free seats (what a player wants first); the pager moves on.
function watchRegion(name, page = "auto") {
  if (S.watch && S.region === name && S.watch.page === page) return;
  if (S.watch) S.watch.stop();
  S.region = name;
  localStorage.setItem("gamehall.region", name);
  renderCoins();
  if (!$("#leaderboard").hidden) { $("#leaderboard").hidden = true; showLeaderboard(); }
  for (const b of document.querySelectorAll("#regions button")) b.setAttribute("aria-pressed", String(b.dataset.region === name));
  replace($("#rooms"), h("p.empty", "Connecting to the live directory…"));
  S.watch = new RegionWatch(S.session, name, page, (rooms, totals) => {
    S.rooms = rooms;
    S.totals = totals;
    renderRooms();
  }, (err) => {
    if (err.status === 401) showLogin("Your session expired: log in again.");
    else toast(err.message, "error");
  });
}

function renderRooms() {
  const t = S.totals;
  replace($("#totals"),
    h("span#total-players", `${t.players} players`), ` in ${t.roomCount ?? 0} rooms · `,
    h("span", { class: t.live ? "live" : "stale" }, t.live ? "● live" : "○ reconnecting"),
    t.pages > 1 ? h("span#pager", " · ",
      h("button.page", { disabled: t.page <= 1, title: "previous page of rooms", onclick: () => watchRegion(S.region, t.page - 1) }, "‹"),
      h("span#page", ` page ${t.page} of ${t.pages} `),
      h("button.page", { disabled: t.page >= t.pages, title: "next page of rooms", onclick: () => watchRegion(S.region, t.page + 1) }, "›")) : null);
  if (!S.rooms.length) {
    replace($("#rooms"), h("p.empty", t.pages > 1 ? "No rooms open on this page right now." : "No rooms open in this region right now."));
    return;
  }
  replace($("#rooms"), S.rooms.map((r) => {
    const share = r.capacity ? r.players / r.capacity : 0;
    const full = r.players >= r.capacity;
    const state = r.closing ? "closing" : full ? "full" : "";
    return h("button.room", {
      dataset: { room: String(r.room), players: String(r.players) }, class: `room ${state}`,
      title: r.closing ? "this room's server is closing" : full ? "full: entering offers rooms with seats" : "enter",
      disabled: r.closing, onclick: () => enterRoom(r),
    },
    h("span.num", `Room ${r.room}`),
    h("span.count", `${r.players} / ${r.capacity}`),
    h("span.bar", h("span.fill", { style: { width: `${Math.round(share * 100)}%`, background: heat(share) } })),
    state ? h("span.tag", state) : null);
  }));
  if (!window.gamehall.roomsShownAt && S.rooms.length) {
    window.gamehall.roomsShownAt = performance.now();
  }
}

async function logout() {
  S.me = null;
  await leaveRoom(true);
  if (S.watch) S.watch.stop();
  S.watch = null;
  await api.logout(S.session);
  showLogin();
}

// ---- rooms ----

// connect opens the shard of place unless already connected to it.
async function connect(place) {
  if (S.conn && !S.conn.closed && S.conn.shard === place.shard) return null;
  if (S.conn) S.conn.close();
  const conn = new ShardConn(place, onPush, (why) => onConnLost(conn, why));
  conn.shard = place.shard;
  S.conn = conn;
  return conn.open(S.session.ticket);
}

async function enterRoom(place) {
  if (S.place && S.place.room === place.room) return show(S.view ? "table" : "room");
  try {
    if (S.place) await leaveRoom(true);
    S.leaving = false;
    const welcome = await connect(place);
    if (welcome && welcome.resumed) {
      // Back in a game we were in: RoomState and TableState follow.
      S.place = { ...place, room: welcome.room };
      return;
    }
    const env = await S.conn.request({ enterRoom: { room: place.room } });
    S.place = place;
    sessionStorage.setItem(PLACE, JSON.stringify(place));
    loadRoom(env.roomState);
  } catch (e) {
    roomRefused(place, e);
  }
}

// PLACE remembers the room this tab is in, so that a reload goes back to it
// (and to the seat, when a game holds it).
const PLACE = "gamehall.place";

function roomRefused(place, e) {
  switch (e.code) {
    case "ROOM_FULL":
      return offerRooms(place, e.rooms || []);
    case "DRAINING":
      toast(`Room ${place.room}'s server is closing: pick another room.`, "error");
      break;
    case "IN_OTHER_ROOM":
      toast("You are already in another room (another tab or device?). Leave it first.", "error");
      break;
    case "TICKET_EXPIRED":
      return showLogin("Your session expired: log in again.");
    default:
      toast(`Could not enter room ${place.room}: ${e.message}`, "error");
  }
  S.place = null;
  show("lobby");
}

// offerRooms answers ROOM_FULL with the rooms the server suggested.
function offerRooms(place, suggested) {
  const dlg = $("#modal");
  const known = new Map(S.rooms.map((r) => [r.room, r]));
  const options = suggested.map((n) => known.get(n) || { ...place, room: n, players: null });
  replace(dlg,
    h("h2", `Room ${place.room} is full`),
    options.length
      ? [h("p", "These rooms have seats:"), h("div.suggest#suggested", options.map((r) =>
        h("button.primary", { dataset: { room: String(r.room) }, onclick: () => { dlg.close(); enterRoom(r); } },
          `Room ${r.room}` + (r.players === null ? "" : ` · ${r.players}/${r.capacity}`))))]
      : h("p", "No room on this server has a seat: pick another room in the lobby."),
    h("div.buttons", h("button", { onclick: () => dlg.close() }, "Back to the lobby")));
  S.place = null;
  show("lobby");
  dlg.showModal();
}

function loadRoom(rs) {
  S.roomState = {
    room: rs.room, players: rs.players || 0, capacity: rs.capacity || 0, tablesTotal: rs.tablesTotal || 0,
    tables: new Map((rs.tables || []).map((t) => [t.table || 0, normTable(t)])),
  };
  if (S.place) S.place.room = rs.room;
  if ((rs.myTable ?? -1) < 0) {
    S.view = null;
    renderRoom();
    show("room");
  }
}

function normTable(t) {
  const seats = [0, 1, 2].map((i) => ({ seat: i, account: "", ready: false, connected: true }));
  for (const s of t.seats || []) seats[s.seat || 0] = { seat: s.seat || 0, account: s.account || "", ready: !!s.ready, connected: !!s.connected };
  return { table: t.table || 0, seats, playing: !!t.playing };
}

function renderRoom() {
  const rs = S.roomState;
  if (!rs) return;
  replace($("#room-title"), `Room ${rs.room}`, h("small#room-count", ` · ${rs.players} / ${rs.capacity} players`));
  const tables = [...rs.tables.values()].sort((a, b) => a.table - b.table);
  const used = new Set(tables.map((t) => t.table));
  let firstEmpty = 0;
  while (used.has(firstEmpty)) firstEmpty++;
  const cards = tables.map((t) => tableCard(t));
  if (firstEmpty < rs.tablesTotal) {
    cards.push(tableCard({ table: firstEmpty, seats: [0, 1, 2].map((i) => ({ seat: i, account: "" })), playing: false }));
  }
  replace($("#tables"), cards);
  const empty = rs.tablesTotal - tables.length;
  $("#tables-note").textContent = `${tables.length} tables in use, ${empty} empty.`;
}

function tableCard(t) {
  return h("div.tablecard", { dataset: { table: String(t.table) }, class: `tablecard${t.playing ? " playing" : ""}` },
    h("div.tnum", `Table ${t.table + 1}`, t.playing ? h("span.tag", "playing") : null),
    h("div.tseats", t.seats.map((s) => s.account
      ? h("span.occupant", { title: s.connected === false ? "reconnecting" : "" }, s.account, s.ready ? " ✓" : "")
      : h("button.sit", { dataset: { seat: String(s.seat) }, onclick: () => sit(t.table, s.seat) }, "Sit"))));
}

async function sit(table, seat) {
  try {
    const env = await S.conn.request({ sitDown: { table, seat } });
    openTable(env.tableState);
  } catch (e) {
    toast(`Could not sit: ${e.message}`, "error");
  }
}

async function quickSeat() {
  try {
    const env = await S.conn.request({ quickSeat: {} });
    openTable(env.tableState);
  } catch (e) {
    toast(e.code === "NO_FREE_SEAT" ? "No free seat at a waiting table: try another room." : `Could not sit: ${e.message}`, "error");
  }
}

async function leaveRoom(quiet) {
  if (!S.conn || !S.place) return;
  S.leaving = true;
  try {
    await S.conn.request({ leaveRoom: {} });
  } catch (e) {
    if (!quiet) toast(`Leaving: ${e.message}`, "error");
  }
  S.place = null;
  S.view = null;
  S.roomState = null;
  S.chat = [];
  sessionStorage.removeItem(PLACE);
  replace($("#chat-log"));
  show("lobby");
}

// ---- the table ----

function openTable(st) {
  S.view = new TableView(st);
  S.sel.clear();
  replace($("#gamelog"));
  drawTable();
  show("table");
}

const actions = {
  sel: S.sel,
  toggle(c) {
    if (S.sel.has(c)) S.sel.delete(c); else S.sel.add(c);
    drawTable();
  },
  clear() { S.sel.clear(); drawTable(); },
  async ready() {
    try {
      await S.conn.request({ ready: {} });
      const me = S.view.seats.find((s) => s.seat === S.view.mySeat);
      if (me) me.ready = true;
      S.view.over = null;
      drawTable();
    } catch (e) { toast(e.message, "error"); }
  },
  async bid(n) {
    try { await S.conn.request({ bid: { bid: n } }); } catch (e) { toast(e.message, "error"); }
  },
  async play(cards, reading) {
    try {
      await S.conn.request({ play: { cards: C.encodeCards(cards), reading: reading ? C.comboToWire(reading) : undefined } });
      S.sel.clear();
    } catch (e) { toast(`Not played: ${e.message}`, "error"); }
    drawTable();
  },
  async pass() {
    try { await S.conn.request({ play: {} }); S.sel.clear(); } catch (e) { toast(e.message, "error"); }
    drawTable();
  },
  async stand() {
    try {
      await S.conn.request({ standUp: {} });
      S.view = null;
      const env = await S.conn.request({ enterRoom: { room: S.place.room } }).catch(() => null);
      if (env) loadRoom(env.roomState);
      renderRoom();
      show("room");
    } catch (e) { toast(e.message, "error"); }
  },
  leave() { leaveRoom(false); },
};

function drawTable() {
  if (!S.view) return;
  // Cards that left the hand leave the selection.
  for (const c of [...S.sel]) if (!S.view.hand.includes(c)) S.sel.delete(c);
  renderTable($("#felt"), S.view, actions);
  $("#table-title").textContent = `Room ${S.place ? S.place.room : "?"} · Table ${S.view.table + 1}`;
}

// ---- pushes ----

function onPush(env) {
  if (env.gameEvent) {
    if (!S.view || (env.gameEvent.table || 0) !== S.view.table) return;
    logLine(S.view.apply(env.gameEvent));
    const o = S.view.over;
    if (o && o.settlement === "SETTLED" && o.balances.length === 3 && (env.gameEvent.kind === "GAME_OVER" || env.gameEvent.kind === "ESCAPE")) {
      gotBalance(o.balances[S.view.mySeat]);
    }
    drawTable();
  } else if (env.settled) {
    if (S.view && S.view.over && env.settled.gameId === S.view.over.gameId) {
      logLine(S.view.settled(env.settled));
      drawTable();
    }
    const i = (env.settled.accounts || []).indexOf(S.session.account);
    if (i >= 0) gotBalance(Number(env.settled.balances[i]));
  } else if (env.tableState) {
    if (S.view) S.view.reset(env.tableState); else S.view = new TableView(env.tableState);
    drawTable();
    show("table");
  } else if (env.roomState) {
    loadRoom(env.roomState);
  } else if (env.roomEvents) {
    roomEvents(env.roomEvents);
  } else if (env.chatMessage) {
    chat(env.chatMessage);
  } else if (env.kicked) {
    toast(`Disconnected by the server: ${env.kicked.reason}`, "error");
  } else if (env.error) {
    toast(`Server: ${env.error.message}`, "error");
  }
}

function roomEvents(re) {
  const rs = S.roomState;
  if (!rs || re.room !== rs.room) return;
  rs.players = re.players || 0;
  for (const e of re.events || []) {
    const table = e.table ?? -1, seat = e.seat ?? -1;
    if (S.view && table === S.view.table) S.view.seatEvent(e);
    if (table < 0) continue;
    let t = rs.tables.get(table);
    if (!t) {
      t = normTable({ table });
      rs.tables.set(table, t);
    }
    switch (e.kind) {
      case "SIT": if (seat >= 0) t.seats[seat] = { seat, account: e.account, ready: false, connected: true }; break;
      case "STAND": case "LEAVE": if (seat >= 0) t.seats[seat] = { seat, account: "", ready: false, connected: true }; break;
      case "READY": if (seat >= 0) t.seats[seat].ready = true; break;
      case "GAME_START": t.playing = true; for (const s of t.seats) s.ready = false; break;
      case "GAME_END": t.playing = false; break;
      case "DISCONNECT": if (seat >= 0) t.seats[seat].connected = false; break;
      case "RECONNECT": if (seat >= 0) t.seats[seat].connected = true; break;
    }
    if (t.seats.every((s) => !s.account)) rs.tables.delete(table);
  }
  if (S.view) drawTable(); else renderRoom();
}

function chat(m) {
  S.chat.push(m);
  const where = m.scope === "TABLE" ? "table" : "room";
  $("#chat-log").append(h(`div.msg.${where}`, h("b", m.account), where === "table" ? h("span.scope", " (table)") : null, ": ", m.text));
  $("#chat-log").scrollTop = $("#chat-log").scrollHeight;
  const tl = $("#table-chat-log");
  tl.append(h(`div.msg.${where}`, h("b", m.account), ": ", m.text));
  tl.scrollTop = tl.scrollHeight;
}

async function sendChat(scope, input) {
  const text = input.value.trim();
  if (!text) return;
  try {
    await S.conn.request({ chat: { scope, text } });
    input.value = "";
  } catch (e) {
    toast(e.code === "RATE_LIMITED" ? "Slow down: one message every few seconds." : e.message, "error");
  }
}

// ---- reconnect ----

// onConnLost reconnects while the player is in a room: within the grace the
// server resumes the seat (Welcome.resumed, then RoomState and TableState);
// otherwise the page enters the room again.
async function onConnLost(conn, why) {
  if (conn !== S.conn || S.leaving || !S.place) return;
  const place = S.place;
  toast(`Connection lost (${why}); reconnecting…`, "error");
  $("#conn").textContent = "reconnecting…";
  for (let attempt = 0; attempt < 8 && S.place === place; attempt++) {
    await new Promise((r) => setTimeout(r, Math.min(500 * 2 ** attempt, 8000)));
    try {
      S.conn = null;
      const welcome = await connect(place);
      S.reconnects++;
      $("#conn").textContent = "";
      if (welcome && welcome.resumed) {
        toast("Reconnected: your seat was kept.");
        return;
      }
      const env = await S.conn.request({ enterRoom: { room: place.room } });
      S.view = null;
      loadRoom(env.roomState);
      toast("Reconnected to the room.");
      return;
    } catch (e) {
      if (e.code === "TICKET_EXPIRED") return showLogin("Your session expired: log in again.");
    }
  }
  $("#conn").textContent = "";
  toast("Could not reconnect: back to the lobby.", "error");
  S.place = null;
  S.view = null;
  show("lobby");
}

// ---- wiring ----

$("#quick-seat").addEventListener("click", quickSeat);
$("#leave-room").addEventListener("click", () => leaveRoom(false));
$("#back-lobby").addEventListener("click", () => show("lobby"));
$("#chat-form").addEventListener("submit", (ev) => { ev.preventDefault(); sendChat("ROOM", $("#chat-input")); });
$("#table-chat-form").addEventListener("submit", (ev) => { ev.preventDefault(); sendChat("TABLE", $("#table-chat-input")); });
setInterval(() => tick($("#felt")), 250);

S.session = api.session();
if (S.session) showLobby(); else showLogin();
window.gamehall.ready = true;
