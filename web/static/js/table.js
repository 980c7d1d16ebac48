// One seat's view of a Dou Dizhu table, kept from TableState and GameEvent
// pushes (as client.TableView in Go), and its rendering.
import * as C from "./cards.js";
import { fromBase64, verify } from "./fair.js";

export const PHASE = { WAITING: "WAITING", BIDDING: "BIDDING", PLAYING: "PLAYING" };

export class TableView {
  constructor(st) { this.reset(st); }

  // reset loads a full TableState (sit down, resume).
  reset(st) {
    this.room = st.room;
    this.table = st.table || 0;
    this.mySeat = st.mySeat || 0;
    this.seats = (st.seats || []).map((s) => ({ seat: s.seat || 0, account: s.account || "", ready: !!s.ready, connected: !!s.connected }));
    this.phase = st.phase || PHASE.WAITING;
    this.turn = st.turn || 0;
    this.hand = C.decodeCards(st.hand);
    this.cardsLeft = st.cardsLeft && st.cardsLeft.length ? st.cardsLeft.map(Number) : [0, 0, 0];
    this.landlord = st.landlord ?? -1;
    this.kitty = C.decodeCards(st.kitty);
    this.lastSeat = st.lastPlaySeat ?? -1;
    this.last = C.decodeCards(st.lastPlay);
    this.lastCombo = C.comboFromWire(st.lastCombo);
    if (this.last.length && !this.lastCombo) this.lastCombo = C.readings(this.last)[0] || null;
    this.bid = st.bid || 0;
    this.moveNo = st.moveNo || 0;
    this.deadline = Number(st.deadlineUnixMs || 0);
    this.multiplier = Math.max(1, this.bid);
    this.said = [null, null, null]; // each seat's latest action, shown by its place
    this.over = null;
    this.passes = 0;
    // What the fairness check needs: the commitment, this seat's hand of
    // each deal, the kitty. A page that joins mid-game saw no DEAL: it can
    // check the seed against the commitment only. A resume of the same game
    // at the same seat keeps what this page saw before the drop.
    const seen = this.fair;
    this.fair = seen && seen.gameId && seen.gameId === st.gameId && seen.seat === this.mySeat ? seen
      : { gameId: st.gameId || "", commitment: fromBase64(st.dealCommitment), seat: this.mySeat, hands: [], kitty: [] };
  }

  get playing() { return this.phase === PHASE.BIDDING || this.phase === PHASE.PLAYING; }
  get myTurn() { return this.playing && !this.over && this.turn === this.mySeat; }
  // the combination to beat, or null when the seat to act leads
  get toBeat() { return this.last.length ? this.lastCombo : null; }

  // apply folds one event in; it returns a line for the game log, or "".
  apply(ev) {
    const moveNo = ev.moveNo || 0;
    if (moveNo <= this.moveNo) return "";
    this.moveNo = moveNo;
    const seat = ev.seat || 0;
    const cards = C.decodeCards(ev.cards);
    if (ev.multiplier) this.multiplier = ev.multiplier;
    switch (ev.kind) {
      case "DEAL":
        this.hand = cards;
        this.phase = PHASE.BIDDING;
        this.landlord = -1;
        this.bid = 0;
        this.kitty = [];
        this.last = [];
        this.lastCombo = null;
        this.lastSeat = -1;
        this.passes = 0;
        this.cardsLeft = [17, 17, 17];
        this.said = [null, null, null];
        this.over = null;
        this.multiplier = 1;
        if (ev.gameId !== this.fair.gameId) {
          this.fair = { gameId: ev.gameId || "", commitment: fromBase64(ev.dealCommitment), seat: this.mySeat, hands: [], kitty: [] };
        }
        this.fair.hands.push(cards.slice());
        return `deal: ${cards.map(C.cardText).join(" ")}`;
      case "BID":
        this.bid = Math.max(this.bid, ev.bid || 0);
        this.said[seat] = ev.bid ? `bids ${ev.bid}` : "no bid";
        return `seat ${seat} ${ev.bid ? "bids " + ev.bid : "passes the bid"}${ev.auto ? " (auto)" : ""}`;
      case "REDEAL":
        this.said = [null, null, null];
        return "everyone passed: redeal";
      case "LANDLORD":
        this.landlord = seat;
        this.phase = PHASE.PLAYING;
        this.kitty = cards;
        this.fair.kitty = cards.slice();
        this.bid = ev.bid || this.bid;
        this.cardsLeft[seat] += cards.length;
        if (seat === this.mySeat) this.hand = this.hand.concat(cards);
        this.said = [null, null, null];
        return `seat ${seat} is the landlord at ${this.bid}; bottom cards ${cards.map(C.cardText).join(" ")}`;
      case "PLAY": {
        if (seat === this.mySeat) this.hand = this.hand.filter((c) => !cards.includes(c));
        this.cardsLeft[seat] = Math.max(0, this.cardsLeft[seat] - cards.length);
        this.last = cards;
        this.lastSeat = seat;
        this.lastCombo = C.comboFromWire(ev.combo) || C.readings(cards)[0] || null;
        this.passes = 0;
        this.said[seat] = { cards, combo: this.lastCombo };
        return `seat ${seat} plays ${cards.map(C.cardText).join(" ")} — ${C.describe(this.lastCombo)}${ev.auto ? " (auto)" : ""}`;
      }
      case "PASS":
        this.said[seat] = "pass";
        if (++this.passes >= 2) {
          this.last = [];
          this.lastCombo = null;
          this.passes = 0;
        }
        return `seat ${seat} passes${ev.auto ? " (auto)" : ""}`;
      case "TURN":
        this.turn = seat;
        this.deadline = Number(ev.deadlineUnixMs || 0);
        // The seat about to act clears what it said last round.
        if (this.phase === PHASE.PLAYING) this.said[seat] = null;
        return "";
      case "GAME_OVER":
      case "ESCAPE": {
        const scores = (ev.scores || []).map(Number);
        this.fair.seed = fromBase64(ev.dealSeed);
        this.over = { kind: ev.kind, seat, scores, multiplier: ev.multiplier || this.multiplier, gameId: ev.gameId || "",
          // settlement: SETTLED with each seat's new balance, PENDING (paid
          // later: a Settled push follows), or absent (an unrated game).
          settlement: ev.settlement || "", balances: (ev.balances || []).map(Number), fair: verify(this.fair) };
        this.phase = PHASE.WAITING;
        for (const s of this.seats) s.ready = false;
        return ev.kind === "ESCAPE"
          ? `seat ${seat} escaped: scores ${scores.join(", ")}`
          : `GAME OVER: seat ${seat} wins (${seat === this.landlord ? "landlord" : "farmers"}), ×${this.over.multiplier}, scores ${scores.join(", ")}` +
            (this.over.balances.length ? `, balances ${this.over.balances.join(", ")}` : "") +
            `; fair deal ${this.over.fair.ok ? "verified" : "NOT verified: " + this.over.fair.why}`;
      }
    }
    return "";
  }

  // settled folds in a Settled push: a pending game's balances, committed.
  settled(msg) {
    if (!this.over || msg.gameId !== this.over.gameId) return "";
    this.over.settlement = "SETTLED";
    this.over.balances = (msg.balances || []).map(Number);
    return `settled: balances ${this.over.balances.join(", ")}`;
  }

  // seatEvent applies a RoomEvent of this table (sit, stand, ready, …).
  seatEvent(e) {
    const seat = e.seat || 0;
    const s = this.seats.find((x) => x.seat === seat);
    if (!s) return;
    switch (e.kind) {
      case "SIT": s.account = e.account; s.ready = false; s.connected = true; break;
      case "STAND": case "LEAVE": s.account = ""; s.ready = false; break;
      case "READY": s.ready = true; break;
      case "DISCONNECT": s.connected = false; break;
      case "RECONNECT": s.connected = true; break;
    }
  }
}
