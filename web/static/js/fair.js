// The fairness check (docs/protocol.md, "Fair deals"): the seed GAME_OVER
// reveals must hash to the commitment the DEAL carried, and the deals it
// gives must be the hands and kitty this seat saw. SHA-256 is written out
// here because crypto.subtle exists only on https or localhost pages.

const K = new Uint32Array([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
]);

// sha256 of bytes (Uint8Array) → Uint8Array(32).
export function sha256(bytes) {
  const n = bytes.length;
  const padded = new Uint8Array(((n + 9 + 63) >> 6) << 6);
  padded.set(bytes);
  padded[n] = 0x80;
  const dv = new DataView(padded.buffer);
  dv.setUint32(padded.length - 8, Math.floor(n / 0x20000000));
  dv.setUint32(padded.length - 4, (n << 3) >>> 0);
  const H = new Uint32Array([0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19]);
  const w = new Uint32Array(64);
  const rotr = (x, r) => (x >>> r) | (x << (32 - r));
  for (let off = 0; off < padded.length; off += 64) {
    for (let i = 0; i < 16; i++) w[i] = dv.getUint32(off + 4 * i);
    for (let i = 16; i < 64; i++) {
      const s0 = rotr(w[i - 15], 7) ^ rotr(w[i - 15], 18) ^ (w[i - 15] >>> 3);
      const s1 = rotr(w[i - 2], 17) ^ rotr(w[i - 2], 19) ^ (w[i - 2] >>> 10);
      w[i] = (w[i - 16] + s0 + w[i - 7] + s1) >>> 0;
    }
    let [a, b, c, d, e, f, g, h] = H;
    for (let i = 0; i < 64; i++) {
      const t1 = (h + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) + K[i] + w[i]) >>> 0;
      const t2 = ((rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c))) >>> 0;
      h = g; g = f; f = e; e = (d + t1) >>> 0; d = c; c = b; b = a; a = (t1 + t2) >>> 0;
    }
    H[0] += a; H[1] += b; H[2] += c; H[3] += d; H[4] += e; H[5] += f; H[6] += g; H[7] += h;
  }
  const out = new Uint8Array(32);
  const ov = new DataView(out.buffer);
  H.forEach((x, i) => ov.setUint32(4 * i, x));
  return out;
}

export const hex = (b) => [...b].map((x) => x.toString(16).padStart(2, "0")).join("");

// fromBase64 decodes protojson bytes.
export function fromBase64(s) {
  const bin = atob(s || "");
  return Uint8Array.from(bin, (c) => c.charCodeAt(0));
}

// stream yields the seed's uint32s: block k = SHA-256(seed ‖ k as 8 bytes BE).
function stream(seed) {
  let block = null, pos = 8, k = 0;
  const input = new Uint8Array(seed.length + 8);
  input.set(seed);
  const dv = new DataView(input.buffer);
  return () => {
    if (pos === 8) {
      dv.setUint32(seed.length, Math.floor(k / 0x100000000));
      dv.setUint32(seed.length + 4, k >>> 0);
      k++;
      block = new DataView(sha256(input).buffer);
      pos = 0;
    }
    return block.getUint32(4 * pos++);
  };
}

// deals returns the first count deals of seed: {hands: [[17] × 3], kitty: [3]}.
export function deals(seed, count) {
  const next = stream(seed);
  const uniform = (n) => {
    const limit = 0x100000000 - (0x100000000 % n);
    for (;;) {
      const x = next();
      if (x < limit) return x % n;
    }
  };
  const out = [];
  for (let d = 0; d < count; d++) {
    const deck = Array.from({ length: 54 }, (_, i) => i);
    for (let i = 53; i >= 1; i--) {
      const j = uniform(i + 1);
      [deck[i], deck[j]] = [deck[j], deck[i]];
    }
    const sorted = (a) => a.sort((x, y) => x - y);
    out.push({ hands: [0, 1, 2].map((s) => sorted(deck.slice(17 * s, 17 * s + 17))), kitty: sorted(deck.slice(51)) });
  }
  return out;
}

const same = (a, b) => a.length === b.length && [...a].sort((x, y) => x - y).every((c, i) => c === [...b].sort((x, y) => x - y)[i]);

// verify checks a finished game as one seat saw it: fair = {commitment,
// seed (Uint8Arrays), seat, hands: the seat's hand of each deal, kitty}.
// It returns {ok, why}.
export function verify(fair) {
  if (!fair || !fair.commitment.length) return { ok: false, why: "the deal carried no commitment" };
  if (!fair.seed.length) return { ok: false, why: "GAME_OVER revealed no seed" };
  if (hex(sha256(fair.seed)) !== hex(fair.commitment)) return { ok: false, why: "the seed does not hash to the deal's commitment" };
  if (!fair.hands.length) return { ok: true, why: "SHA-256(seed) = the commitment (this page joined mid-game: hands not compared)" };
  const ds = deals(fair.seed, fair.hands.length);
  for (let i = 0; i < fair.hands.length; i++) {
    if (!same(ds[i].hands[fair.seat], fair.hands[i])) return { ok: false, why: `deal ${i + 1}: your hand is not the seed's` };
  }
  if (fair.kitty.length && !same(ds[ds.length - 1].kitty, fair.kitty)) return { ok: false, why: "the bottom cards are not the seed's" };
  return { ok: true, why: `SHA-256(seed) = commitment ${hex(fair.commitment).slice(0, 12)}…; ${fair.hands.length > 1 ? fair.hands.length + " deals" : "the deal"} and bottom cards match` };
}
