// http.js — the one fetch wrapper: bearer token in, ACS error bodies out as TelexError.
//
//   request() ─► credential.getToken() ─► fetch ─► 2xx: JSON (or null for 204)
//                     │ TokenExpired: thrown            └► 401: forceRefresh once, retry, else Unauthorized
//                     └ (before anything is sent)       └► 4xx/5xx {"error":{code,message}}: TelexError(code)
//
// Errors are translated once, here, so every caller sees the server's stable codes.

import { TelexError } from "./errors.js";

/** API versions the ACS SDKs send; Telex ignores them, but ACS proxies and logs expect them. */
export const API_VERSIONS = {
  chat: "2024-03-07",
  relay: "2022-03-01-preview",
};

async function errorFromResponse(response) {
  let code = response.status === 401 ? "Unauthorized" : `Http${response.status}`;
  let message = response.statusText || `HTTP ${response.status}`;
  let target;
  try {
    const body = await response.json();
    if (body?.error?.code) {
      code = body.error.code;
      message = body.error.message ?? message;
      target = body.error.target;
    }
  } catch {
    // not JSON: keep the status-derived code
  }
  const err = new TelexError(code, message, { status: response.status, target });
  if (response.status === 401) {
    // Every refused token is one condition for the app (sign in again / new token), whatever
    // the server's detail code (InvalidToken, …); the detail stays readable.
    err.serverCode = code;
    err.code = "Unauthorized";
  }
  return err;
}

export class HttpClient {
  /**
   * @param {string} endpoint base URL, e.g. `location.origin` or `https://telex.example:8443`
   * @param {import("./credential.js").AccessTokenCredential} credential
   * @param {{fetch?: typeof fetch}} [options] an injected fetch, for tests
   */
  constructor(endpoint, credential, { fetch: fetchImpl } = {}) {
    this.endpoint = String(endpoint).replace(/\/+$/, "");
    this.credential = credential;
    this._fetch = fetchImpl ?? ((...args) => globalThis.fetch(...args));
  }

  url(path, query) {
    const url = new URL(this.endpoint + path);
    for (const [k, v] of Object.entries(query ?? {})) {
      if (v !== undefined && v !== null) url.searchParams.set(k, String(v));
    }
    return url.toString();
  }

  /**
   * One authenticated request. `path` is relative to the endpoint, or a full URL (a nextLink).
   * @returns {Promise<any>} the JSON body, or null when there is none
   * @throws {TelexError}
   */
  async request(method, path, { body, query, headers = {}, keepalive = false } = {}) {
    const url = /^https?:/.test(path) ? path : this.url(path, query);
    let { token } = await this.credential.getToken();
    for (let attempt = 0; ; attempt++) {
      const init = {
        method,
        keepalive,
        headers: { authorization: `Bearer ${token}`, ...headers },
      };
      if (body !== undefined) {
        init.headers["content-type"] = "application/json";
        init.body = JSON.stringify(body);
      }
      let response;
      try {
        response = await this._fetch(url, init);
      } catch (err) {
        throw new TelexError("NetworkError", `${method} ${path} failed: ${err?.message ?? err}`, { cause: err });
      }
      if (response.status === 401 && attempt === 0 && this.credential.canRefresh) {
        // The server refused the token (expired early, revoked): one forced refresh, one retry.
        try {
          ({ token } = await this.credential.getToken({ forceRefresh: true }));
          continue;
        } catch {
          // no refresher, or it failed: report the server's 401 below
        }
      }
      if (!response.ok) throw await errorFromResponse(response);
      if (response.status === 204) return null;
      const text = await response.text();
      return text ? JSON.parse(text) : null;
    }
  }

  get(path, options) {
    return this.request("GET", path, options);
  }

  post(path, body, options) {
    return this.request("POST", path, { ...options, body });
  }
}
