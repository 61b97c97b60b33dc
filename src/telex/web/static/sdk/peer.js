// peer.js — PeerLink: the RTCPeerConnection to one other participant of a mesh call.
//
//   newcomer (offers)                                  participant already in the call (answers)
//   addTransceiver(audio, sendrecv) + (video, sendrecv)
//   createDataChannel("telex")  ← puts SCTP in the offer, so acs-data channels open in-band later
//   offer ──── POST :signal {to, type:"offer", sdp} ──► setRemoteDescription → attach our tracks to
//                                                        the offered audio/video transceivers → answer
//   ◄── answer ─────────────────────────────────────────
//   candidates trickle both ways as {candidate, sdpMid, sdpMLineIndex}; received ones wait until
//   the remote description is set; sent ones wait until our SDP is posted (a Python peer drops
//   a candidate that arrives before the offer).
//
// Video always has a transceiver when a browser offers, so camera and screen share switch with
// `replaceTrack` and never need a new offer (the Python client does not renegotiate). An offer
// without video (the Python client offers audio + data only) is answered without video.

import { Emitter } from "./events.js";
import { LABEL } from "./datachannel.js";

export class PeerLink extends Emitter {
  /**
   * @param {{remoteId: string, config: RTCConfiguration, media: import("./media.js").LocalMedia,
   *          signal: (body: object) => Promise<void>}} options
   *   `signal` posts one :signal body (`to` is added here).
   */
  constructor({ remoteId, config, media, signal }) {
    super();
    this.remoteId = remoteId;
    this.media = media;
    this.pc = new RTCPeerConnection(config);
    this.stream = new MediaStream(); // what this participant sends us
    this.negotiated = false;
    this.closed = false;
    this.offerer = false; // we made the offer (so we are the side that starts over after a failure)
    this.reconnectTimer = undefined;
    this._signal = signal;
    this._outgoing = Promise.resolve(); // signals to this peer, posted one after another, in order
    this._sdpPosted = false;
    this._localCandidates = [];
    this._remoteCandidates = [];

    this.pc.addEventListener("icecandidate", (e) => {
      if (!e.candidate || !e.candidate.candidate) return; // end-of-candidates: nothing to tell
      const c = { candidate: e.candidate.candidate, sdpMid: e.candidate.sdpMid, sdpMLineIndex: e.candidate.sdpMLineIndex };
      if (this._sdpPosted) this._post({ type: "candidate", candidate: c });
      else this._localCandidates.push(c);
    });
    this.pc.addEventListener("connectionstatechange", () => this.emit("connectionStateChanged", this.pc.connectionState));
    this.pc.addEventListener("track", (e) => {
      for (const old of this.stream.getTracks().filter((t) => t.kind === e.track.kind)) this.stream.removeTrack(old);
      this.stream.addTrack(e.track);
      this.emit("track", e.track);
    });
    this.pc.addEventListener("datachannel", (e) => {
      if (e.channel.label.startsWith(LABEL)) this.emit("dataChannel", e.channel);
    });
  }

  get connectionState() {
    return this.pc.connectionState;
  }

  /** Offer: we are the newcomer. */
  async offer() {
    this.offerer = true;
    const { audioTrack, videoTrack, stream } = this.media;
    this.pc.addTransceiver(audioTrack ?? "audio", { direction: "sendrecv", streams: [stream] });
    this.pc.addTransceiver(videoTrack ?? "video", { direction: "sendrecv", streams: [stream] });
    this.pc.createDataChannel("telex");
    await this.pc.setLocalDescription(await this.pc.createOffer());
    this._postSdp("offer");
  }

  /** Answer an offer from this participant. */
  async answer(sdp) {
    await this.pc.setRemoteDescription({ type: "offer", sdp });
    await this._flushRemoteCandidates();
    let audioDone = false;
    let videoDone = false;
    for (const t of this.pc.getTransceivers()) {
      const kind = t.receiver.track?.kind;
      if (kind === "audio" && !audioDone) {
        audioDone = true;
        t.direction = "sendrecv";
        await t.sender.replaceTrack(this.media.audioTrack);
      } else if (kind === "video" && !videoDone) {
        videoDone = true;
        t.direction = "sendrecv";
        await t.sender.replaceTrack(this.media.videoTrack);
      }
      if (kind && t.sender.setStreams) t.sender.setStreams(this.media.stream);
    }
    await this.pc.setLocalDescription(await this.pc.createAnswer());
    this._postSdp("answer");
    this._setNegotiated();
  }

  async acceptAnswer(sdp) {
    if (this.pc.signalingState !== "have-local-offer") return; // a repeated answer
    await this.pc.setRemoteDescription({ type: "answer", sdp });
    await this._flushRemoteCandidates();
    this._setNegotiated();
  }

  async addCandidate(c) {
    if (!c || !c.candidate) return;
    if (!this.pc.remoteDescription) {
      this._remoteCandidates.push(c);
      return;
    }
    await this._addCandidate(c);
  }

  /** Send `track` as our video (camera, screen or null) without renegotiating. */
  async setVideoTrack(track) {
    for (const t of this.pc.getTransceivers()) {
      if (t.sender && (t.receiver.track?.kind === "video") && t.currentDirection !== "stopped") {
        await t.sender.replaceTrack(track).catch(() => {});
        break;
      }
    }
  }

  getStats() {
    return this.pc.getStats();
  }

  close() {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.reconnectTimer);
    for (const t of this.stream.getTracks()) t.stop();
    this.pc.close();
    this.emit("connectionStateChanged", "closed");
  }

  _setNegotiated() {
    if (this.negotiated) return;
    this.negotiated = true;
    this.emit("negotiated");
  }

  _postSdp(type) {
    this._post({ type, sdp: this.pc.localDescription.sdp });
    this._sdpPosted = true;
    for (const c of this._localCandidates.splice(0)) this._post({ type: "candidate", candidate: c });
  }

  _post(body) {
    this._outgoing = this._outgoing
      .then(() => (this.closed ? undefined : this._signal({ to: this.remoteId, ...body })))
      .catch((err) => this.emit("signalError", err));
  }

  async _flushRemoteCandidates() {
    for (const c of this._remoteCandidates.splice(0)) await this._addCandidate(c);
  }

  async _addCandidate(c) {
    try {
      await this.pc.addIceCandidate({ candidate: c.candidate, sdpMid: c.sdpMid ?? undefined, sdpMLineIndex: c.sdpMLineIndex ?? undefined });
    } catch (err) {
      // A candidate for an m-line the answer rejected, or after close: harmless, but say so.
      console.debug("telex: candidate not added", err);
    }
  }
}
