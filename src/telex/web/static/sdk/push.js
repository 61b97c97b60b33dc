// push.js — Web Push, so that a closed tab still rings: a service worker, and its registration.
//
//   registerPushNotifications(client)
//     ─► GET /push/webpush/applicationServerKey        (the server's VAPID public key)
//     ─► navigator.serviceWorker.register("/sdk/push-sw.js")
//     ─► pushManager.subscribe({userVisibleOnly: true, applicationServerKey})
//     ─► POST /push/registrations {platform: "webpush", pushSubscription}   (with the user's token)
//   The service worker (push-sw.js) shows "Alice is calling" for an incoming call, closes it when
//   the call stops ringing, shows chat messages, and keeps the newest push for the app to read
//   (latestPush()) once it is opened again.
//
// Needs a secure context (https, or http://localhost) and the user's permission for notifications.

/** Base64url (padded or not) to bytes, for applicationServerKey. */
function bytes(text) {
  const b64 = text.replace(/-/g, "+").replace(/_/g, "/");
  const raw = atob(b64 + "=".repeat((4 - (b64.length % 4)) % 4));
  return Uint8Array.from(raw, (c) => c.charCodeAt(0));
}

/** Resolves once the registration's worker is active (installed and activated). */
function activated(registration) {
  const worker = registration.installing ?? registration.waiting ?? registration.active;
  if (!worker || worker.state === "activated") return Promise.resolve();
  return new Promise((resolve) => {
    worker.addEventListener("statechange", () => {
      if (worker.state === "activated") resolve();
    });
  });
}

/** Whether this browser can receive Web Push at all. */
export function pushSupported() {
  return typeof navigator !== "undefined" && "serviceWorker" in navigator && typeof PushManager !== "undefined";
}

/**
 * Subscribe this browser and register it with Telex for the client's user.
 * @param {import("./telex.js").TelexClient} client
 * @param {{serviceWorker?: string, scope?: string, ttlSeconds?: number}} [options]
 * @returns {Promise<{id: string, platform: string, expiresOn: string}>} the registration
 * @throws {TelexError | DOMException} NotAllowedError when the user refused notifications
 */
export async function registerPushNotifications(client, { serviceWorker = "/sdk/push-sw.js", scope, ttlSeconds } = {}) {
  if (!pushSupported()) throw new Error("Web Push is not available in this browser");
  if (typeof Notification !== "undefined" && Notification.permission === "default") {
    await Notification.requestPermission();
  }
  const { applicationServerKey } = await client.http.get("/push/webpush/applicationServerKey");
  const registration = await navigator.serviceWorker.register(
    new URL(serviceWorker, client.endpoint).toString(),
    scope ? { scope } : undefined,
  );
  // Not `navigator.serviceWorker.ready`: that waits for a worker controlling *this page*, and the
  // worker's scope (/sdk/) need not cover the app's pages; push needs only an active worker.
  await activated(registration);
  let subscription = await registration.pushManager.getSubscription();
  if (subscription === null) {
    subscription = await registration.pushManager.subscribe({
      userVisibleOnly: true,
      applicationServerKey: bytes(applicationServerKey),
    });
  }
  const body = { platform: "webpush", pushSubscription: subscription.toJSON() };
  if (ttlSeconds) body.ttlSeconds = ttlSeconds;
  return client.http.post("/push/registrations", body);
}

/** Forget this browser's registration with Telex (and its subscription with the push service). */
export async function unregisterPushNotifications(client, registrationId) {
  await client.http.request("DELETE", `/push/registrations/${encodeURIComponent(registrationId)}`);
  const registration = await navigator.serviceWorker?.getRegistration();
  const subscription = await registration?.pushManager.getSubscription();
  await subscription?.unsubscribe();
}

/** The newest push the service worker received (while the app was closed, say), or null. */
export async function latestPush() {
  if (typeof caches === "undefined") return null;
  const cache = await caches.open("telex-push");
  const response = await cache.match("/telex-push/latest");
  return response ? response.json() : null;
}
