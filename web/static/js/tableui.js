// Renders the Dou Dizhu table: the opponents, the middle (last play, bottom
// cards, bid, multiplier, timer), the player's hand and actions.
import * as C from "./cards.js";
import { h, replace } from "./ui.js";

// renderTable draws view into el. act holds the actions: ready, bid(n),
// play(cards, reading), pass(), stand(), leave(), and sel, the selected
// cards (a Set), which clicks on the hand toggle.
export function renderTable(el, view, act) {
  const me = view.mySeat;
  const right = (me + 1) % 3, left = (me + 2) % 3;
  replace(el,
    h("div.felt",
      seatBox(view, left, "left"),
      middle(view),
      seatBox(view, right, "right"),
      h("div.me", seatBox(view, me, "self"), hand(view, act), actions(view, act)),
      view.over ? overBox(view, act) : null));
}

function nameOf(view, seat) {
  const s = view.seats.find((x) => x.seat === seat);
  return s && s.account ? s.account : "(empty)";
}

function seatBox(view, seat, where) {
  const s = view.seats.find((x) => x.seat === seat) || {};
  const role = view.landlord < 0 ? "" : seat === view.landlord ? "Landlord" : "Farmer";
  const turn = view.playing && !view.over && view.turn === seat;
  const said = view.said[seat];
  return h(`div.seat.${where}`, { dataset: { seat: String(seat) }, class: turn ? `seat ${where} turn` : null },
    h("div.who",
      h("span.name", nameOf(view, seat)),
      role ? h("span.role." + role.toLowerCase(), role) : null,
      !s.connected && s.account ? h("span.away", "reconnecting…") : null,
      view.phase === "WAITING" && s.ready ? h("span.ready", "ready") : null),
    where === "self" ? null : h("div.count", { title: "cards left" }, view.playing || view.over ? `${view.cardsLeft[seat]} cards` : ""),
    turn ? timer(view) : null,
    said ? h("div.said", typeof said === "string" ? said : cardRow(said.cards, "small")) : null);
}

function timer(view) {
  const left = Math.max(0, Math.ceil((view.deadline - Date.now()) / 1000));
  return h("div.timer", { dataset: { deadline: String(view.deadline) } }, view.deadline ? `${left}s` : "");
}

// tick refreshes the countdowns without redrawing the table.
export function tick(el) {
  for (const t of el.querySelectorAll(".timer")) {
    const d = Number(t.dataset.deadline);
    if (d) t.textContent = `${Math.max(0, Math.ceil((d - Date.now()) / 1000))}s`;
  }
}

function middle(view) {
  const info = [];
  if (view.landlord >= 0 || view.bid) info.push(h("span.bid", `Bid ${view.bid || "—"}`));
  info.push(h("span.mult#multiplier", `×${view.multiplier}`));
  return h("div.middle",
    h("div.kitty", h("span.label", "Bottom cards"),
      view.kitty.length ? cardRow(view.kitty, "small") : h("span.hidden-cards", "🂠 🂠 🂠")),
    h("div.info", info),
    h("div.lastplay#lastplay",
      view.last.length
        ? [h("div.label", `${nameOf(view, view.lastSeat)}: ${C.describe(view.lastCombo)}`), cardRow(view.last)]
        : h("div.label", view.phase === "PLAYING" ? (view.turn === view.mySeat ? "Your lead" : "New round") : "")));
}

function cardEl(c, size, attrs) {
  return h(`div.card${size ? "." + size : ""}${C.isRed(c) ? ".red" : ""}${c >= 52 ? ".joker" : ""}`,
    { dataset: { card: String(c) }, title: C.cardText(c), ...attrs },
    h("span.rank", C.label(c)), h("span.suit", c >= 52 ? "★" : C.suitOf(c)));
}

function cardRow(cards, size) {
  return h("div.cards", C.sortHand(cards).map((c) => cardEl(c, size)));
}

function hand(view, act) {
  return h("div.hand#hand",
    C.sortHand(view.hand).map((c) => cardEl(c, "", {
      class: `card${C.isRed(c) ? " red" : ""}${c >= 52 ? " joker" : ""}${act.sel.has(c) ? " selected" : ""}`,
      onclick: () => act.toggle(c),
    })));
}

function actions(view, act) {
  const bar = h("div.actions#actions");
  if (view.over || view.phase === "WAITING") {
    const me = view.seats.find((s) => s.seat === view.mySeat);
    bar.append(
      me && me.ready ? h("span.note", "Waiting for the others…") : h("button.primary#ready", { onclick: act.ready }, view.over ? "Play again" : "Ready"),
      h("button#stand", { onclick: act.stand }, "Stand up"),
      h("button#leave", { onclick: act.leave }, "Leave room"));
    return bar;
  }
  if (!view.myTurn) {
    bar.append(h("span.note", `Waiting for ${nameOf(view, view.turn)}…`));
    return bar;
  }
  if (view.phase === "BIDDING") {
    bar.append(h("span.note", "Your bid:"));
    for (let b = 1; b <= 3; b++) {
      bar.append(h("button.primary", { id: `bid${b}`, disabled: b <= view.bid, onclick: () => act.bid(b) }, `${b}`));
    }
    bar.append(h("button#bid0", { onclick: () => act.bid(0) }, "No bid"));
    return bar;
  }
  const chosen = [...act.sel];
  const prev = view.toBeat;
  const res = C.check(chosen, prev);
  const status = h("span.check#check", { class: res.ok ? "check ok" : "check bad" },
    chosen.length ? (res.ok ? C.describe(res.options[0]) : res.why) : prev ? `Beat ${C.describe(prev)} or pass` : "Your lead: select cards");
  bar.append(status);
  if (res.ok && res.options.length > 1) {
    // The same cards read two ways: the player says which one they play.
    bar.append(h("span.readings#readings", "Play as:",
      res.options.map((o, i) => h("button.reading", { dataset: { reading: String(i) }, onclick: () => act.play(chosen, o) }, C.describe(o)))));
  } else {
    bar.append(h("button.primary#play", { disabled: !res.ok, onclick: () => act.play(chosen, res.options[0]) }, "Play"));
  }
  bar.append(h("button#pass", { disabled: !prev, title: prev ? "" : "the leader must play", onclick: act.pass }, "Pass"));
  bar.append(h("button#clear", { disabled: !chosen.length, onclick: act.clear }, "Clear"));
  return bar;
}

function settlementNote(o) {
  switch (o.settlement) {
    case "SETTLED": return null;
    case "SETTLEMENT_PENDING": return h("p.note#settlement", "Coins pending: the result is kept and paid as soon as the database answers.");
    case "SETTLEMENT_FAILED": return h("p.error#settlement", "This game could not be paid: it does not count.");
    default: return h("p.note#settlement", "A friendly game: this region keeps no coins.");
  }
}

function overBox(view, act) {
  const o = view.over;
  const rated = o.settlement === "SETTLED" || o.settlement === "SETTLEMENT_PENDING";
  const won = o.kind === "GAME_OVER" && (o.seat === view.landlord) === (view.mySeat === view.landlord);
  const title = o.kind === "ESCAPE" ? `${nameOf(view, o.seat)} left the game`
    : won ? "You win!" : "You lose";
  return h("div.over#gameover", { role: "dialog", "aria-label": "game over" },
    h("h2", title),
    h("p", o.kind === "GAME_OVER" ? `${nameOf(view, o.seat)} played out (${o.seat === view.landlord ? "the landlord" : "the farmers"} win) · ×${o.multiplier}` : `×${o.multiplier}`),
    h("table.scores",
      h("tr", h("th", "Player"), h("th", "Role"), h("th", "Score"), rated ? h("th", "Coins") : null),
      [0, 1, 2].map((s) => h("tr", { class: s === view.mySeat ? "mine" : null },
        h("td", nameOf(view, s)), h("td", s === view.landlord ? "Landlord" : "Farmer"),
        h("td", { class: (o.scores[s] || 0) >= 0 ? "plus" : "minus" }, (o.scores[s] > 0 ? "+" : "") + (o.scores[s] || 0)),
        rated ? h("td.num.balance", o.balances.length ? String(o.balances[s]) : "…") : null))),
    settlementNote(o),
    h("p.fair#fairness", { class: o.fair.ok ? "fair ok" : "fair bad", title: o.fair.why },
      o.fair.ok ? "✔ Fair deal: verified" : "✘ Fair deal: NOT verified", h("small", ` — ${o.fair.why}`)),
    h("div.buttons",
      h("button.primary#again", { onclick: act.ready }, "Play again"),
      h("button", { onclick: act.stand }, "Stand up"),
      h("button", { onclick: act.leave }, "Leave room")));
}
