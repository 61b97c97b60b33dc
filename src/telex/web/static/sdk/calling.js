// calling.js — CallClient and CallAgent, shaped like @azure/communication-calling.
//
//   const agent = await client.calling.createCallAgent({ displayName });
//   agent.on("incomingCall", ({ incomingCall }) => incomingCall.accept({ audio: true }));
//   const call = await agent.join({ groupId }, { audio: true, video: true, relayOnly: true });
//   const call = await agent.startCall([{ communicationUserId }], { video: false });
//
// Commands go upstream as REST (`/calling/...`), events come downstream on the realtime socket
// (docs/calling.md). The agent connects the socket *before* any command, so every call event has
// a cursor to resume from (the server replays what a dropped socket missed); after a resume it
// also re-reads each live call (GET /calling/calls/{id}), in case the server refused the cursor.
// Events for a call we do not know yet (they can beat the REST answer that names it) wait in a
// small buffer and are applied right after the answer's snapshot.

import { Emitter } from "./events.js";
import { TelexError } from "./errors.js";
import { API_VERSIONS } from "./http.js";
import { LocalMedia } from "./media.js";
import { Call } from "./call.js";
import { fromWireIdentifier, toWireIdentifier } from "./identifiers.js";

const EARLY_CALLS = 50; // calls whose early events we hold
const EARLY_EVENTS = 100; // events held per call
const RELAY_TTL_SECONDS = 86400; // what we ask for; the server shortens it (minutes by default)
/** Relay credentials with less than this left are fetched again before a new peer connection. */
const RELAY_MARGIN_MS = 60 * 1000;

/** One incoming (ringing) call: accept it (→ Call) or reject it. */
export class IncomingCall extends Emitter {
  /** @internal */
  constructor(agent, call, data) {
    super();
    this._agent = agent;
    this._call = call;
    this.id = data.callId;
    this.callerInfo = { identifier: fromWireIdentifier(data.caller), displayName: data.callerDisplayName ?? "" };
    this.videoOffered = Boolean(data.videoOffered);
    this.ringingUntil = data.ringingUntil ? new Date(data.ringingUntil) : undefined;
    this.callEndReason = undefined;
    call.on("stateChanged", ({ state }) => {
      if (state === "Disconnected") {
        this.callEndReason = call.callEndReason;
        this.emit("callEnded", { callEndReason: call.callEndReason });
      }
    });
  }

  /**
   * Answer: open media, tell the server, offer to everyone already in the call.
   * @param {{audio?: boolean|MediaTrackConstraints, video?: boolean|MediaTrackConstraints, relayOnly?: boolean}} [options]
   * @returns {Promise<Call>}
   */
  async accept(options = {}) {
    const call = this._call;
    if (call._ended) throw new TelexError("InvalidState", "The call is no longer ringing.");
    const media = new LocalMedia();
    await media.open({ audio: options.audio ?? true, video: options.video ?? false });
    try {
      const config = await this._agent._rtcConfig(options.relayOnly);
      call._setMedia(media);
      call._phase = "Connecting";
      call._updateState();
      const body = await this._agent._http.post(call._leg("accept"), { video: Boolean(media.cameraTrack) });
      await call._joined(body, config);
      return call;
    } catch (err) {
      media.stop();
      call._phase = null;
      call._updateState();
      throw err;
    }
  }

  async reject() {
    const body = await this._agent._http.post(this._call._leg("decline"));
    if (body?.callId) this._call._enqueue(() => this._call._applyCall(body));
    this._call._end("declined");
  }
}

export class CallAgent extends Emitter {
  /** @internal Use `client.calling.createCallAgent()`. */
  constructor(http, realtime, { displayName } = {}) {
    super();
    this._http = http;
    this._realtime = realtime;
    this.displayName = displayName;
    this.calls = [];
    this._calls = new Map(); // callId → Call (live ones, including ringing incoming calls)
    this._early = new Map(); // callId → [{type, data}]
    this._relay = new Map(); // relayOnly → {expiresAt, config}
    this._disposed = false;
    this._onEvent = ({ type, data }) => this._route(type, data);
    this._onReady = ({ resumed }) => {
      if (resumed) for (const call of this._calls.values()) call._resync();
    };
    this._onPageHide = () => this._leaveOnUnload();
    realtime.on("event", this._onEvent);
    realtime.on("ready", this._onReady);
    realtime.on("error", (err) => this.emit("connectionError", err));
    globalThis.addEventListener?.("pagehide", this._onPageHide);
  }

  /** The signed-in user's identifier. */
  get identifier() {
    const id = this._realtime.userId;
    return id ? { kind: "communicationUser", communicationUserId: id, rawId: id } : undefined;
  }

  /**
   * Join (or start) the group call of `groupId` (a UUID anyone who has it may join).
   * @param {{groupId: string}} locator
   * @param {{audio?: boolean|MediaTrackConstraints, video?: boolean|MediaTrackConstraints, relayOnly?: boolean}} [options]
   * @throws {TelexError} PermissionDenied/DeviceNotFound (media), CallFull, Forbidden, ValidationFailed
   */
  async join({ groupId } = {}, options = {}) {
    if (!groupId) throw new TelexError("InvalidArgument", "join needs { groupId }.");
    return this._place(`/calling/groups/${encodeURIComponent(groupId)}/:join`, {}, options);
  }

  /**
   * Ring users (`[{ communicationUserId }]`) or phone numbers (`[{ phoneNumber: "+1…" }]`, with
   * `options.alternateCallerId: { phoneNumber }`, a number of the resource); media starts when
   * one answers.
   * @returns {Promise<Call>} a call in state Ringing
   */
  async startCall(targets, options = {}) {
    const list = Array.isArray(targets) ? targets : [targets];
    if (!list.length) throw new TelexError("InvalidArgument", "startCall needs at least one target.");
    const body = { targets: list.map(toWireIdentifier) };
    if (options.alternateCallerId) body.alternateCallerId = toWireIdentifier(options.alternateCallerId);
    return this._place("/calling/calls", body, options);
  }

  /** Hang up every call and stop listening. */
  async dispose() {
    if (this._disposed) return;
    this._disposed = true;
    globalThis.removeEventListener?.("pagehide", this._onPageHide);
    await Promise.allSettled(this.calls.map((c) => c.hangUp()));
    this._realtime.off("event", this._onEvent);
    this._realtime.off("ready", this._onReady);
  }

  // internals ---------------------------------------------------------------------------------
  async _place(path, body, options) {
    if (this._disposed) throw new TelexError("Disposed", "The call agent was disposed.");
    const media = new LocalMedia();
    await media.open({ audio: options.audio ?? true, video: options.video ?? false });
    try {
      const config = await this._rtcConfig(options.relayOnly);
      const answer = await this._http.post(path, {
        ...body,
        video: Boolean(media.cameraTrack),
        displayName: options.displayName ?? this.displayName,
      });
      const call = new Call(this, {
        id: answer.call.callId,
        participantId: answer.participantId,
        direction: "Outgoing",
        media,
        options,
      });
      this._register(call);
      const early = this._early.get(call.id) ?? [];
      this._early.delete(call.id);
      await call._joined(answer, config, early);
      return call;
    } catch (err) {
      media.stop();
      throw err;
    }
  }

  _register(call) {
    this._calls.set(call.id, call);
    if (call.direction === "Outgoing") {
      this.calls = [...this.calls, call];
      this.emit("callsUpdated", { added: [call], removed: [] });
    } else {
      call.once("stateChanged", () => {
        // an incoming call becomes one of `calls` when accepted (it leaves Ringing)
        if (!call._ended && !this.calls.includes(call)) {
          this.calls = [...this.calls, call];
          this.emit("callsUpdated", { added: [call], removed: [] });
        }
      });
    }
  }

  /** @internal */
  _callEnded(call) {
    this._calls.delete(call.id);
    if (this.calls.includes(call)) {
      this.calls = this.calls.filter((c) => c !== call);
      this.emit("callsUpdated", { added: [], removed: [call] });
    }
  }

  _route(type, data) {
    const callId = data?.callId;
    if (typeof callId !== "string") return;
    if (type === "incomingCall") {
      if (this._calls.has(callId)) return;
      const call = new Call(this, { id: callId, participantId: data.participantId, direction: "Incoming" });
      call.callerInfo = { identifier: fromWireIdentifier(data.caller), displayName: data.callerDisplayName ?? "" };
      call.videoOffered = Boolean(data.videoOffered);
      call.state = "Ringing";
      this._register(call);
      for (const e of this._early.get(callId) ?? []) call._onEvent(e.type, e.data);
      this._early.delete(callId);
      this.emit("incomingCall", { incomingCall: new IncomingCall(this, call, data) });
      return;
    }
    const call = this._calls.get(callId);
    if (call) {
      call._onEvent(type, data);
      return;
    }
    let early = this._early.get(callId);
    if (!early) {
      if (this._early.size >= EARLY_CALLS) this._early.delete(this._early.keys().next().value);
      this._early.set(callId, (early = []));
    }
    if (early.length < EARLY_EVENTS) early.push({ type, data });
  }

  /**
   * ICE servers from the relay-configuration route, cached until a minute before their
   * credentials expire. The server keeps credentials short (a credential cannot be revoked in
   * every relay): a call asks again before each new peer connection (Call._freshConfig), while
   * an allocation already made keeps refreshing with the credential it was made with.
   */
  async _rtcConfig(relayOnly = false) {
    const cached = this._relay.get(Boolean(relayOnly));
    if (cached && cached.expiresAt - Date.now() > RELAY_MARGIN_MS) return cached.config;
    const relay = await this._http.post("/networkTraversal/:issueRelayConfiguration", { ttl: RELAY_TTL_SECONDS }, {
      query: { "api-version": API_VERSIONS.relay },
    });
    const iceServers = relay.iceServers.map((s) => ({
      // With relayOnly a STUN URL only costs a request: leave it out.
      urls: relayOnly ? s.urls.filter((u) => !u.startsWith("stun:")) : s.urls,
      username: s.username,
      credential: s.credential,
    })).filter((s) => s.urls.length);
    const config = { iceServers, iceTransportPolicy: relayOnly ? "relay" : "all", bundlePolicy: "max-bundle" };
    this._relay.set(Boolean(relayOnly), { expiresAt: Date.parse(relay.expiresOn) || Date.now() + RELAY_TTL_SECONDS * 1000, config });
    return config;
  }

  /** The tab is going away: leave every call with a keepalive request (it outlives the page). */
  _leaveOnUnload() {
    const token = this._http.credential.cachedToken;
    if (!token) return;
    for (const call of this.calls) {
      if (call._ended) continue;
      try {
        fetch(this._http.url(call._leg("hangUp")), {
          method: "POST",
          keepalive: true,
          headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
          body: JSON.stringify({ forEveryone: false }),
        }).catch(() => {});
      } catch {
        // the page is closing; nothing else can be done
      }
    }
  }
}

/** `client.calling`: makes call agents on the client's shared realtime connection. */
export class CallClient {
  /** @internal */
  constructor(http, realtime) {
    this._http = http;
    this._realtime = realtime;
  }

  /**
   * Connect `/realtime` first (no call event may be missed), then return the agent.
   * @param {{displayName?: string}} [options]
   * @throws {TelexError} Unauthorized, TokenExpired, RealtimeUnavailable
   */
  async createCallAgent(options = {}) {
    const realtime = this._realtime();
    await realtime.connect();
    return new CallAgent(this._http, realtime, options);
  }

  /** Ask for microphone/camera permission up front (ACS `DeviceManager.askDevicePermission`). */
  async askDevicePermission({ audio = true, video = false } = {}) {
    const media = new LocalMedia();
    await media.open({ audio, video });
    media.stop();
    return { audio, video };
  }
}
