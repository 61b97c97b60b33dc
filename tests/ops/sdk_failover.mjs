// The browser SDK's RealtimeConnection given two endpoints, on a fake WebSocket: it resumes on
// the next endpoint with its cursor at once when a node closes with 1012, and backs off only
// after every endpoint has failed in turn. Prints one JSON line of what it saw.
const sdk = await import(process.argv[2]);
const sockets = [];
class FakeWS {
  constructor(url) {
    this.url = url;
    this.sent = [];
    this.opened = Date.now();
    sockets.push(this);
    setTimeout(() => this.onopen?.(), 0);
  }
  send(text) {
    this.sent.push(JSON.parse(text));
  }
  close() {}
  ready(cursor) {
    this.onmessage?.({ data: JSON.stringify({ type: "ready", userId: "u", cursor, heartbeatSeconds: 15 }) });
  }
  event(cursor) {
    this.onmessage?.({ data: JSON.stringify({ type: "event", event: "x", data: {}, cursor }) });
  }
  closeWith(code) {
    this.onclose?.({ code, reason: "" });
  }
}
const credential = { canRefresh: false, getToken: async () => ({ token: "t" }), on() {}, off() {} };
const rt = new sdk.RealtimeConnection(["http://a.test", "http://b.test"], credential, { WebSocket: FakeWS });
const tick = () => new Promise((r) => setTimeout(r, 5));
const until = async (pred) => {
  for (let i = 0; i < 400 && !pred(); i++) await tick();
};
const ready = rt.connect();
await until(() => sockets.length === 1 && sockets[0].sent.length === 1);
sockets[0].ready("0");
await ready;
sockets[0].event("7");
const moved = Date.now();
sockets[0].closeWith(1012); // node A drains
await until(() => sockets.length === 2 && sockets[1].sent.length === 1);
const failoverMs = sockets[1].opened - moved;
sockets[1].ready("7");
sockets[1].closeWith(1006); // B lost before anything: back to A at once (a new round)
await until(() => sockets.length === 3 && sockets[2].sent.length === 1);
sockets[2].closeWith(1006); // A refuses too: every endpoint failed in turn, so wait
await until(() => sockets.length === 4 && sockets[3].sent.length === 1);
const waitedMs = sockets[3].opened - sockets[2].opened;
rt.close();
console.log(
  JSON.stringify({
    urls: sockets.map((s) => s.url),
    cursors: sockets.map((s) => s.sent[0]?.cursor ?? null),
    failoverMs,
    waitedMs,
    connects: rt.connects,
  }),
);
process.exit(0);
