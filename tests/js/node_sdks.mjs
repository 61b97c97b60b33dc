// Every operation of the official identity, chat and network traversal SDKs, in Node, over HTTPS
// against a live telex serve. Run by tests/e2e/test_js_sdks_node.py:
//   NODE_EXTRA_CA_CERTS=<ca.pem> node node_sdks.mjs <connection string>
// It prints one JSON object of what it saw; every check is in the Python test.
import { CommunicationIdentityClient } from "@azure/communication-identity";
import { ChatClient } from "@azure/communication-chat";
import { AzureCommunicationTokenCredential } from "@azure/communication-common";
import { CommunicationRelayClient } from "@azure/communication-network-traversal";

const connection = process.argv[2];
const endpoint = /endpoint=([^;]+)/i.exec(connection)[1].replace(/\/$/, "");
const out = {};
const failure = async (promise) => {
  try {
    await promise;
    return null;
  } catch (e) {
    return { status: e.statusCode ?? null, code: e.code ?? null, message: String(e.message) };
  }
};
const all = async (iterable) => {
  const items = [];
  for await (const item of iterable) items.push(item);
  return items;
};

// identity
const identity = new CommunicationIdentityClient(connection);
const bare = await identity.createUser();
const { user: alice, token: aliceToken } = await identity.createUserAndToken(["chat", "voip"]);
const { user: bob, token: bobToken } = await identity.createUserAndToken(["chat"], { tokenExpiresInMinutes: 60 });
const issued = await identity.getToken(bare, ["chat"], { tokenExpiresInMinutes: 120 });
out.identity = { bare: bare.communicationUserId, alice: alice.communicationUserId, bob: bob.communicationUserId,
                 issuedExpiresOn: issued.expiresOn.toISOString() };
out.identity.teamsExchange = await failure(identity.getTokenForTeamsUser({ teamsUserAadToken: "x", clientId: "y", userObjectId: "z" }));
await identity.revokeTokens(bare);
await identity.deleteUser(bare);
out.identity.deletedAgain = await failure(identity.getToken(bare, ["chat"]));

// chat
const chat = new ChatClient(endpoint, new AzureCommunicationTokenCredential(aliceToken));
const created = await chat.createChatThread(
  { topic: "node" },
  { participants: [{ id: bob, displayName: "Bob", metadata: { role: "guest" } }],
    metadata: { a: "1" }, retentionPolicy: { kind: "threadCreationDate", deleteThreadAfterDays: 60 } },
);
const threadId = created.chatThread.id;
const thread = chat.getChatThreadClient(threadId);
out.chat = { created: created.chatThread, invalid: created.invalidParticipants ?? [] };
await thread.updateTopic("node 2");
await thread.updateProperties({ metadata: { a: "2", b: "x" }, retentionPolicy: { kind: "none" } });
out.chat.properties = await thread.getProperties();
const first = await thread.sendMessage({ content: "hello" }, { senderDisplayName: "Alice", metadata: { m: "1" } });
for (let i = 0; i < 25; i++) await thread.sendMessage({ content: `n${i}` });
await thread.updateMessage(first.id, { content: "hello, edited", metadata: { m: "2" } });
out.chat.message = await thread.getMessage(first.id);
const pages = [];
for await (const page of thread.listMessages({ maxPageSize: 10 }).byPage()) pages.push(page.length);
out.chat.messagePages = pages;
await thread.deleteMessage(first.id);
out.chat.deleted = await thread.getMessage(first.id);
const carol = (await identity.createUser());
await thread.addParticipants({ participants: [{ id: carol, displayName: "Carol", metadata: { role: "late" } }] });
out.chat.participants = await all(thread.listParticipants());
await thread.removeParticipant(carol);
out.chat.afterRemove = (await all(thread.listParticipants())).length;
out.chat.typing = await thread.sendTypingNotification({ senderDisplayName: "Alice" });
const bobThread = new ChatClient(endpoint, new AzureCommunicationTokenCredential(bobToken)).getChatThreadClient(threadId);
await bobThread.sendReadReceipt({ chatMessageId: (await all(thread.listMessages())).find((m) => m.type === "text").id });
out.chat.receipts = await all(thread.listReadReceipts());
out.chat.threads = (await all(chat.listChatThreads())).map((t) => t.id);
out.chat.realtime = await failure(chat.startRealtimeNotifications());
await chat.deleteChatThread(threadId);
out.chat.afterDelete = await failure(thread.getProperties());

// network traversal
const relay = new CommunicationRelayClient(connection);
const config = await relay.getRelayConfiguration({ communicationUser: alice, routeType: "nearest", ttl: 3600 });
out.relay = { expiresOn: config.expiresOn.toISOString(), servers: config.iceServers };
out.relay.anonymous = (await relay.getRelayConfiguration()).iceServers.length;

process.stdout.write(JSON.stringify(out));
