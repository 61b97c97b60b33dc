// push-sw.js — the service worker behind registerPushNotifications() (push.js).
//
// The browser wakes it for every push Telex sends (already decrypted, RFC 8291), even with no
// tab of the app open. Payloads carry ids only (docs/push.md):
//   incomingCall          ─► a notification that stays until acted on, tagged with the call
//   incomingCallEnded     ─► that notification is closed (answered elsewhere, declined, missed)
//   chatMessageReceived   ─► a notification tagged with the thread (a newer one replaces it)
// The newest payload is kept in the Cache API for the app (latestPush()); a click on a
// notification focuses an open tab of the app, or opens one.

const CACHE = "telex-push";
const LATEST = "/telex-push/latest";

async function keep(payload) {
  const cache = await caches.open(CACHE);
  await cache.put(LATEST, new Response(JSON.stringify({ ...payload, receivedOn: new Date().toISOString() }), {
    headers: { "content-type": "application/json" },
  }));
}

async function closeTagged(tag) {
  for (const notification of await self.registration.getNotifications({ tag })) notification.close();
}

async function handle(payload) {
  await keep(payload);
  const clients = await self.clients.matchAll({ type: "window", includeUncontrolled: true });
  for (const client of clients) client.postMessage({ type: "telex-push", payload });
  switch (payload.type) {
    case "incomingCall":
      return self.registration.showNotification(`${payload.callerDisplayName || "Someone"} is calling`, {
        body: "Incoming call",
        tag: `call-${payload.callId}`,
        requireInteraction: true,
        data: payload,
      });
    case "incomingCallEnded":
      return closeTagged(`call-${payload.callId}`);
    case "chatMessageReceived":
      return self.registration.showNotification(payload.senderDisplayName || "New message", {
        body: payload.messageBody || "New message",
        tag: `thread-${payload.threadId}`,
        data: payload,
      });
    default:
      return undefined;
  }
}

self.addEventListener("push", (event) => {
  let payload;
  try {
    payload = event.data ? event.data.json() : null;
  } catch {
    payload = null;
  }
  if (payload && typeof payload === "object") event.waitUntil(handle(payload));
});

self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  event.waitUntil(
    (async () => {
      const clients = await self.clients.matchAll({ type: "window", includeUncontrolled: true });
      if (clients.length > 0) return clients[0].focus();
      return self.clients.openWindow("/");
    })(),
  );
});

self.addEventListener("activate", (event) => event.waitUntil(self.clients.claim()));
