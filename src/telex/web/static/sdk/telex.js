// telex.js — the browser SDK's entry point: TelexClient plus everything else, re-exported.
//
//   import { AccessTokenCredential, TelexClient, TelexError } from "/sdk/telex.js";
//   const client = new TelexClient(location.origin, new AccessTokenCredential({ token, tokenRefresher }));
//   client.chat     — ChatClient (like @azure/communication-chat)
//   client.calling  — CallClient → createCallAgent() (like @azure/communication-calling)
//
// Plain ES modules, no build step and no dependencies; served by `telex serve` at /sdk/.
// Chat and calling share one realtime WebSocket, opened on first use.

import { AccessTokenCredential } from "./credential.js";
import { HttpClient } from "./http.js";
import { RealtimeConnection } from "./realtime.js";
import { ChatClient } from "./chat.js";
import { CallClient } from "./calling.js";

export { AccessTokenCredential, tokenExpiry, tokenUserId } from "./credential.js";
export { TelexError } from "./errors.js";
export { Emitter } from "./events.js";
export { HttpClient, API_VERSIONS } from "./http.js";
export { RealtimeConnection, realtimeUrl } from "./realtime.js";
export { ChatClient, ChatThreadClient, CHAT_EVENTS } from "./chat.js";
export { CallClient, CallAgent, IncomingCall } from "./calling.js";
export { Call, RemoteParticipant } from "./call.js";
export { DataChannelSender, DataChannelReceiver } from "./datachannel.js";
export { fromWireIdentifier, toWireIdentifier } from "./identifiers.js";
export { latestPush, pushSupported, registerPushNotifications, unregisterPushNotifications } from "./push.js";

export class TelexClient {
  /**
   * @param {string} endpoint the Telex base URL (e.g. `location.origin`)
   * @param {AccessTokenCredential | string} credential a credential, or a token string
   * @param {{fetch?: typeof fetch, WebSocket?: typeof WebSocket, realtimeEndpoints?: string[]}} [options]
   *   injectables for tests; `realtimeEndpoints`: every node's endpoint, for the realtime socket to resume on
   */
  constructor(endpoint, credential, options = {}) {
    this.endpoint = String(endpoint).replace(/\/+$/, "");
    this.credential = credential instanceof AccessTokenCredential ? credential : new AccessTokenCredential(credential);
    this.http = new HttpClient(this.endpoint, this.credential, options);
    this._options = options;
    this._realtime = null;
    const realtime = () => this.realtime;
    this.chat = new ChatClient(this.http, realtime);
    this.calling = new CallClient(this.http, realtime);
  }

  /** The shared realtime connection (created, not connected, on first access). */
  get realtime() {
    if (!this._realtime) {
      // realtimeEndpoints: every node of the deployment, to resume on the next when one goes away.
      const endpoints = this._options.realtimeEndpoints ?? this.endpoint;
      this._realtime = new RealtimeConnection(endpoints, this.credential, { WebSocket: this._options.WebSocket });
    }
    return this._realtime;
  }

  /** The signed-in user's id, from the token. */
  get userId() {
    return this.credential.userId;
  }

  /** Close the realtime connection and stop refreshing the token. */
  dispose() {
    this._realtime?.close();
    this.credential.dispose();
  }
}
