// A short Call Automation flow with the official JavaScript SDK, for tests/automation/test_js_sdk.py:
//   node flow.mjs <endpoint> <base64 access key> <incomingCallContext> <callbackUrl> <prompt url>
// answers the call, reads its properties and participants, plays the prompt to everyone, then
// (once the test says the play completed, a line on stdin) hangs up; prints what it saw as JSON.
import { createInterface } from "node:readline";
import { AzureKeyCredential } from "@azure/core-auth";
import { CallAutomationClient } from "@azure/communication-call-automation";

const [endpoint, key, context, callbackUrl, prompt] = process.argv.slice(2);
// Plain HTTP on loopback: the SDK refuses it unless asked (acs-js-sdks.md).
const client = new CallAutomationClient(endpoint, new AzureKeyCredential(key), { allowInsecureConnection: true });
const answered = await client.answerCall(context, callbackUrl, { operationContext: "js" });
const id = answered.callConnectionProperties.callConnectionId;
const connection = client.getCallConnection(id);
const properties = await connection.getCallConnectionProperties();
const participants = await connection.listParticipants();
await connection.getCallMedia().playToAll([{ kind: "fileSource", url: prompt }], { operationContext: "js-play" });
console.log(JSON.stringify({
  id,
  state: properties.callConnectionState,
  serverCallId: properties.serverCallId,
  participants: participants.values.map((p) => p.identifier.communicationUserId ?? p.identifier.rawId),
}));
const lines = createInterface({ input: process.stdin });
for await (const _ of lines) break;
await connection.hangUp(false);
console.log(JSON.stringify({ hungUp: true }));
process.exit(0); // stdin stays open otherwise
