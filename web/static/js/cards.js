// Cards and combinations of Dou Dizhu, as game/doudizhu defines them: the
// page checks a selection before sending it and lets the player choose
// among several readings. The server decides; this only saves a round trip.
// web/cards_test.go checks readings() against the Go classifier.

export const RANKS = ["3", "4", "5", "6", "7", "8", "9", "10", "J", "Q", "K", "A", "2", "BJ", "RJ"];
const SUITS = ["♠", "♥", "♣", "♦"];
const ACE = 11, BJ = 13, RJ = 14;

// Kinds, numbered as doudizhu.Kind and the protocol's ComboKind.
export const KIND = {
  NONE: 0, SINGLE: 1, PAIR: 2, TRIPLE: 3, TRIPLE_SINGLE: 4, TRIPLE_PAIR: 5, STRAIGHT: 6,
  PAIR_STRAIGHT: 7, AIRPLANE: 8, AIRPLANE_SINGLES: 9, AIRPLANE_PAIRS: 10,
  FOUR_TWO_SINGLES: 11, FOUR_TWO_PAIRS: 12, BOMB: 13, ROCKET: 14,
};
const KIND_NAMES = ["none", "single", "pair", "triple", "triple + single", "triple + pair",
  "straight", "pair straight", "airplane", "airplane + single wings", "airplane + pair wings",
  "four + two singles", "four + two pairs", "bomb", "rocket"];
const WIRE_KINDS = ["COMBO_KIND_UNSPECIFIED", "COMBO_SINGLE", "COMBO_PAIR", "COMBO_TRIPLE",
  "COMBO_TRIPLE_SINGLE", "COMBO_TRIPLE_PAIR", "COMBO_STRAIGHT", "COMBO_PAIR_STRAIGHT",
  "COMBO_AIRPLANE", "COMBO_AIRPLANE_SINGLES", "COMBO_AIRPLANE_PAIRS", "COMBO_FOUR_TWO_SINGLES",
  "COMBO_FOUR_TWO_PAIRS", "COMBO_BOMB", "COMBO_ROCKET"];

export const rankOf = (c) => (c === 52 ? BJ : c >= 53 ? RJ : Math.floor(c / 4));
export const suitOf = (c) => (c >= 52 ? "" : SUITS[c % 4]);
export const isRed = (c) => c === 53 || (c < 52 && (c % 4 === 1 || c % 4 === 3));
export const label = (c) => (c >= 52 ? (c === 52 ? "Joker" : "JOKER") : RANKS[rankOf(c)]);
export const cardText = (c) => (c >= 52 ? RANKS[rankOf(c)] : RANKS[rankOf(c)] + suitOf(c));

// decodeCards turns the protocol's base64 bytes into card numbers.
export function decodeCards(b64) {
  if (!b64) return [];
  const s = atob(b64);
  const out = new Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

export function encodeCards(cards) {
  return btoa(String.fromCharCode(...cards));
}

// A combo is {kind, rank, length}: the main rank (lowest for sequences) and
// the units of a sequence (1 otherwise).
export function comboFromWire(c) {
  if (!c) return null;
  const kind = typeof c.kind === "number" ? c.kind : Math.max(0, WIRE_KINDS.indexOf(c.kind));
  return { kind, rank: c.rank || 0, length: c.length || 1 };
}
export const comboToWire = (c) => ({ kind: WIRE_KINDS[c.kind], rank: c.rank, length: c.length });

export function describe(c) {
  if (!c) return "";
  const name = KIND_NAMES[c.kind] || "?";
  if (c.length > 1) {
    const hi = RANKS[c.rank + c.length - 1];
    return `${name} ${RANKS[c.rank]}…${hi} (${c.length})`;
  }
  if (c.kind === KIND.ROCKET) return name;
  return `${name} of ${RANKS[c.rank]}`;
}

// readings lists every legal reading of a card set, strongest first (as
// doudizhu.ClassifyAll): empty when the cards form no combination.
export function readings(cards) {
  const n = cards.length;
  const cnt = new Array(15).fill(0);
  for (const c of cards) cnt[rankOf(c)]++;
  if (n === 0 || new Set(cards).size !== n) return [];
  const byCount = [0, 0, 0, 0, 0];
  let lo = -1, hi = -1, four = -1, three = -1;
  for (let r = 0; r < 15; r++) {
    const c = cnt[r];
    if (!c) continue;
    byCount[c]++;
    if (lo < 0) lo = r;
    hi = r;
    if (c === 4) four = r;
    if (c === 3) three = r;
  }
  const distinct = byCount[1] + byCount[2] + byCount[3] + byCount[4];
  const rocket = cnt[BJ] === 1 && cnt[RJ] === 1;
  const consecutive = hi - lo + 1 === distinct && hi <= ACE;
  const out = [];
  const add = (kind, rank, length) => out.push({ kind, rank, length });
  switch (n) {
    case 1: add(KIND.SINGLE, lo, 1); break;
    case 2:
      if (byCount[2] === 1) add(KIND.PAIR, lo, 1);
      else if (rocket) add(KIND.ROCKET, RJ, 1);
      break;
    case 3: if (byCount[3] === 1) add(KIND.TRIPLE, lo, 1); break;
    case 4:
      if (byCount[4] === 1) add(KIND.BOMB, lo, 1);
      else if (byCount[3] === 1) add(KIND.TRIPLE_SINGLE, three, 1);
      break;
    case 5: if (byCount[3] === 1 && byCount[2] === 1) add(KIND.TRIPLE_PAIR, three, 1); break;
    case 6: if (byCount[4] === 1 && !rocket) add(KIND.FOUR_TWO_SINGLES, four, 1); break;
    case 8: if (byCount[4] === 1 && byCount[2] === 2) add(KIND.FOUR_TWO_PAIRS, four, 1); break;
  }
  if (consecutive) {
    if (byCount[1] === distinct && n >= 5) add(KIND.STRAIGHT, lo, n);
    else if (byCount[2] === distinct && distinct >= 3) add(KIND.PAIR_STRAIGHT, lo, distinct);
    else if (byCount[3] === distinct && distinct >= 2) add(KIND.AIRPLANE, lo, distinct);
  }
  const window3 = (s, L) => {
    if (L < 2) return false;
    for (let r = s; r < s + L; r++) if (cnt[r] !== 3) return false;
    return true;
  };
  if (byCount[3] >= 2) {
    if (n % 4 === 0 && byCount[4] === 0 && !rocket) {
      const L = n / 4;
      for (let s = 0; s + L - 1 <= ACE; s++) if (window3(s, L)) add(KIND.AIRPLANE_SINGLES, s, L);
    }
    if (n % 5 === 0 && byCount[4] === 0 && byCount[1] === 0) {
      const L = n / 5;
      if (byCount[3] === L && byCount[2] === L) {
        for (let s = 0; s + L - 1 <= ACE; s++) if (window3(s, L)) add(KIND.AIRPLANE_PAIRS, s, L);
      }
    }
  }
  return out.sort((a, b) => (b.rank - a.rank) || (b.length - a.length) || (b.kind - a.kind));
}

// beats: may play go on prev (null: nothing to beat)?
export function beats(play, prev) {
  if (!play || play.kind === KIND.NONE) return false;
  if (play.kind === KIND.ROCKET) return !prev || prev.kind !== KIND.ROCKET;
  if (play.kind === KIND.BOMB) {
    if (!prev) return true;
    if (prev.kind === KIND.ROCKET) return false;
    if (prev.kind === KIND.BOMB) return play.rank > prev.rank;
    return true;
  }
  if (!prev || prev.kind === KIND.NONE) return true;
  return play.kind === prev.kind && play.length === prev.length && play.rank > prev.rank;
}

// check tells what a selection can be played as against prev: {ok,
// options (the readings that beat, strongest first), why}.
export function check(cards, prev) {
  if (cards.length === 0) return { ok: false, options: [], why: "select cards to play" };
  const all = readings(cards);
  if (all.length === 0) return { ok: false, options: [], why: "not a combination" };
  const options = all.filter((r) => beats(r, prev));
  if (options.length === 0) return { ok: false, options: [], why: `${describe(all[0])} does not beat ${describe(prev)}` };
  return { ok: true, options, why: "" };
}

// sortHand orders a hand for display: high ranks on the left, as players
// hold them.
export const sortHand = (cards) => [...cards].sort((a, b) => b - a);
