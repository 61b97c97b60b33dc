// media.js — LocalMedia: this participant's microphone, camera and screen, shared by every peer
// connection of a call (a mesh sends the same tracks to each participant).
//
// Why one object: mute, camera and screen share must change what *every* peer receives at once;
// peers ask `videoTrack`/`audioTrack` when they are created and are told of changes through
// `onVideoTrack`, which they apply with `RTCRtpSender.replaceTrack` (no renegotiation).
// Screen sharing takes the video sender while it is on and gives it back to the camera after
// (one video transceiver per peer; see docs/browser-sdk.md).

import { TelexError, mediaError } from "./errors.js";

function constraints(value, fallback) {
  if (value === true) return fallback;
  return value || false;
}

const CAMERA = { width: { ideal: 640 }, height: { ideal: 480 }, frameRate: { ideal: 24 } };

export class LocalMedia {
  constructor() {
    this.stream = new MediaStream(); // audio + the current video track, for the local preview
    this.audioTrack = null;
    this.cameraTrack = null;
    this.screenTrack = null;
    this.muted = false;
    this.onVideoTrack = () => {}; // set by the call: (track|null) => void
    this.onScreenEnded = () => {}; // the user stopped sharing from the browser's own UI
    this._videoConstraints = CAMERA;
  }

  /** The track peers send as video: the screen while shared, else the camera (or none). */
  get videoTrack() {
    return this.screenTrack ?? this.cameraTrack;
  }

  /**
   * Open the microphone and/or camera with one prompt.
   * @param {{audio?: boolean|MediaTrackConstraints, video?: boolean|MediaTrackConstraints}} options
   * @throws {TelexError} PermissionDenied, DeviceNotFound, DeviceInUse, MediaError
   */
  async open({ audio = true, video = false } = {}) {
    const wantAudio = constraints(audio, true);
    const wantVideo = constraints(video, CAMERA);
    if (wantVideo) this._videoConstraints = wantVideo;
    if (!wantAudio && !wantVideo) return;
    if (!navigator.mediaDevices?.getUserMedia) {
      throw new TelexError("MediaError", "This page cannot use media devices (not a secure context?).");
    }
    const what = wantAudio && wantVideo ? "camera and microphone" : wantAudio ? "microphone" : "camera";
    let stream;
    try {
      stream = await navigator.mediaDevices.getUserMedia({ audio: wantAudio, video: wantVideo });
    } catch (err) {
      throw mediaError(err, what);
    }
    this.audioTrack = stream.getAudioTracks()[0] ?? null;
    this.cameraTrack = stream.getVideoTracks()[0] ?? null;
    if (this.audioTrack) this.audioTrack.enabled = !this.muted;
    this._rebuild();
  }

  setMuted(muted) {
    this.muted = muted;
    if (this.audioTrack) this.audioTrack.enabled = !muted;
  }

  /** Hold: nothing leaves this device (tracks disabled), without renegotiating. */
  setHeld(held) {
    if (this.audioTrack) this.audioTrack.enabled = !held && !this.muted;
    for (const t of [this.cameraTrack, this.screenTrack]) if (t) t.enabled = !held;
  }

  async startCamera() {
    if (this.cameraTrack) return;
    let stream;
    try {
      stream = await navigator.mediaDevices.getUserMedia({ video: this._videoConstraints });
    } catch (err) {
      throw mediaError(err, "camera");
    }
    this.cameraTrack = stream.getVideoTracks()[0];
    this._rebuild();
    if (!this.screenTrack) this.onVideoTrack(this.cameraTrack);
  }

  /** Stop the camera (the light goes off); peers' video senders get no track. */
  stopCamera() {
    if (!this.cameraTrack) return;
    this.cameraTrack.stop();
    this.cameraTrack = null;
    this._rebuild();
    if (!this.screenTrack) this.onVideoTrack(null);
  }

  async startScreen() {
    if (this.screenTrack) return;
    if (!navigator.mediaDevices?.getDisplayMedia) {
      throw new TelexError("NotSupported", "This browser cannot share the screen.");
    }
    let stream;
    try {
      stream = await navigator.mediaDevices.getDisplayMedia({ video: true, audio: false });
    } catch (err) {
      throw mediaError(err, "screen");
    }
    this.screenTrack = stream.getVideoTracks()[0];
    this.screenTrack.addEventListener("ended", () => this.onScreenEnded());
    this._rebuild();
    this.onVideoTrack(this.screenTrack);
  }

  stopScreen() {
    if (!this.screenTrack) return;
    this.screenTrack.stop();
    this.screenTrack = null;
    this._rebuild();
    this.onVideoTrack(this.cameraTrack);
  }

  stop() {
    for (const t of [this.audioTrack, this.cameraTrack, this.screenTrack]) t?.stop();
    this.audioTrack = this.cameraTrack = this.screenTrack = null;
    this._rebuild();
  }

  _rebuild() {
    for (const t of this.stream.getTracks()) this.stream.removeTrack(t);
    if (this.audioTrack) this.stream.addTrack(this.audioTrack);
    if (this.videoTrack) this.stream.addTrack(this.videoTrack);
  }
}
