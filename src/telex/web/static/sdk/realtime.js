// realtime.js — the `/realtime` WebSocket (docs/realtime.md): one per client, shared by chat and
// calling, resuming from its last cursor whenever it drops.
//
//   connect ─► auth {token, cursor} (first frame; never in the URL) ─► ready ─► events …
//      ▲  resumable close (1000/1001/1006/1011/1012/1013/4008/4408)        │
//      │  or silence for 3 × heartbeatSeconds (a dead link sends no close) │
//      └──────────── backoff 100 ms → 5 s, afresh after a session that got ready
//   4001 (token refused): forceRefresh the credential and reconnect; without a refresher → "error".
//   4400 with a cursor: the server does not know it — drop it and reconnect from "now".
//   A refreshed token is sent as a new auth frame on the open socket, so it never closes for it.
//   Several endpoints (the nodes of one deployment): stay on one while it works; when a session
//   ends or cannot open, resume on the next with the cursor at once, and back off only after every
//   endpoint has failed in turn.
//   A frame it cannot take never stops it or makes it loop: a "skipped" frame (an event too large
//   for the server to send whole; its cursor, size and the ids to fetch it by) or a malformed one
//   is passed over and reported ("skipped"), and the cursor moves on.
//
// Emits: "ready" {userId, cursor, resumed}, "event" {type, data, cursor},
//        "skipped" {type, cursor, reason: "tooLarge"|"malformed", bytes, ref},
//        "disconnected" {code, reason}, "error" (TelexError; the connection stopped for good).

import { Emitter } from "./events.js";
import { TelexError } from "./errors.js";

const RESUMABLE = new Set([1000, 1001, 1006, 1011, 1012, 1013, 4008, 4408]);
const UNAUTHORIZED = 4001;
const BAD_REQUEST = 4400;
const FIRST_READY_TIMEOUT_MS = 20000;
/** Send the refreshed token this long before the current one expires. */
const TOKEN_SWAP_LEAD_MS = 60 * 1000;

export function realtimeUrl(endpoint) {
  const base = String(endpoint).replace(/\/+$/, "");
  return base.replace(/^http(s?):/, "ws$1:") + "/realtime";
}

export class RealtimeConnection extends Emitter {
  /**
   * @param {string|string[]} endpoint one endpoint, or every node's
   * @param {import("./credential.js").AccessTokenCredential} credential
   * @param {{cursor?: string|null, maxBackoffMs?: number, WebSocket?: typeof WebSocket}} [options]
   */
  constructor(endpoint, credential, { cursor = null, maxBackoffMs = 5000, WebSocket: WS } = {}) {
    super();
    this.urls = (Array.isArray(endpoint) ? endpoint : [endpoint]).map(realtimeUrl);
    if (this.urls.length === 0) throw new TypeError("RealtimeConnection needs at least one endpoint");
    this._current = 0;
    this._failedInRow = 0; // endpoints tried in a row without a session getting ready
    this.credential = credential;
    this.cursor = cursor; // last cursor processed; sent on every (re)connect
    this.userId = null;
    this.connected = false;
    this.connects = 0; // sessions that reached "ready" (1 + resumptions)
    this._WS = WS ?? globalThis.WebSocket;
    this._maxBackoff = maxBackoffMs;
    this._backoff = 100;
    this._ws = null;
    this._started = false;
    this._stopped = false;
    this._failure = null;
    this._watchdog = null;
    this._swapTimer = null;
    this._retryTimer = null;
    this._idleMs = 45000;
    this._onTokenRefreshed = ({ token }) => this._sendAuth(token);
  }

  /** The realtime URL in use (or to be tried next). */
  get url() {
    return this.urls[this._current];
  }

  /** Connect (once); resolves when the gateway is ready, rejects if it refuses us for good. */
  connect() {
    if (this._failure) return Promise.reject(this._failure);
    if (this.connected) return Promise.resolve();
    if (!this._started) {
      this._started = true;
      this._stopped = false;
      this.credential.on?.("tokenRefreshed", this._onTokenRefreshed);
      this._open();
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        cleanup();
        reject(new TelexError("RealtimeUnavailable", "The realtime gateway did not answer in time."));
      }, FIRST_READY_TIMEOUT_MS);
      const onReady = () => {
        cleanup();
        resolve();
      };
      const onError = (err) => {
        cleanup();
        reject(err);
      };
      const cleanup = () => {
        clearTimeout(timer);
        this.off("ready", onReady);
        this.off("error", onError);
      };
      this.on("ready", onReady);
      this.on("error", onError);
    });
  }

  /** Close for good (no reconnect). */
  close() {
    this._stopped = true;
    this._started = false;
    this.credential.off?.("tokenRefreshed", this._onTokenRefreshed);
    this._clearTimers();
    clearTimeout(this._retryTimer);
    const ws = this._ws;
    this._ws = null;
    if (ws) {
      ws.onclose = ws.onmessage = ws.onerror = ws.onopen = null;
      try {
        ws.close(1000);
      } catch {
        // already closed
      }
    }
    if (this.connected) {
      this.connected = false;
      this.emit("disconnected", { code: 1000, reason: "closed by the client" });
    }
  }

  /** Abort the socket as a network loss would (for tests of resumption). */
  dropConnection() {
    this._lost(1006, "dropped by the client");
  }

  ping() {
    this._send({ type: "ping" });
  }

  // internals ---------------------------------------------------------------------------------
  async _open(forceRefresh = false) {
    if (this._stopped) return;
    let token;
    try {
      ({ token } = await this.credential.getToken({ forceRefresh }));
    } catch (err) {
      this._fail(err instanceof TelexError ? err : new TelexError("Unauthorized", String(err)));
      return;
    }
    if (this._stopped) return;
    let ws;
    try {
      ws = new this._WS(this.url);
    } catch (err) {
      this._fail(new TelexError("RealtimeUnavailable", `Cannot open ${this.url}: ${err.message}`, { cause: err }));
      return;
    }
    this._ws = ws;
    ws.onopen = () => {
      ws.send(JSON.stringify({ type: "auth", token, cursor: this.cursor }));
      this._arm(10000); // the answer to auth must come soon
    };
    ws.onmessage = (message) => this._onFrame(message.data);
    ws.onerror = () => {}; // always followed by close, which carries what we need
    ws.onclose = (e) => this._onClose(e.code, e.reason);
  }

  _onFrame(text) {
    let frame;
    try {
      frame = JSON.parse(text);
      if (frame === null || typeof frame !== "object") throw new TypeError("not an object");
      if (frame.type === "event" && (typeof frame.event !== "string" || typeof frame.cursor !== "string")) {
        throw new TypeError("an event frame without event and cursor");
      }
    } catch {
      this._arm(this._idleMs);
      this.emit("skipped", { type: null, cursor: null, reason: "malformed", bytes: String(text).length, ref: {} });
      return;
    }
    this._arm(this._idleMs);
    switch (frame.type) {
      case "ready": {
        this._idleMs = 3 * 1000 * Number(frame.heartbeatSeconds || 15);
        this._arm(this._idleMs);
        if (this.cursor === null && frame.cursor != null) this.cursor = frame.cursor;
        this.userId = frame.userId;
        this.connected = true;
        this.connects += 1;
        this._backoff = 100; // this session got through: back off afresh next time
        this._failedInRow = 0;
        this._scheduleTokenSwap();
        this.emit("ready", { userId: frame.userId, cursor: this.cursor, resumed: this.connects > 1 });
        break;
      }
      case "event":
        this.cursor = frame.cursor;
        this.emit("event", { type: frame.event, data: frame.data ?? {}, cursor: frame.cursor });
        break;
      case "skipped":
        if (typeof frame.cursor === "string") this.cursor = frame.cursor;
        this.emit("skipped", {
          type: frame.event ?? null,
          cursor: frame.cursor ?? null,
          reason: "tooLarge",
          bytes: frame.bytes ?? 0,
          ref: frame.ref ?? {},
        });
        break;
      case "error":
        this._lastError = frame;
        break;
      default: // heartbeat, pong: the watchdog was re-armed above
    }
  }

  _onClose(code, reason) {
    if (this._ws === null) return;
    this._ws = null;
    this._clearTimers();
    const wasConnected = this.connected;
    this.connected = false;
    if (wasConnected) this.emit("disconnected", { code, reason });
    if (this._stopped) return;
    if (code === UNAUTHORIZED) {
      if (this.credential.canRefresh) return this._retry(true);
      return this._fail(
        new TelexError("Unauthorized", "The realtime gateway refused the token (expired or revoked).", {
          status: 401,
        }),
      );
    }
    if (code === BAD_REQUEST && this.cursor !== null) {
      this.cursor = null; // a cursor this server does not know: resume from now
      return this._retry(false);
    }
    if (RESUMABLE.has(code)) return this._retry(false);
    this._fail(
      new TelexError("RealtimeClosed", `The realtime gateway closed the connection (${code}) ${reason || ""}`.trim()),
    );
  }

  _lost(code, reason) {
    const ws = this._ws;
    if (!ws) return;
    ws.onclose = ws.onmessage = ws.onerror = ws.onopen = null;
    try {
      ws.close();
    } catch {
      // ignore
    }
    this._onClose(code, reason);
    this._ws = null;
  }

  _retry(forceRefresh) {
    if (forceRefresh) {
      // the same node, with a new token
      const delay = this._backoff;
      this._backoff = Math.min(this._backoff * 2, this._maxBackoff);
      this._retryTimer = setTimeout(() => this._open(true), delay);
      return;
    }
    this._current = (this._current + 1) % this.urls.length;
    this._failedInRow += 1;
    let delay = 0;
    if (this._failedInRow % this.urls.length === 0) {
      // every endpoint had its turn: wait a little before the next round
      delay = this._backoff;
      this._backoff = Math.min(this._backoff * 2, this._maxBackoff);
    }
    this._retryTimer = setTimeout(() => this._open(forceRefresh), delay);
  }

  _fail(err) {
    this._failure = err;
    this._stopped = true;
    this._started = false;
    this._clearTimers();
    this.emit("error", err);
  }

  _arm(ms) {
    clearTimeout(this._watchdog);
    // Silence this long means the link is dead without a close frame: resume on a new socket.
    this._watchdog = setTimeout(() => this._lost(1006, "heartbeat missed"), ms);
  }

  _scheduleTokenSwap() {
    clearTimeout(this._swapTimer);
    const expires = this.credential.expiresOnTimestamp;
    if (!this.credential.canRefresh || !Number.isFinite(expires) || !expires) return;
    const delay = Math.max(1000, expires - Date.now() - TOKEN_SWAP_LEAD_MS);
    this._swapTimer = setTimeout(async () => {
      try {
        await this.credential.getToken(); // refreshes in its window; "tokenRefreshed" sends it
      } catch {
        // the server will close with 4001 and we reconnect with a forced refresh
      }
    }, Math.min(delay, 2 ** 31 - 1));
  }

  _sendAuth(token) {
    if (this.connected) {
      this._send({ type: "auth", token });
      this._scheduleTokenSwap();
    }
  }

  _send(frame) {
    if (this._ws && this._ws.readyState === 1) this._ws.send(JSON.stringify(frame));
  }

  _clearTimers() {
    clearTimeout(this._watchdog);
    clearTimeout(this._swapTimer);
  }
}
