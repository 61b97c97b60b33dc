// chat.js — ChatClient and ChatThreadClient, shaped like @azure/communication-chat.
//
//   client.chat.createChatThread({ topic }, { participants: [{ id: { communicationUserId }, displayName }] })
//   client.chat.getChatThreadClient(threadId).sendMessage({ content }, { senderDisplayName })
//   for await (const m of thread.listMessages()) …          (newest first, follows nextLink)
//   await client.chat.startRealtimeNotifications(); client.chat.on("chatMessageReceived", e => …)
//
// REST goes through HttpClient (errors already TelexError); realtime events come from the shared
// RealtimeConnection, which resumes from its cursor, so no chat event is lost across a reconnect.
// Dates on the wire are ISO strings; like the ACS SDK, results and events carry `Date`s.

import { Emitter } from "./events.js";
import { API_VERSIONS } from "./http.js";
import { fromWireIdentifier, toWireIdentifier } from "./identifiers.js";

const Q = { "api-version": API_VERSIONS.chat };

export const CHAT_EVENTS = [
  "chatMessageReceived",
  "chatMessageEdited",
  "chatMessageDeleted",
  "typingIndicatorReceived",
  "readReceiptReceived",
  "chatThreadCreated",
  "chatThreadPropertiesUpdated",
  "chatThreadDeleted",
  "participantsAdded",
  "participantsRemoved",
];

const DATE_FIELDS = [
  "createdOn",
  "editedOn",
  "deletedOn",
  "receivedOn",
  "readOn",
  "updatedOn",
  "addedOn",
  "removedOn",
  "shareHistoryTime",
];
const IDENTIFIER_FIELDS = ["sender", "recipient", "createdBy", "updatedBy", "addedBy", "removedBy", "deletedBy"];

function dates(obj) {
  for (const f of DATE_FIELDS) if (typeof obj[f] === "string") obj[f] = new Date(obj[f]);
  return obj;
}

function participantIn(p) {
  return dates({
    id: fromWireIdentifier(p.communicationIdentifier ?? p.id),
    displayName: p.displayName,
    shareHistoryTime: p.shareHistoryTime,
  });
}

function participantOut(p) {
  const out = { communicationIdentifier: toWireIdentifier(p.id ?? p.communicationIdentifier) };
  if (p.displayName !== undefined) out.displayName = p.displayName;
  if (p.shareHistoryTime !== undefined) {
    out.shareHistoryTime = p.shareHistoryTime instanceof Date ? p.shareHistoryTime.toISOString() : p.shareHistoryTime;
  }
  return out;
}

function messageIn(m) {
  const content = m.content
    ? {
        message: m.content.message,
        topic: m.content.topic,
        participants: m.content.participants?.map(participantIn),
        initiator: fromWireIdentifier(m.content.initiatorCommunicationIdentifier),
      }
    : undefined;
  return dates({
    id: m.id,
    type: m.type,
    sequenceId: m.sequenceId,
    version: m.version,
    content,
    senderDisplayName: m.senderDisplayName,
    sender: fromWireIdentifier(m.senderCommunicationIdentifier),
    createdOn: m.createdOn,
    deletedOn: m.deletedOn,
    editedOn: m.editedOn,
    metadata: m.metadata,
  });
}

/** Page through a list route, following `nextLink` (which carries all paging state). */
async function* pages(http, path, query, convert) {
  let next = http.url(path, query);
  while (next) {
    const page = await http.get(next);
    for (const item of page.value ?? []) yield convert(item);
    next = page.nextLink ? new URL(page.nextLink, http.endpoint + "/").toString() : null;
  }
}

function iso(value) {
  return value instanceof Date ? value.toISOString() : value;
}

export class ChatThreadClient {
  constructor(http, threadId) {
    this._http = http;
    this.threadId = threadId;
  }

  _path(tail = "") {
    return `/chat/threads/${encodeURIComponent(this.threadId)}${tail}`;
  }

  async getProperties() {
    const t = await this._http.get(this._path(), { query: Q });
    return dates({ id: t.id, topic: t.topic, createdOn: t.createdOn, createdBy: fromWireIdentifier(t.createdByCommunicationIdentifier) });
  }

  async updateTopic(topic) {
    await this._http.request("PATCH", this._path(), { query: Q, body: { topic } });
  }

  /** @returns {Promise<{id: string}>} */
  async sendMessage({ content }, { senderDisplayName, type = "text", metadata } = {}) {
    return this._http.post(this._path("/messages"), { content, senderDisplayName, type, metadata }, { query: Q });
  }

  async getMessage(messageId) {
    return messageIn(await this._http.get(this._path(`/messages/${encodeURIComponent(messageId)}`), { query: Q }));
  }

  /** Messages, newest first (system messages included). */
  listMessages({ maxPageSize, startTime } = {}) {
    return pages(this._http, this._path("/messages"), { ...Q, maxPageSize, startTime: iso(startTime) }, messageIn);
  }

  async updateMessage(messageId, { content, metadata } = {}) {
    await this._http.request("PATCH", this._path(`/messages/${encodeURIComponent(messageId)}`), {
      query: Q,
      body: { content, metadata },
    });
  }

  async deleteMessage(messageId) {
    await this._http.request("DELETE", this._path(`/messages/${encodeURIComponent(messageId)}`), { query: Q });
  }

  listParticipants({ maxPageSize } = {}) {
    return pages(this._http, this._path("/participants"), { ...Q, maxPageSize }, participantIn);
  }

  /** @returns {Promise<{invalidParticipants?: object[]}>} */
  async addParticipants({ participants }) {
    const r = await this._http.post(this._path("/participants/:add"), { participants: participants.map(participantOut) }, { query: Q });
    return r ?? {};
  }

  async removeParticipant(identifier) {
    await this._http.post(this._path("/participants/:remove"), toWireIdentifier(identifier), { query: Q });
  }

  async sendTypingNotification({ senderDisplayName } = {}) {
    await this._http.post(this._path("/typing"), { senderDisplayName }, { query: Q });
    return true;
  }

  async sendReadReceipt({ chatMessageId }) {
    await this._http.post(this._path("/readReceipts"), { chatMessageId }, { query: Q });
  }

  listReadReceipts({ maxPageSize } = {}) {
    return pages(this._http, this._path("/readReceipts"), { ...Q, maxPageSize }, (r) =>
      dates({ sender: fromWireIdentifier(r.senderCommunicationIdentifier), chatMessageId: r.chatMessageId, readOn: r.readOn }),
    );
  }
}

export class ChatClient extends Emitter {
  /**
   * @param {import("./http.js").HttpClient} http
   * @param {() => import("./realtime.js").RealtimeConnection} realtime the client's shared connection
   */
  constructor(http, realtime) {
    super();
    this._http = http;
    this._realtime = realtime;
    this._listening = false;
    this._onEvent = ({ type, data }) => {
      if (!CHAT_EVENTS.includes(type)) return;
      const event = dates({ ...data });
      for (const f of IDENTIFIER_FIELDS) if (event[f]) event[f] = fromWireIdentifier(event[f]);
      for (const f of ["participants", "participantsAdded", "participantsRemoved"]) {
        if (Array.isArray(event[f])) event[f] = event[f].map(participantIn);
      }
      this.emit(type, event);
    };
    this._onReady = () => this.emit("realtimeNotificationConnected");
    this._onDisconnected = () => this.emit("realtimeNotificationDisconnected");
  }

  /**
   * @returns {Promise<{chatThread: object, invalidParticipants?: object[]}>}
   * @param {{idempotencyToken?: string, participants?: object[]}} [options]
   */
  async createChatThread({ topic }, { participants = [], idempotencyToken } = {}) {
    const headers = idempotencyToken ? { "repeatability-request-id": idempotencyToken } : {};
    const r = await this._http.post("/chat/threads", { topic, participants: participants.map(participantOut) }, { query: Q, headers });
    const t = r.chatThread;
    return {
      chatThread: dates({ id: t.id, topic: t.topic, createdOn: t.createdOn, createdBy: fromWireIdentifier(t.createdByCommunicationIdentifier) }),
      invalidParticipants: r.invalidParticipants,
    };
  }

  getChatThreadClient(threadId) {
    return new ChatThreadClient(this._http, threadId);
  }

  listChatThreads({ maxPageSize, startTime } = {}) {
    return pages(this._http, "/chat/threads", { ...Q, maxPageSize, startTime: iso(startTime) }, (t) => dates({ ...t }));
  }

  async deleteChatThread(threadId) {
    await this._http.request("DELETE", `/chat/threads/${encodeURIComponent(threadId)}`, { query: Q });
  }

  /** Start delivering chat events (ACS names) on this client; resolves once connected. */
  async startRealtimeNotifications() {
    const rt = this._realtime();
    if (!this._listening) {
      this._listening = true;
      rt.on("event", this._onEvent);
      rt.on("ready", this._onReady);
      rt.on("disconnected", this._onDisconnected);
    }
    await rt.connect();
  }

  /** Stop delivering chat events (the shared socket stays up if calling uses it). */
  stopRealtimeNotifications() {
    const rt = this._realtime();
    rt.off("event", this._onEvent);
    rt.off("ready", this._onReady);
    rt.off("disconnected", this._onDisconnected);
    this._listening = false;
  }
}
