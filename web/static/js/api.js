// Login and the hall's HTTP API. The ticket lives in sessionStorage (one
// tab, gone with it) and travels as "Authorization: Bearer", except on the
// watch WebSocket, where browsers cannot set headers: see watchProtocols.

const KEY = "gamehall.session";

export class APIError extends Error {
  constructor(status, code, message, retryAfter) {
    super(message || code || `HTTP ${status}`);
    this.status = status;
    this.code = code || "";
    this.retryAfter = retryAfter || 0;
  }
}

async function errorOf(resp) {
  let code = "", msg = "";
  try {
    const body = await resp.json();
    const e = body.error || body.redirect || body;
    code = e.code || "";
    msg = e.message || "";
  } catch { /* not JSON */ }
  return new APIError(resp.status, code, msg || resp.statusText, Number(resp.headers.get("Retry-After")) || 0);
}

// session: {account, session, ticket, expiresAt, hall} or null.
export function session() {
  try {
    const s = JSON.parse(sessionStorage.getItem(KEY) || "null");
    if (s && Date.parse(s.expiresAt) > Date.now() + 10000) return s;
  } catch { /* ignore */ }
  return null;
}

export function forget() { sessionStorage.removeItem(KEY); }

// login asks the hall's login service for a ticket. password "" logs in
// as a guest (where the hall allows guests).
export async function login(account, password) {
  const body = { account };
  if (password) body.password = password;
  else {
    // A guest's name in use is refused to anyone but its holder, who names
    // the session of its last login (kept even after its ticket expired).
    try {
      const last = JSON.parse(sessionStorage.getItem(KEY) || "null");
      if (last && last.account === account && last.session) body.session = last.session;
    } catch { /* ignore */ }
  }
  const resp = await fetch("/v1/login", {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
  });
  if (!resp.ok) throw await errorOf(resp);
  const r = await resp.json();
  // The login answer lists the hall replicas, least loaded first.
  const hall = (r.halls && r.halls[0]) || location.origin;
  const s = { account: r.account, session: r.session, ticket: r.ticket, expiresAt: r.expiresAt, hall: trimSlash(hall) };
  sessionStorage.setItem(KEY, JSON.stringify(s));
  return s;
}

// signup creates an account (the login's name rules and password policy;
// a refusal says which rule).
export async function signup(account, password) {
  const resp = await fetch("/v1/accounts", {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ account, password }),
  });
  if (!resp.ok) throw await errorOf(resp);
  return resp.json();
}

export async function logout(s) {
  forget();
  try {
    await fetch("/v1/logout", { method: "POST", headers: { Authorization: "Bearer " + s.ticket } });
  } catch { /* the ticket expires anyway */ }
}

const trimSlash = (u) => u.replace(/\/+$/, "");

// get fetches a hall path. A busy hall answers 307 to a peer: fetch follows
// it, and when the peer is another origin the browser drops the
// Authorization header, so the request is repeated there with it. The
// session's hall moves to the peer (the watch stream goes there too).
export async function get(s, path) {
  const headers = { Authorization: "Bearer " + s.ticket };
  let resp = await fetch(s.hall + path, { headers, cache: "no-store" });
  if (resp.redirected) {
    const moved = new URL(resp.url).origin;
    if (moved !== new URL(s.hall).origin) {
      s.hall = moved;
      sessionStorage.setItem(KEY, JSON.stringify(s));
      if (resp.status === 401) resp = await fetch(s.hall + path, { headers, cache: "no-store" });
    }
  }
  if (!resp.ok) throw await errorOf(resp);
  return resp.json();
}

// watchURL is the WebSocket URL of a page of a region's watch stream. The
// ticket is not in it (URLs end up in logs): see watchProtocols.
export function watchURL(s, region, page, epoch, since) {
  const u = new URL(s.hall + "/v1/regions/" + encodeURIComponent(region) + "/watch");
  u.protocol = u.protocol === "https:" ? "wss:" : "ws:";
  u.searchParams.set("page", String(page));
  if (epoch) {
    u.searchParams.set("epoch", epoch);
    u.searchParams.set("since", String(since));
  }
  return u.toString();
}

// watchProtocols are the WebSocket subprotocols a watch offers: the
// stream's, which the hall answers with, and the ticket's, which is how a
// browser (no headers on a WebSocket) sends it.
export function watchProtocols(s) {
  return ["gamehall.watch", "gamehall.ticket." + s.ticket];
}
