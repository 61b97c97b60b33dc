// A short flow with the official ACS JavaScript SDKs against a live Telex, printed as one JSON
// line for tests/telephony/test_js_sdks.py: search → purchase → list → update capabilities →
// SMS (one good and one malformed recipient, a delivery report asked for) → release.
// TELEX_CONNECTION_STRING names the server (HTTPS: NODE_EXTRA_CA_CERTS trusts its CA).
import { PhoneNumbersClient } from "@azure/communication-phone-numbers";
import { SmsClient } from "@azure/communication-sms";

const connection = process.env.TELEX_CONNECTION_STRING;
const fast = { updateIntervalInMs: 50 };
const numbers = new PhoneNumbersClient(connection);
const sms = new SmsClient(connection);
const out = {};

const search = await (
  await numbers.beginSearchAvailablePhoneNumbers(
    {
      countryCode: "US",
      phoneNumberType: "geographic",
      assignmentType: "application",
      capabilities: { sms: "inbound+outbound", calling: "inbound+outbound" },
      areaCode: "512",
      quantity: 2,
    },
    fast,
  )
).pollUntilDone();
out.search = { count: search.phoneNumbers.length, expires: String(search.searchExpiresBy) };
await (await numbers.beginPurchasePhoneNumbers(search.searchId, fast)).pollUntilDone();

const owned = [];
for await (const n of numbers.listPurchasedPhoneNumbers()) owned.push(n.phoneNumber);
out.owned = owned;
const [a, b] = search.phoneNumbers;

const updated = await (
  await numbers.beginUpdatePhoneNumberCapabilities(a, { calling: "none", sms: "inbound+outbound" }, fast)
).pollUntilDone();
out.updated = updated.capabilities;
out.got = (await numbers.getPurchasedPhoneNumber(a)).capabilities;

const sent = await sms.send(
  { from: a, to: [b, "+1512555012345"], message: "hello from Node" },
  { enableDeliveryReport: true, tag: "js" },
);
out.sms = sent.map((r) => ({ to: r.to, status: r.httpStatusCode, ok: r.successful, id: r.messageId ?? null }));

await (await numbers.beginReleasePhoneNumber(a, fast)).pollUntilDone();
out.afterRelease = [];
for await (const n of numbers.listPurchasedPhoneNumbers()) out.afterRelease.push(n.phoneNumber);
try {
  await sms.send({ from: a, to: [b], message: "released" });
  out.releasedSend = "sent";
} catch (error) {
  out.releasedSend = error.statusCode;
}
console.log(JSON.stringify(out));
