// datachannel.js — ACS-style data channels over in-band WebRTC data channels.
//
// Wire format (the same as the Python client, so browsers and bots interoperate): one
// RTCDataChannel per recipient, labelled `acs-data:<channelId>`, protocol `<reliability>;<priority>`;
// lossy = unordered with maxRetransmits 0, durable = ordered and reliable. Messages are the raw
// bytes the app sent (no envelope), so `sequenceNumber` is the receiver's arrival count.
// The sender also announces the channel through the server (`:openDataChannel`), for clients
// that want to know before data flows; delivery does not depend on it.

import { Emitter } from "./events.js";
import { TelexError } from "./errors.js";

export const LABEL = "acs-data:";
const MAX_PENDING = 1000; // messages held per recipient until its channel opens

function toBytes(data) {
  if (data instanceof Uint8Array) return data;
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  if (typeof data === "string") return new TextEncoder().encode(data);
  throw new TelexError("InvalidArgument", "sendMessage takes a Uint8Array.");
}

export class DataChannelSender extends Emitter {
  /**
   * Made by `call.createDataChannelSender(options)`; attaches to each recipient's peer connection
   * once it is negotiated (including participants who join later, when `participants` is absent).
   */
  constructor({ channelId, reliability = "durable", priority = "normal", participants, maxMessageSizeInBytes = 32 * 1024 }) {
    super();
    if (!Number.isInteger(channelId) || channelId < 0 || channelId > 65535) {
      throw new TelexError("InvalidArgument", "channelId must be an integer from 0 to 65535.");
    }
    if (!["lossy", "durable"].includes(reliability)) throw new TelexError("InvalidArgument", "reliability is lossy or durable.");
    if (!["normal", "high"].includes(priority)) throw new TelexError("InvalidArgument", "priority is normal or high.");
    this.channelId = channelId;
    this.reliability = reliability;
    this.priority = priority;
    this.participants = participants ? [...participants] : null; // null: everyone, now and later
    this.maxMessageSizeInBytes = maxMessageSizeInBytes;
    this.closed = false;
    this._channels = new Map(); // participantId → {channel, pending: Uint8Array[]}
  }

  wants(participantId) {
    return !this.closed && (this.participants === null || this.participants.includes(participantId));
  }

  /** @internal Open the channel on `pc` (negotiated, with SCTP) to `participantId`. */
  attach(participantId, pc) {
    if (!this.wants(participantId) || this._channels.has(participantId)) return;
    const durable = this.reliability === "durable";
    const init = { ordered: durable, protocol: `${this.reliability};${this.priority}` };
    if (!durable) init.maxRetransmits = 0;
    // Chromium knows RTCDataChannelInit.priority (webrtc-priority); others ignore the member.
    init.priority = this.priority === "high" ? "high" : "low";
    let channel;
    try {
      channel = pc.createDataChannel(`${LABEL}${this.channelId}`, init);
    } catch (err) {
      delete init.priority;
      channel = pc.createDataChannel(`${LABEL}${this.channelId}`, init);
    }
    channel.binaryType = "arraybuffer";
    const entry = { channel, pending: [] };
    channel.addEventListener("open", () => {
      for (const data of entry.pending.splice(0)) channel.send(data);
      this.emit("open", { participantId });
    });
    channel.addEventListener("close", () => {
      if (this._channels.get(participantId) === entry) this._channels.delete(participantId);
    });
    this._channels.set(participantId, entry);
  }

  /** @internal The recipient left: forget its channel. */
  detach(participantId) {
    const entry = this._channels.get(participantId);
    this._channels.delete(participantId);
    try {
      entry?.channel.close();
    } catch {
      // already closed
    }
  }

  /** Participant ids whose channel is open. */
  get openParticipants() {
    return [...this._channels].filter(([, e]) => e.channel.readyState === "open").map(([p]) => p);
  }

  /**
   * Send `data` to every recipient (or to `participantIds`, a subset). Messages to a recipient
   * whose channel is still opening are held (at most 1000) and sent when it opens.
   */
  async sendMessage(data, participantIds) {
    if (this.closed) throw new TelexError("InvalidState", "This data channel sender is closed.");
    const bytes = toBytes(data);
    if (bytes.byteLength > this.maxMessageSizeInBytes) {
      throw new TelexError("InvalidArgument", `A message is at most ${this.maxMessageSizeInBytes} bytes.`);
    }
    for (const [pid, entry] of this._channels) {
      if (participantIds && !participantIds.includes(pid)) continue;
      const { channel } = entry;
      if (channel.readyState === "open") channel.send(bytes);
      else if (channel.readyState === "connecting") {
        // Held until the channel opens (one round trip after it is made), so the first messages
        // of a new sender are not lost; a lossy channel keeps only the newest.
        if (entry.pending.length >= MAX_PENDING) {
          if (this.reliability === "durable") continue;
          entry.pending.shift();
        }
        entry.pending.push(bytes);
      }
    }
  }

  close() {
    if (this.closed) return;
    this.closed = true;
    for (const pid of [...this._channels.keys()]) this.detach(pid);
    this.emit("close");
  }
}

export class DataChannelReceiver extends Emitter {
  /** @internal Made when another participant opens an `acs-data:` channel to us. */
  constructor(channel, senderParticipantId, senderParticipantIdentifier) {
    super();
    const [reliability, priority] = (channel.protocol || "").split(";");
    this.channelId = Number(channel.label.slice(LABEL.length));
    this.senderParticipantId = senderParticipantId;
    this.senderParticipantIdentifier = senderParticipantIdentifier;
    this.reliability = reliability || "durable";
    this.priority = priority || "normal";
    this.closed = false;
    this._queue = [];
    this._sequence = 0;
    channel.binaryType = "arraybuffer";
    channel.addEventListener("message", (e) => {
      const data = typeof e.data === "string" ? new TextEncoder().encode(e.data) : new Uint8Array(e.data);
      this._sequence += 1;
      if (this._queue.length >= 10000) this._queue.shift(); // a reader that never reads loses the oldest
      this._queue.push({ sequenceNumber: this._sequence, data });
      this.emit("messageReady");
    });
    channel.addEventListener("close", () => {
      this.closed = true;
      this.emit("close");
    });
  }

  /** The next received message `{sequenceNumber, data: Uint8Array}`, or undefined when none. */
  readMessage() {
    return this._queue.shift();
  }
}
