// call.js — Call and RemoteParticipant: one call as this participant sees it.
//
// The server's participant states become ACS-like states (docs/browser-sdk.md):
//
//   this participant (call.state)                 a remote participant (participant.state)
//   before the join/accept answer → Connecting    connecting   → Connecting
//   connecting, someone ringing   → Ringing       ringing      → Ringing
//   connecting                    → Connecting    connected    → Connected
//   connected                     → Connected     onHold       → Hold
//   onHold                        → LocalHold     disconnected → Disconnected (then removed)
//   hang-up request in flight     → Disconnecting
//   disconnected / call ended     → Disconnected  (callEndReason = {code, subCode, reason})
//
// Events are applied one at a time in log order (a promise chain), because applying an offer
// awaits the peer connection and the next event must see its result.

import { Emitter } from "./events.js";
import { TelexError } from "./errors.js";
import { PeerLink } from "./peer.js";
import { DataChannelReceiver, DataChannelSender } from "./datachannel.js";
import { fromWireIdentifier } from "./identifiers.js";

// How long a connection may stay "disconnected" before the offering side starts it over, and how
// long a fresh connection may take to connect before it is started over again (its offer may
// have been lost: the server may still have been down).
const RECONNECT_AFTER_MS = 4000;
const RETRY_AFTER_MS = 8000;
// Connections the offering side makes to one participant without ever reaching "connected"
// before it gives up (mediaState "failed"): a path that cannot work (no route, a relay that
// refuses the peer) must not turn into signalling forever. Between them it waits 1 s, 2 s, 4 s…
const MEDIA_ATTEMPTS = 5;
const RETRY_BACKOFF_MS = 1000;

const REMOTE_STATES = {
  connecting: "Connecting",
  ringing: "Ringing",
  connected: "Connected",
  onHold: "Hold",
  disconnected: "Disconnected",
};

// ACS-like numeric codes next to the server's reason string (0 = ended normally).
const END_CODES = {
  hungUp: 0,
  remoteHungUp: 0,
  endedForEveryone: 0,
  declined: 603,
  missed: 480,
  cancelled: 487,
  connectionLost: 410,
};

export function endReason(reason) {
  if (!reason) return undefined;
  return { code: END_CODES[reason] ?? 500, subCode: 0, reason };
}

export class RemoteParticipant extends Emitter {
  constructor(p) {
    super();
    this.participantId = p.participantId;
    this.identifier = fromWireIdentifier(p.identifier);
    this.displayName = p.displayName ?? "";
    this.role = p.role;
    this.state = REMOTE_STATES[p.state] ?? "Connecting";
    this.isMuted = Boolean(p.isMuted);
    this.isVideoOn = Boolean(p.isVideoOn);
    this.isScreenSharing = Boolean(p.isScreenSharing);
    this.callEndReason = endReason(p.callEndReason);
    this.mediaStream = null; // what it sends us (audio + video tracks), once a connection exists
    this.connectionState = "new"; // of the RTCPeerConnection to it
    // The media path to it: "connecting" (never connected yet), "connected", "reconnecting"
    // (lost, being started over), "failed" (no path: gave up after MEDIA_ATTEMPTS, or the
    // other side's last attempt failed). Event: "mediaStateChanged".
    this.mediaState = "connecting";
    this.mediaAttempts = 0; // connections we offered since it was last connected (or ever)
    this._connectedOnce = false;
  }

  /** @internal A new connection to it is being made. */
  _starting(offered) {
    if (offered) this.mediaAttempts += 1;
    this._setMediaState(this._connectedOnce ? "reconnecting" : "connecting");
  }

  /** @internal */
  _setMediaState(state) {
    if (state === "connected") this._connectedOnce = true;
    if (this.mediaState === state) return;
    this.mediaState = state;
    this.emit("mediaStateChanged", { participant: this, mediaState: state });
  }

  /** @internal */
  _update(p) {
    const changes = [];
    const set = (field, value, event) => {
      if (this[field] !== value) {
        this[field] = value;
        changes.push(event);
      }
    };
    set("displayName", p.displayName ?? "", "displayNameChanged");
    set("state", REMOTE_STATES[p.state] ?? this.state, "stateChanged");
    set("isMuted", Boolean(p.isMuted), "isMutedChanged");
    set("isVideoOn", Boolean(p.isVideoOn), "isVideoOnChanged");
    set("isScreenSharing", Boolean(p.isScreenSharing), "isScreenSharingChanged");
    if (p.callEndReason && !this.callEndReason) this.callEndReason = endReason(p.callEndReason);
    for (const e of changes) this.emit(e, { participant: this });
    if (changes.length) this.emit("updated", { participant: this });
  }
}

export class Call extends Emitter {
  /** @internal Made by the CallAgent. */
  constructor(agent, { id, participantId, direction, media, options }) {
    super();
    this._agent = agent;
    this.id = id;
    this.participantId = participantId; // ours
    this.direction = direction; // "Outgoing" | "Incoming"
    this.kind = undefined; // "direct" | "group"
    this.groupId = undefined;
    this.callerInfo = { identifier: undefined, displayName: "" };
    this.videoOffered = false;
    this.serverState = "ringing"; // the call's: ringing, connected, ended
    this.state = "Connecting";
    this.callEndReason = undefined;
    this.remoteParticipants = [];
    this._media = media;
    this._options = options ?? {};
    this._myState = direction === "Incoming" ? "ringing" : null; // our participant's server state
    this._phase = null; // "Connecting" before the join answer, "Disconnecting" during hang-up
    this._peers = new Map();
    this._senders = [];
    this._queue = Promise.resolve();
    this._ended = false;
    this.isMuted = media?.muted ?? false;
    this.isLocalVideoStarted = Boolean(media?.cameraTrack);
    this.isScreenSharingOn = false;
    if (media) this._wireMedia(media);
  }

  /** Audio + the current video track sent to everyone (the local preview). */
  get localStream() {
    return this._media?.stream ?? null;
  }

  /** ACS-like list: `[{ mediaStreamType: "Video" | "ScreenSharing", mediaStream }]`. */
  get localVideoStreams() {
    const out = [];
    if (this._media?.cameraTrack) out.push({ mediaStreamType: "Video", mediaStream: new MediaStream([this._media.cameraTrack]) });
    if (this._media?.screenTrack) out.push({ mediaStreamType: "ScreenSharing", mediaStream: new MediaStream([this._media.screenTrack]) });
    return out;
  }

  // commands ----------------------------------------------------------------------------------
  async mute() {
    await this._setMuted(true);
  }

  async unmute() {
    await this._setMuted(false);
  }

  async startVideo() {
    this._requireActive();
    await this._media.startCamera();
    this._setFlag("isLocalVideoStarted", true, "isLocalVideoStartedChanged");
    this.emit("localVideoStreamsUpdated", { added: this.localVideoStreams.filter((s) => s.mediaStreamType === "Video"), removed: [] });
    await this._post("setMediaState", { isVideoOn: true });
  }

  async stopVideo() {
    this._requireActive();
    this._media.stopCamera();
    this._setFlag("isLocalVideoStarted", false, "isLocalVideoStartedChanged");
    this.emit("localVideoStreamsUpdated", { added: [], removed: [{ mediaStreamType: "Video" }] });
    await this._post("setMediaState", { isVideoOn: false });
  }

  async startScreenShare() {
    this._requireActive();
    await this._media.startScreen();
    this._setFlag("isScreenSharingOn", true, "isScreenSharingOnChanged");
    this.emit("localVideoStreamsUpdated", { added: this.localVideoStreams.filter((s) => s.mediaStreamType === "ScreenSharing"), removed: [] });
    await this._post("setMediaState", { isScreenSharing: true });
  }

  async stopScreenShare() {
    if (!this._media?.screenTrack) return;
    this._media.stopScreen();
    this._setFlag("isScreenSharingOn", false, "isScreenSharingOnChanged");
    this.emit("localVideoStreamsUpdated", { added: [], removed: [{ mediaStreamType: "ScreenSharing" }] });
    if (!this._ended) await this._post("setMediaState", { isScreenSharing: false });
  }

  async hold() {
    this._requireActive();
    this._media?.setHeld(true);
    await this._post("hold");
  }

  async resume() {
    this._requireActive();
    await this._post("resume");
    this._media?.setHeld(false);
  }

  /**
   * Leave the call; with `forEveryone` (the caller only) end it for all. Media stops at once.
   * @throws {TelexError} Forbidden when forEveryone is asked by someone other than the caller.
   */
  async hangUp({ forEveryone = false } = {}) {
    if (this._ended) return;
    this._phase = "Disconnecting";
    this._updateState();
    try {
      const call = await this._agent._http.post(this._leg("hangUp"), { forEveryone });
      this._applyCall(call);
    } catch (err) {
      if (err instanceof TelexError && (err.code === "NotFound" || err.code === "Conflict")) {
        // Already out (ended meanwhile): nothing left to leave.
      } else {
        this._phase = null;
        this._updateState();
        throw err;
      }
    }
    this._end(this.callEndReason?.reason ?? "hungUp");
  }

  /** Map participantId → RTCStatsReport of the connection to it. */
  async getStats() {
    const out = new Map();
    await Promise.all([...this._peers].map(async ([pid, peer]) => out.set(pid, await peer.getStats())));
    return out;
  }

  /**
   * A channel this participant sends on, to `participants` (ids) or to everyone (also later
   * joiners). The server is told (`:openDataChannel`) in the background; failures emit "error".
   */
  createDataChannelSender(options = {}) {
    this._requireActive();
    const sender = new DataChannelSender(options);
    this._senders.push(sender);
    sender.on("close", () => {
      this._senders = this._senders.filter((s) => s !== sender);
    });
    for (const [pid, peer] of this._peers) if (peer.negotiated) sender.attach(pid, peer.pc);
    this._post("openDataChannel", {
      channelId: sender.channelId,
      reliability: sender.reliability,
      priority: sender.priority,
      participants: sender.participants ?? undefined,
    }).catch((err) => this.emit("error", err));
    return sender;
  }

  // internals ---------------------------------------------------------------------------------
  _leg(action) {
    return `/calling/calls/${encodeURIComponent(this.id)}/participants/${encodeURIComponent(this.participantId)}/:${action}`;
  }

  async _post(action, body) {
    const call = await this._agent._http.post(this._leg(action), body);
    if (call && call.callId) this._enqueue(() => this._applyCall(call));
    return call;
  }

  _requireActive() {
    if (this._ended) throw new TelexError("InvalidState", "The call has ended.");
  }

  async _setMuted(muted) {
    this._requireActive();
    this._media?.setMuted(muted);
    this._setFlag("isMuted", muted, "isMutedChanged");
    await this._post("setMediaState", { isMuted: muted });
  }

  _setFlag(field, value, event) {
    if (this[field] === value) return;
    this[field] = value;
    this.emit(event);
  }

  /** @internal An incoming call got its media on accept. */
  _setMedia(media) {
    this._media = media;
    this.isMuted = media.muted;
    this.isLocalVideoStarted = Boolean(media.cameraTrack);
    this._wireMedia(media);
  }

  _wireMedia(media) {
    media.onVideoTrack = (track) => {
      for (const peer of this._peers.values()) peer.setVideoTrack(track);
    };
    media.onScreenEnded = () => this.stopScreenShare().catch((err) => this.emit("error", err));
  }

  /** @internal Run `fn` after every earlier event (events apply one at a time, in order). */
  _enqueue(fn) {
    this._queue = this._queue.then(fn).catch((err) => console.error("telex: call event failed", err));
    return this._queue;
  }

  /** @internal A realtime event for this call. */
  _onEvent(type, data) {
    return this._enqueue(() => this._apply(type, data));
  }

  async _apply(type, data) {
    switch (type) {
      case "callParticipantAdded":
      case "callParticipantUpdated":
      case "callParticipantRemoved":
        this._applyParticipant(data.participant);
        break;
      case "callStarted":
      case "callStateChanged":
        this.serverState = data.state;
        break;
      case "callEnded":
        this.serverState = "ended";
        if (!this.callEndReason && data.callEndReason) this.callEndReason = endReason(data.callEndReason);
        this._end(data.callEndReason);
        return;
      case "callSignal":
        if (data.to === this.participantId) await this._onSignal(data);
        break;
      case "callDataChannelOpened":
        if (data.from !== this.participantId) this.emit("dataChannelAnnounced", data);
        break;
      default:
    }
    this._updateState();
  }

  /** @internal The call payload of a REST answer or GET (a full snapshot). */
  _applyCall(call) {
    this.kind = call.kind;
    this.groupId = call.groupId;
    this.serverState = call.state;
    this.videoOffered = Boolean(call.videoOffered);
    if (call.caller) this.callerInfo.identifier = fromWireIdentifier(call.caller);
    for (const p of call.participants ?? []) this._applyParticipant(p);
    if (call.state === "ended") {
      if (!this.callEndReason && call.callEndReason) this.callEndReason = endReason(call.callEndReason);
      this._end(call.callEndReason);
      return;
    }
    this._updateState();
  }

  _applyParticipant(p) {
    if (p.participantId === this.participantId) {
      this._myState = p.state;
      if (p.callEndReason && !this.callEndReason) this.callEndReason = endReason(p.callEndReason);
      if (p.state === "disconnected") this._end(p.callEndReason);
      else this._updateState();
      return;
    }
    if (p.role === "caller" && p.displayName) this.callerInfo.displayName = p.displayName;
    if (this._ended) return;
    let remote = this.remoteParticipants.find((r) => r.participantId === p.participantId);
    if (p.state === "disconnected") {
      if (remote) {
        remote._update(p);
        this.remoteParticipants = this.remoteParticipants.filter((r) => r !== remote);
        this._dropPeer(p.participantId);
        this.emit("remoteParticipantsUpdated", { added: [], removed: [remote] });
      }
      return;
    }
    if (!remote) {
      remote = new RemoteParticipant(p);
      const peer = this._peers.get(p.participantId);
      if (peer) this._bindPeer(remote, peer);
      this.remoteParticipants = [...this.remoteParticipants, remote];
      this.emit("remoteParticipantsUpdated", { added: [remote], removed: [] });
    } else {
      remote._update(p);
    }
  }

  _computeState() {
    if (this._ended) return "Disconnected";
    if (this._phase) return this._phase;
    switch (this._myState) {
      case "connected":
        return "Connected";
      case "onHold":
        return "LocalHold";
      case "disconnected":
        return "Disconnected";
      case "ringing":
        return "Ringing";
      case "connecting":
        return this.remoteParticipants.some((r) => r.state === "Ringing") ? "Ringing" : "Connecting";
      default:
        return "Connecting";
    }
  }

  _updateState() {
    const state = this._computeState();
    if (state !== this.state) {
      this.state = state;
      this.emit("stateChanged", { state });
    }
  }

  /** @internal The join/accept answer arrived: snapshot, then offer to everyone already in. */
  async _joined(body, config, early = []) {
    this._config = config;
    this._relayOnly = config.iceTransportPolicy === "relay";
    this._phase = null;
    this._startKeepAlive(body.keepAliveIntervalSeconds);
    await this._enqueue(async () => {
      this._applyCall(body.call);
      for (const e of early) await this._apply(e.type, e.data);
      for (const pid of body.peers) {
        if (this._ended) break;
        await this._freshConfig();
        const peer = this._newPeer(pid);
        this.remoteParticipants.find((r) => r.participantId === pid)?._starting(true);
        await peer.offer();
      }
    });
  }

  /** A server that drops silent participants (`connectionLost`) says how often to prove we are here. */
  _startKeepAlive(seconds) {
    if (!seconds || seconds <= 0) return;
    // Twice per interval, so one lost or slow request does not cost the call.
    const every = Math.max(1000, (seconds * 1000) / 2);
    this._keepAlive = setInterval(() => {
      if (this._ended) return;
      this._agent._http.post(this._leg("keepAlive")).catch((err) => {
        if (err instanceof TelexError && (err.code === "NotFound" || err.code === "Conflict")) this._resync();
      });
    }, every);
  }

  /** Relay credentials live minutes: take fresh ones (the agent's cache) for a new peer connection. */
  async _freshConfig() {
    try {
      this._config = await this._agent._rtcConfig(this._relayOnly);
    } catch {
      // keep the config we have: a failed fetch must not stop the call
    }
  }

  _newPeer(pid) {
    const peer = new PeerLink({
      remoteId: pid,
      config: this._config,
      media: this._media,
      signal: (body) => this._agent._http.post(this._leg("signal"), body),
    });
    this._peers.set(pid, peer);
    peer.on("negotiated", () => {
      for (const sender of this._senders) sender.attach(pid, peer.pc);
    });
    peer.on("dataChannel", (channel) => {
      const remote = this.remoteParticipants.find((r) => r.participantId === pid);
      const receiver = new DataChannelReceiver(channel, pid, remote?.identifier);
      this.emit("dataChannelReceiverCreated", receiver);
    });
    peer.on("signalError", (err) => this.emit("error", err));
    const remote = this.remoteParticipants.find((r) => r.participantId === pid);
    if (remote) this._bindPeer(remote, peer);
    return peer;
  }

  _bindPeer(remote, peer) {
    remote.mediaStream = peer.stream;
    remote.emit("streamChanged", { participant: remote, mediaStream: peer.stream });
    peer.on("track", () => remote.emit("streamChanged", { participant: remote, mediaStream: peer.stream }));
    peer.on("connectionStateChanged", (s) => {
      if (this._peers.get(remote.participantId) !== peer) return; // a replaced connection closing
      remote.connectionState = s;
      remote.emit("connectionStateChanged", { participant: remote, connectionState: s });
      this._watchConnection(remote, peer, s);
    });
  }

  /**
   * A media path can break while both participants stay in the call: a network change, or the
   * TURN server restarting and forgetting its allocations. The side that offered to this peer
   * (the one who joined later) then starts over with a fresh connection and a fresh offer,
   * after RECONNECT_AFTER_MS of "disconnected" or at once on "failed"; the other side answers
   * any new offer from a peer it knows by replacing its connection (see `_onSignal`). A fresh
   * connection rather than an ICE restart, because the Python client cannot restart ICE.
   */
  _watchConnection(remote, peer, state) {
    if (this._ended || peer.closed) return;
    const pid = remote.participantId;
    if (state === "connected") {
      clearTimeout(peer.reconnectTimer);
      remote.mediaAttempts = 0;
      remote._setMediaState("connected");
      return;
    }
    if (state === "disconnected") {
      remote._setMediaState("reconnecting");
      if (peer.offerer) this._startOverIn(pid, peer, RECONNECT_AFTER_MS);
    } else if (state === "failed") {
      if (!peer.offerer) {
        remote._setMediaState("failed"); // until the offering side starts over, if it does
      } else if (remote.mediaAttempts >= MEDIA_ATTEMPTS) {
        this._giveUp(remote, peer);
      } else {
        const backoff = RETRY_BACKOFF_MS * 2 ** Math.max(0, remote.mediaAttempts - 1);
        this._startOverIn(pid, peer, Math.min(backoff, RETRY_AFTER_MS));
      }
    }
  }

  _startOverIn(pid, peer, ms) {
    clearTimeout(peer.reconnectTimer);
    peer.reconnectTimer = setTimeout(() => {
      if (peer.connectionState !== "connected") this._reconnect(pid, peer);
    }, ms);
  }

  async _reconnect(pid, peer) {
    await this._enqueue(async () => {
      if (this._ended || this._peers.get(pid) !== peer) return; // gone, or already replaced
      if (peer.connectionState === "connected") return;
      const remote = this.remoteParticipants.find((r) => r.participantId === pid);
      if (remote && remote.mediaAttempts >= MEDIA_ATTEMPTS) {
        this._giveUp(remote, peer);
        return;
      }
      this._dropPeer(pid);
      await this._freshConfig();
      const fresh = this._newPeer(pid);
      remote?._starting(true);
      await fresh.offer();
      this._startOverIn(pid, fresh, RETRY_AFTER_MS);
    });
  }

  /** No media path to `remote` after MEDIA_ATTEMPTS connections: stop signalling to it. */
  _giveUp(remote, peer) {
    clearTimeout(peer.reconnectTimer);
    remote._setMediaState("failed");
  }

  /**
   * Start the media path to participants it failed for over, with a fresh budget of
   * MEDIA_ATTEMPTS (a "Try again" after the network or the server's TURN settings changed).
   */
  async retryMedia() {
    for (const remote of this.remoteParticipants) {
      if (remote.mediaState !== "failed") continue;
      remote.mediaAttempts = 0;
      const peer = this._peers.get(remote.participantId);
      if (peer) {
        peer.offerer = true; // whoever retries offers; the other side answers any new offer
        await this._reconnect(remote.participantId, peer);
      }
    }
  }

  async _onSignal(data) {
    const from = data.from;
    let peer = this._peers.get(from);
    if (data.type === "offer") {
      if (!this._config || this._ended) return; // not joined (yet): the offer is not for us
      // Only the later joiner offers to a pair, and it offers again only to start over (see
      // `_watchConnection`): a new offer from a known peer replaces the connection to it.
      if (peer) this._dropPeer(from);
      await this._freshConfig();
      if (this._ended) return;
      peer = this._newPeer(from);
      this.remoteParticipants.find((r) => r.participantId === from)?._starting(false);
      await peer.answer(data.sdp);
    } else if (data.type === "answer") {
      await peer?.acceptAnswer(data.sdp);
    } else if (data.type === "candidate") {
      if (!peer) return;
      await peer.addCandidate(data.candidate);
    }
  }

  _dropPeer(pid) {
    for (const sender of this._senders) sender.detach(pid);
    const peer = this._peers.get(pid);
    this._peers.delete(pid);
    peer?.close();
  }

  /** @internal After the realtime socket resumed: re-read (a safety net beside the replay). */
  async _resync() {
    if (this._ended) return;
    try {
      const call = await this._agent._http.get(`/calling/calls/${encodeURIComponent(this.id)}`);
      await this._enqueue(() => this._applyCall(call));
    } catch (err) {
      if (err instanceof TelexError && err.code === "NotFound") this._end(this.callEndReason?.reason);
    }
  }

  _end(reason) {
    if (this._ended) return;
    this._ended = true;
    this._phase = null;
    clearInterval(this._keepAlive);
    if (!this.callEndReason) this.callEndReason = endReason(reason ?? "hungUp");
    for (const sender of [...this._senders]) sender.close();
    for (const pid of [...this._peers.keys()]) this._dropPeer(pid);
    this._media?.stop();
    const gone = this.remoteParticipants;
    this.remoteParticipants = [];
    if (gone.length) this.emit("remoteParticipantsUpdated", { added: [], removed: gone });
    this._updateState();
    this._agent._callEnded(this);
  }
}
