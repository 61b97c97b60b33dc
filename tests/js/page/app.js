// The test page's script: the official ACS JS SDKs, unmodified, bundled by esbuild (browser build).
// The Python test drives it through window.telex and reads what the SDK's own events delivered.
import { ChatClient } from "@azure/communication-chat";
import { AzureCommunicationTokenCredential } from "@azure/communication-common";

const EVENTS = [
  "chatMessageReceived", "chatMessageEdited", "chatMessageDeleted", "typingIndicatorReceived",
  "readReceiptReceived", "chatThreadCreated", "chatThreadPropertiesUpdated", "chatThreadDeleted",
  "participantsAdded", "participantsRemoved", "realTimeNotificationConnected",
  "realTimeNotificationDisconnected",
];

// Dates become ISO strings so the test can compare them; everything else as the SDK gave it.
const plain = (value) => JSON.parse(JSON.stringify(value ?? null));

window.telex = {
  events: [],
  received: [],  // chatMessageReceived message texts, in arrival order (the 1,000-message check)
  async start(endpoint, token) {
    const credential = new AzureCommunicationTokenCredential(token);
    this.client = new ChatClient(endpoint, credential);
    await this.client.startRealtimeNotifications();
    for (const name of EVENTS) {
      this.client.on(name, (payload) => {
        if (name === "chatMessageReceived") this.received.push(payload.message);
        this.events.push({ name, payload: plain(payload) });
      });
    }
    return true;
  },
  thread(id) {
    return this.client.getChatThreadClient(id);
  },
  async createThread(topic, participants, options) {
    const result = await this.client.createChatThread({ topic }, { participants, ...options });
    return plain(result);
  },
  async send(threadId, content, options) {
    return plain(await this.thread(threadId).sendMessage({ content }, options));
  },
  async edit(threadId, id, content) {
    await this.thread(threadId).updateMessage(id, { content });
  },
  async remove(threadId, id) {
    await this.thread(threadId).deleteMessage(id);
  },
  async typing(threadId) {
    return await this.thread(threadId).sendTypingNotification({ senderDisplayName: "typist" });
  },
  async read(threadId, id) {
    await this.thread(threadId).sendReadReceipt({ chatMessageId: id });
  },
  async properties(threadId) {
    return plain(await this.thread(threadId).getProperties());
  },
  async update(threadId, options) {
    await this.thread(threadId).updateProperties(options);
  },
  async addParticipants(threadId, participants) {
    return plain(await this.thread(threadId).addParticipants({ participants }));
  },
  async removeParticipant(threadId, id) {
    await this.thread(threadId).removeParticipant({ communicationUserId: id });
  },
  async deleteThread(id) {
    await this.client.deleteChatThread(id);
  },
  async stop() {
    await this.client.stopRealtimeNotifications();
  },
};
