// A player's connection to a shard: the gamehall protocol's Envelopes as
// JSON text over WebSocket (subprotocol gamehall.v1.json, docs/protocol.md).
// request() resolves with the answer to one request (or rejects with a
// ShardError); pushes go to onPush.

export const SUBPROTOCOL = "gamehall.v1.json";
export const CLIENT_VERSION = "gamehall/1 web";

export class ShardError extends Error {
  constructor(code, message, rooms) {
    super(message || code);
    this.code = code;
    this.rooms = rooms || [];
  }
}

export class ShardConn {
  // onPush(envelope); onClose(reason) once, when the connection ends.
  constructor(room, onPush, onClose) {
    this.url = `${location.protocol === "https:" ? "wss" : "ws"}://${hostPort(room.address, room.port)}/ws`;
    this.onPush = onPush;
    this.onClose = onClose;
    this.seq = 0;
    this.pending = new Map();
    this.closed = false;
  }

  // open connects and says Hello; it resolves with the Welcome.
  open(ticket) {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(this.url, [SUBPROTOCOL]);
      this.ws = ws;
      ws.onopen = () => {
        if (ws.protocol !== SUBPROTOCOL) {
          reject(new ShardError("UNSUPPORTED_VERSION", "the game server does not speak " + SUBPROTOCOL));
          ws.close();
          return;
        }
        this.request({ hello: { ticket, clientVersion: CLIENT_VERSION } }).then((env) => {
          this.welcome = env.welcome;
          const every = Math.max(1000, (env.welcome.pingIntervalMs || 20000) * 0.8);
          this.pinger = setInterval(() => this.send({ ping: { clientTimeUnixNano: String(Date.now() * 1e6) } }), every);
          resolve(env.welcome);
        }, reject);
      };
      ws.onmessage = (ev) => this.receive(JSON.parse(ev.data));
      ws.onclose = (ev) => {
        const why = ev.reason || (this.kicked ? "kicked: " + this.kicked : `connection closed (${ev.code})`);
        this.finish(why);
        reject(new ShardError("UNAVAILABLE", "could not reach the game server: " + why));
      };
    });
  }

  receive(env) {
    const seq = env.seq || 0;
    if (env.kicked) this.kicked = env.kicked.reason;
    if (env.pong) return;
    if (seq && this.pending.has(seq)) {
      const { resolve, reject } = this.pending.get(seq);
      this.pending.delete(seq);
      if (env.error) reject(new ShardError(env.error.code, env.error.message, env.error.rooms));
      else resolve(env);
      return;
    }
    if (env.error) {
      // An error with no request to answer (a malformed frame): surface it.
      this.onPush({ error: env.error });
      return;
    }
    this.onPush(env);
  }

  send(msg) {
    if (this.closed || !this.ws || this.ws.readyState !== WebSocket.OPEN) return false;
    this.ws.send(JSON.stringify(msg));
    return true;
  }

  request(msg) {
    return new Promise((resolve, reject) => {
      const seq = ++this.seq;
      this.pending.set(seq, { resolve, reject });
      if (!this.send({ seq, ...msg })) {
        this.pending.delete(seq);
        reject(new ShardError("UNAVAILABLE", "not connected to the game server"));
      }
    });
  }

  close() {
    if (this.ws) this.ws.close(1000, "bye");
    this.finish("closed by the page");
  }

  finish(why) {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.pinger);
    for (const { reject } of this.pending.values()) reject(new ShardError("UNAVAILABLE", why));
    this.pending.clear();
    if (this.onClose) this.onClose(why);
  }
}

function hostPort(host, port) {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}
