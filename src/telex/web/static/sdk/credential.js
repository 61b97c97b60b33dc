// credential.js — AccessTokenCredential: holds the user access token and refreshes it.
//
// Shaped like `AzureCommunicationTokenCredential` of @azure/communication-common:
//   new AccessTokenCredential({ token, tokenRefresher: async (signal) => newToken, refreshProactively })
//   await credential.getToken()  → { token, expiresOnTimestamp }
//
// Why refresh here rather than in each caller: REST, the realtime socket and the pagehide hang-up
// all need a valid token; one place decides when it is stale and collapses concurrent refreshes
// into one request to the application's token service.
//
//   getToken(): expired & no refresher ─► TokenExpired (before any request is sent)
//               within REFRESH_WINDOW & refresher ─► one shared refresh ─► "tokenRefreshed"
//   refreshProactively: a timer refreshes REFRESH_WINDOW before expiry, so a socket can swap
//   tokens ({"type":"auth"} frame) without ever closing.

import { Emitter } from "./events.js";
import { TelexError } from "./errors.js";

/** Refresh a token this long before it expires (ACS uses 10 minutes). */
const REFRESH_WINDOW_MS = 10 * 60 * 1000;
/** Never schedule a proactive refresh sooner than this after the last one (a short-lived token). */
const MIN_REFRESH_DELAY_MS = 5 * 1000;

/** The `exp` of a JWT in milliseconds since the epoch, or Infinity when it cannot be read. */
export function tokenExpiry(token) {
  try {
    const part = token.split(".")[1];
    // Telex tokens use standard base64 in the payload (the ACS SDKs decode it so); accept both.
    const b64 = part.replace(/-/g, "+").replace(/_/g, "/").padEnd(Math.ceil(part.length / 4) * 4, "=");
    const claims = JSON.parse(atob(b64));
    return typeof claims.exp === "number" ? claims.exp * 1000 : Infinity;
  } catch {
    return Infinity;
  }
}

/** The `skypeid` claim as a user id (`8:<skypeid>`), or null. */
export function tokenUserId(token) {
  try {
    const part = token.split(".")[1];
    const b64 = part.replace(/-/g, "+").replace(/_/g, "/").padEnd(Math.ceil(part.length / 4) * 4, "=");
    const claims = JSON.parse(atob(b64));
    return claims.skypeid ? `8:${claims.skypeid}` : null;
  } catch {
    return null;
  }
}

export class AccessTokenCredential extends Emitter {
  #token;
  #expiresOn;
  #refresher;
  #refreshing = null;
  #timer = null;
  #proactive;
  #disposed = false;
  #now;

  /**
   * @param {string | {token?: string, tokenRefresher?: (signal?: AbortSignal) => Promise<string>,
   *          refreshProactively?: boolean, now?: () => number}} options
   *   a token string, or ACS's options object. `now` (ms) is injectable for tests.
   */
  constructor(options) {
    super();
    const opts = typeof options === "string" ? { token: options } : { ...options };
    if (!opts.token && !opts.tokenRefresher) {
      throw new TelexError("InvalidArgument", "AccessTokenCredential needs a token or a tokenRefresher.");
    }
    this.#refresher = opts.tokenRefresher ?? null;
    this.#proactive = Boolean(opts.refreshProactively && this.#refresher);
    this.#now = opts.now ?? (() => Date.now());
    if (opts.token) this.#set(opts.token, false);
  }

  /** The current token string without refreshing (null before the first one), for keepalive use. */
  get cachedToken() {
    return this.#token ?? null;
  }

  /** Whether a refresher can give a new token (after a 401 or a 4001 close). */
  get canRefresh() {
    return Boolean(this.#refresher);
  }

  get expiresOnTimestamp() {
    return this.#expiresOn ?? 0;
  }

  /** The token's user id (from its `skypeid` claim), or null. */
  get userId() {
    return this.#token ? tokenUserId(this.#token) : null;
  }

  /**
   * A valid token: `{ token, expiresOnTimestamp }`.
   * @param {{forceRefresh?: boolean}} [options] forceRefresh: ask the refresher even if the token
   *   looks valid (after the server answered 401 or closed the socket with 4001).
   * @throws {TelexError} TokenExpired — expired and no refresher; Unauthorized — the refresher failed.
   */
  async getToken({ forceRefresh = false } = {}) {
    if (this.#disposed) throw new TelexError("Disposed", "The credential was disposed.");
    const now = this.#now();
    const stale = !this.#token || this.#expiresOn - now < REFRESH_WINDOW_MS;
    if (this.#refresher && (forceRefresh || stale)) {
      // Within the window but still valid: a failed refresh falls back to the current token.
      try {
        await this.#refresh();
      } catch (err) {
        if (!this.#token || this.#expiresOn <= this.#now() || forceRefresh) throw err;
      }
    } else if (!this.#token || this.#expiresOn <= now) {
      throw new TelexError(
        "TokenExpired",
        "The access token has expired and no tokenRefresher was given; get a new token.",
        { status: 401 },
      );
    }
    return { token: this.#token, expiresOnTimestamp: this.#expiresOn };
  }

  dispose() {
    this.#disposed = true;
    clearTimeout(this.#timer);
  }

  #refresh() {
    // One refresh at a time: every caller waiting for a token shares it.
    if (!this.#refreshing) {
      this.#refreshing = (async () => {
        let token;
        try {
          token = await this.#refresher();
        } catch (err) {
          throw err instanceof TelexError
            ? err
            : new TelexError("Unauthorized", `The token refresher failed: ${err?.message ?? err}`, {
                status: 401,
                cause: err,
              });
        }
        if (typeof token !== "string" || !token) {
          throw new TelexError("Unauthorized", "The token refresher returned no token.", { status: 401 });
        }
        this.#set(token, true);
      })().finally(() => {
        this.#refreshing = null;
      });
    }
    return this.#refreshing;
  }

  #set(token, refreshed) {
    this.#token = token;
    this.#expiresOn = tokenExpiry(token);
    if (refreshed) this.emit("tokenRefreshed", { token, expiresOnTimestamp: this.#expiresOn });
    this.#schedule();
  }

  #schedule() {
    clearTimeout(this.#timer);
    if (!this.#proactive || this.#disposed || !Number.isFinite(this.#expiresOn)) return;
    const delay = Math.max(MIN_REFRESH_DELAY_MS, this.#expiresOn - REFRESH_WINDOW_MS - this.#now());
    // setTimeout holds at most 2^31-1 ms; a token living longer is re-checked then.
    this.#timer = setTimeout(() => {
      this.#refresh().catch((err) => this.emit("refreshFailed", err));
    }, Math.min(delay, 2 ** 31 - 1));
  }
}
