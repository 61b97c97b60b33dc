// demo.js — the Telex demo web app: sign in, group calls by link, 1:1 calls by user id, the room's
// chat, a data-channel ping, and SMS between a simulated phone and the demo's number (sms.js).
// Everything goes through the browser SDK at /sdk/telex.js; the only other server it talks to is
// the sample trusted service (/demo/api/*) that signs users in and hands out tokens, as a real
// app's backend would.
//
// Test hooks (tests/browser depends on them): window.telexDemo = { client, agent, call } and the
// element ids in index.html; remote tiles are .participant[data-participant-id][data-state]
// [data-muted][data-video][data-media] with a <video>; #media-state[data-media] sums the
// media paths up (none, connecting, reconnecting, connected, failed).

import {
  AccessTokenCredential,
  TelexClient,
  TelexError,
  pushSupported,
  registerPushNotifications,
} from "/sdk/telex.js";
import { startSms, stopSms } from "/sms.js";

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const relayOnly = params.get("relay") === "1";
const oneMachine = ["localhost", "127.0.0.1", "[::1]"].includes(location.hostname) || location.hostname.startsWith("127.");
const PING_CHANNEL = 7; // the demo's data channel: JSON pings and pongs
const encoder = new TextEncoder();
const decoder = new TextDecoder();

const state = {
  me: null, // {userId, displayName}
  threadId: null,
  thread: null,
  seenMessages: new Set(),
  pingSender: null,
  pings: new Map(), // nonce → {sentAt, waiting: Set(participantId)}
  rtts: new Map(), // participantId → ms
  incoming: null,
  tiles: new Map(), // participantId → element
};
window.telexDemo = { client: null, agent: null, call: null };

// errors --------------------------------------------------------------------------------------
function showError(err) {
  let text = err?.message ?? String(err);
  if (err instanceof TelexError) {
    if (err.code === "CallFull") text = `This call is full. ${err.message}`;
    else if (err.code === "SessionExpired" || err.code === "Unauthorized" || err.code === "TokenExpired") {
      text = "Your session has expired. Sign in again.";
      signedOut();
    } else if (err.code === "Forbidden") text = `Not allowed: ${err.message}`;
    else if (err.code === "NotFound") text = `Not found: ${err.message}`;
  }
  $("error-text").textContent = text;
  $("error-banner").hidden = false;
  console.warn("telex demo:", err);
}
function clearError() {
  $("error-banner").hidden = true;
}
$("error-close").addEventListener("click", clearError);
window.addEventListener("unhandledrejection", (e) => showError(e.reason));

async function demoApi(path, body) {
  const r = await fetch(path, {
    method: "POST",
    headers: body ? { "content-type": "application/json" } : {},
    body: body ? JSON.stringify(body) : undefined,
  });
  const json = await r.json().catch(() => ({}));
  if (r.status === 401) throw new TelexError("SessionExpired", "Your session has expired. Sign in again.", { status: 401 });
  if (!r.ok) throw new TelexError(json?.error?.code ?? `Http${r.status}`, json?.error?.message ?? r.statusText, { status: r.status });
  return json;
}

// sign in ---------------------------------------------------------------------------------------
$("display-name").value = localStorage.getItem("telex-demo-name") ?? "";
$("sign-in-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  clearError();
  const displayName = $("display-name").value.trim();
  if (!displayName) return;
  $("sign-in").disabled = true;
  try {
    await signIn(displayName);
  } catch (err) {
    showError(err);
  } finally {
    $("sign-in").disabled = false;
  }
});

async function signIn(displayName) {
  const session = await demoApi("/demo/api/session", { displayName });
  localStorage.setItem("telex-demo-name", displayName);
  const credential = new AccessTokenCredential({
    token: session.token,
    tokenRefresher: async () => (await demoApi("/demo/api/token")).token,
    refreshProactively: true,
  });
  const client = new TelexClient(location.origin, credential);
  const agent = await client.calling.createCallAgent({ displayName: session.displayName });
  agent.on("incomingCall", ({ incomingCall }) => showIncoming(incomingCall));
  agent.on("connectionError", showError);
  client.chat.on("chatMessageReceived", (m) => {
    if (m.threadId === state.threadId) addMessage({ id: m.id, text: m.message, who: m.senderDisplayName, sender: m.sender });
  });
  // Someone joining the room's thread after us: the same line the history shows for earlier ones
  // (the event's version is the id of that system message, so the two never both appear).
  client.chat.on("participantsAdded", (e) => {
    if (e.threadId !== state.threadId) return;
    const names = (e.participantsAdded ?? []).map((p) => p.displayName).filter(Boolean).join(", ");
    if (names) addMessage({ id: e.version, text: `${names} joined`, system: true });
  });
  await client.chat.startRealtimeNotifications();
  Object.assign(window.telexDemo, { client, agent });
  state.me = { userId: session.userId, displayName: session.displayName };
  $("my-name").textContent = session.displayName;
  $("my-user-id").textContent = session.userId;
  $("me").hidden = false;
  $("sign-in-panel").hidden = true;
  $("lobby").hidden = false;
  offerPush(client);
  startSms(showError);
  const room = params.get("room");
  if (room) await joinRoom(room);
}

function signedOut() {
  $("sign-in-panel").hidden = false;
  $("lobby").hidden = true;
  stopSms();
}

$("copy-id").addEventListener("click", () => copy($("my-user-id").textContent, $("copy-id")));

// "Notify me": Web Push, so that this browser rings even once the tab is closed (when the server
// has Web Push configured; the button stays hidden otherwise).
async function offerPush(client) {
  if (!pushSupported()) return;
  try {
    await client.http.get("/push/webpush/applicationServerKey");
  } catch {
    return; // not configured on this server
  }
  $("notify-me").hidden = false;
}

$("notify-me").addEventListener("click", async () => {
  clearError();
  $("notify-me").disabled = true;
  try {
    await registerPushNotifications(window.telexDemo.client);
    $("notify-me").textContent = "Notifications on";
  } catch (err) {
    $("notify-me").disabled = false;
    showError(err);
  }
});

async function copy(text, button) {
  try {
    await navigator.clipboard.writeText(text);
    const label = button.textContent;
    button.textContent = "Copied";
    setTimeout(() => (button.textContent = label), 1200);
  } catch {
    showError(new Error("Could not copy; select the text and copy it yourself."));
  }
}

// placing calls -----------------------------------------------------------------------------------
const MEDIA = { audio: true, video: true };

/** Calls `place(options)`; without a camera, tries again with audio only. */
async function withMedia(place) {
  try {
    return await place({ ...MEDIA, relayOnly });
  } catch (err) {
    if (err instanceof TelexError && err.code === "DeviceNotFound") {
      return place({ audio: true, video: false, relayOnly });
    }
    throw err;
  }
}

$("new-call").addEventListener("click", () => {
  clearError();
  const room = crypto.randomUUID();
  params.set("room", room);
  history.replaceState(null, "", `${location.pathname}?${params}`);
  joinRoom(room).catch(showError);
});

async function joinRoom(room) {
  const { agent } = window.telexDemo;
  await leaveCurrent();
  showCallPanel(room);
  setCallState("Connecting");
  let call;
  try {
    call = await withMedia((o) => agent.join({ groupId: room }, o));
  } catch (err) {
    setCallState("None");
    throw err;
  }
  attachCall(call);
  openRoomChat(room).catch(showError);
}

$("call-user-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  clearError();
  const id = $("callee-id").value.trim();
  if (!id) return;
  try {
    await leaveCurrent();
    showCallPanel(null);
    setCallState("Connecting");
    const call = await withMedia((o) => window.telexDemo.agent.startCall([{ communicationUserId: id }], o));
    attachCall(call);
  } catch (err) {
    setCallState("None");
    showError(err);
  }
});

async function leaveCurrent() {
  const { call } = window.telexDemo;
  if (call && call.state !== "Disconnected") await call.hangUp().catch(() => {});
}

// incoming calls ----------------------------------------------------------------------------------
function showIncoming(incomingCall) {
  state.incoming = incomingCall;
  const { displayName, identifier } = incomingCall.callerInfo;
  $("incoming-caller").textContent = displayName || identifier?.communicationUserId || "Someone";
  $("incoming-video").textContent = incomingCall.videoOffered ? " (video)" : "";
  const dialog = $("incoming-call");
  if (!dialog.open) dialog.show();
  incomingCall.on("callEnded", () => {
    if (state.incoming === incomingCall) closeIncoming();
  });
}

function closeIncoming() {
  state.incoming = null;
  const dialog = $("incoming-call");
  if (dialog.open) dialog.close();
}

$("incoming-accept").addEventListener("click", async () => {
  const incoming = state.incoming;
  closeIncoming();
  if (!incoming) return;
  try {
    await leaveCurrent();
    showCallPanel(null);
    setCallState("Connecting");
    attachCall(await withMedia((o) => incoming.accept(o)));
  } catch (err) {
    setCallState("None");
    showError(err);
  }
});

$("incoming-decline").addEventListener("click", async () => {
  const incoming = state.incoming;
  closeIncoming();
  await incoming?.reject().catch(showError);
});

// the call ------------------------------------------------------------------------------------------
function showCallPanel(room) {
  $("call-panel").hidden = false;
  $("lobby").hidden = true; // one call at a time: the lobby comes back when it ends
  $("call-end-reason").textContent = "";
  $("ping-result").textContent = "";
  $("room-link-wrap").hidden = !room;
  if (room) {
    const link = new URL(location.href);
    link.search = `?room=${room}`;
    $("room-link").value = link.toString();
  }
  if (!room) resetChat("Chat is available in group calls (rooms).");
}

$("copy-link").addEventListener("click", () => copy($("room-link").value, $("copy-link")));

function setCallState(s) {
  $("call-state").textContent = s;
  $("call-state").dataset.state = s;
  renderMedia();
  const live = !["None", "Disconnected"].includes(s);
  for (const id of ["mute", "camera", "share-screen", "hang-up", "end-for-everyone", "ping"]) $(id).disabled = !live;
}

function attachCall(call) {
  window.telexDemo.call = call;
  state.rtts.clear();
  state.pings.clear();
  renderLocal(call);
  renderControls(call);
  setCallState(call.state);
  call.on("stateChanged", () => {
    setCallState(call.state);
    if (call.state === "Connected") ensurePingSender(call);
    if (call.state === "Disconnected") ended(call);
  });
  call.on("remoteParticipantsUpdated", ({ added, removed }) => {
    for (const p of added) watchParticipant(p);
    for (const p of removed) removeTile(p.participantId);
  });
  for (const p of call.remoteParticipants) watchParticipant(p);
  for (const e of ["isMutedChanged", "isLocalVideoStartedChanged", "isScreenSharingOnChanged"]) {
    call.on(e, () => renderControls(call));
  }
  call.on("localVideoStreamsUpdated", () => renderLocal(call));
  call.on("dataChannelReceiverCreated", (receiver) => onReceiver(call, receiver));
  call.on("error", showError);
  if (call.state === "Connected") ensurePingSender(call);
  if (call.state === "Disconnected") ended(call);
}

function ended(call) {
  $("call-end-reason").textContent = call.callEndReason?.reason ?? "";
  renderMedia();
  $("lobby").hidden = false;
  for (const pid of [...state.tiles.keys()]) removeTile(pid);
  $("tiles").replaceChildren();
  state.pingSender = null;
  if (window.telexDemo.call === call) window.telexDemo.call = null;
}

function renderControls(call) {
  const set = (id, pressed, on, off) => {
    $(id).setAttribute("aria-pressed", String(pressed));
    $(id).textContent = pressed ? on : off;
  };
  set("mute", call.isMuted, "Unmute", "Mute");
  set("camera", !call.isLocalVideoStarted, "Camera on", "Camera off");
  set("share-screen", call.isScreenSharingOn, "Stop sharing", "Share screen");
  const local = document.querySelector(".participant.local");
  if (local) {
    local.dataset.muted = String(call.isMuted);
    local.dataset.video = String(call.isLocalVideoStarted || call.isScreenSharingOn);
  }
}

const action = (fn) => async () => {
  const { call } = window.telexDemo;
  if (!call) return;
  try {
    await fn(call);
  } catch (err) {
    showError(err);
  }
};
$("mute").addEventListener("click", action((c) => (c.isMuted ? c.unmute() : c.mute())));
$("camera").addEventListener("click", action((c) => (c.isLocalVideoStarted ? c.stopVideo() : c.startVideo())));
$("share-screen").addEventListener("click", action((c) => (c.isScreenSharingOn ? c.stopScreenShare() : c.startScreenShare())));
$("hang-up").addEventListener("click", action((c) => c.hangUp()));
$("end-for-everyone").addEventListener("click", action((c) => c.hangUp({ forEveryone: true })));
$("ping").addEventListener("click", action((c) => ping(c)));

// tiles ---------------------------------------------------------------------------------------------
function tile(name) {
  const el = document.createElement("div");
  el.className = "participant";
  const video = document.createElement("video");
  video.autoplay = true;
  video.playsInline = true;
  const avatar = document.createElement("div");
  avatar.className = "avatar";
  avatar.textContent = (name || "?").trim().charAt(0).toUpperCase();
  const label = document.createElement("div");
  label.className = "label";
  label.innerHTML = '<span class="name"></span><span class="badge muted">muted</span><span class="badge camera">camera off</span><span class="state"></span>';
  label.querySelector(".name").textContent = name;
  el.append(video, avatar, label);
  return el;
}

function renderLocal(call) {
  let el = document.querySelector(".participant.local");
  if (!el) {
    el = tile(`${state.me.displayName} (you)`);
    el.classList.add("local");
    el.querySelector("video").muted = true; // never play our own microphone back
    $("tiles").prepend(el);
  }
  el.dataset.state = "Connected";
  const video = el.querySelector("video");
  if (video.srcObject !== call.localStream) video.srcObject = call.localStream;
  renderControls(call);
}

function watchParticipant(p) {
  const render = () => {
    renderRemote(p);
    renderMedia();
  };
  for (const e of ["updated", "stateChanged", "streamChanged", "connectionStateChanged", "mediaStateChanged"]) {
    p.on(e, render);
  }
  render();
}

// The media path, told apart from the call's state: "Connected" means the server has us in the
// call; whether anyone can be seen or heard is this.
const MEDIA_LABELS = { connecting: "connecting media…", reconnecting: "reconnecting media…", failed: "no media path" };

function renderMedia() {
  const { call } = window.telexDemo;
  const live = call && call.state !== "Disconnected";
  const remotes = live ? call.remoteParticipants.filter((p) => p.state === "Connected") : [];
  const states = remotes.map((p) => p.mediaState);
  let summary = "none";
  if (states.length) {
    if (states.every((s) => s === "connected")) summary = "connected";
    else if (states.includes("failed")) summary = "failed";
    else if (states.includes("reconnecting")) summary = "reconnecting";
    else summary = "connecting";
  }
  const el = $("media-state");
  el.dataset.media = summary;
  $("call-panel").dataset.media = summary;
  const failed = remotes.filter((p) => p.mediaState === "failed");
  el.textContent = summary === "none" ? "" : summary === "connected" ? "· media connected" : `· ${MEDIA_LABELS[summary]}`;
  $("media-hint").hidden = failed.length === 0;
  if (!failed.length) return;
  const names = failed.map((p) => p.displayName || "Guest").join(", ");
  let text = `No media path to ${names}: the browsers reached each other neither directly nor through the TURN relay.`;
  if (relayOnly && oneMachine) {
    text +=
      " This page is relay-only on one machine, and Telex's TURN server refuses to relay to this machine's own" +
      " addresses unless the server allows it (turn.allow_loopback_peers = true, for trials on one machine only;" +
      " see docs/browser-sdk.md). Or open the page without ?relay=1.";
  } else {
    text += " Check that both browsers can reach the server's TURN port (3478, UDP and TCP).";
  }
  $("media-hint-text").textContent = text;
}

$("media-retry").addEventListener("click", action((c) => c.retryMedia()));

function renderRemote(p) {
  if (p.state === "Disconnected") return removeTile(p.participantId);
  let el = state.tiles.get(p.participantId);
  if (!el) {
    el = tile(p.displayName || "Guest");
    el.dataset.participantId = p.participantId;
    state.tiles.set(p.participantId, el);
    $("tiles").append(el);
  }
  el.querySelector(".name").textContent = p.displayName || "Guest";
  el.dataset.state = p.state;
  el.dataset.muted = String(p.isMuted);
  el.dataset.video = String(p.isVideoOn || p.isScreenSharing);
  el.dataset.connection = p.connectionState;
  el.dataset.media = p.mediaState;
  const media = p.state === "Connected" && p.mediaState !== "connected" ? ` · ${MEDIA_LABELS[p.mediaState]}` : "";
  el.querySelector(".state").textContent = `${p.state}${media}`;
  const video = el.querySelector("video");
  if (p.mediaStream && video.srcObject !== p.mediaStream) {
    video.srcObject = p.mediaStream;
    video.play().catch(() => {}); // autoplay with sound needs the click that brought us here
  }
}

function removeTile(pid) {
  const el = state.tiles.get(pid);
  state.tiles.delete(pid);
  state.rtts.delete(pid);
  if (el) {
    el.querySelector("video").srcObject = null;
    el.remove();
  }
  renderPings();
}

// data-channel ping ---------------------------------------------------------------------------------
function ensurePingSender(call) {
  if (state.pingSender || call.state !== "Connected") return;
  state.pingSender = call.createDataChannelSender({ channelId: PING_CHANNEL, reliability: "durable", priority: "high" });
}

function sendJson(message, to) {
  state.pingSender?.sendMessage(encoder.encode(JSON.stringify(message)), to).catch(showError);
}

async function ping(call) {
  ensurePingSender(call);
  const targets = call.remoteParticipants.filter((p) => p.state === "Connected");
  if (!targets.length) {
    $("ping-result").textContent = "Nobody else is in the call.";
    return;
  }
  const nonce = crypto.randomUUID();
  state.pings.set(nonce, { sentAt: performance.now(), waiting: new Set(targets.map((p) => p.participantId)) });
  sendJson({ t: "ping", n: nonce, from: call.participantId });
  renderPings("waiting…");
  setTimeout(() => {
    const entry = state.pings.get(nonce);
    if (!entry) return;
    state.pings.delete(nonce);
    for (const pid of entry.waiting) if (!state.rtts.has(pid)) state.rtts.set(pid, null);
    renderPings();
  }, 5000);
}

function onReceiver(call, receiver) {
  if (receiver.channelId !== PING_CHANNEL) return;
  receiver.on("messageReady", () => {
    for (let m = receiver.readMessage(); m; m = receiver.readMessage()) {
      let msg;
      try {
        msg = JSON.parse(decoder.decode(m.data));
      } catch {
        continue;
      }
      if (msg.t === "ping") {
        // Answer on our own channel, to the pinger only.
        ensurePingSender(call);
        sendJson({ t: "pong", n: msg.n, to: msg.from, from: call.participantId }, [receiver.senderParticipantId]);
      } else if (msg.t === "pong" && msg.to === call.participantId) {
        const entry = state.pings.get(msg.n);
        if (!entry) continue;
        state.rtts.set(receiver.senderParticipantId, performance.now() - entry.sentAt);
        entry.waiting.delete(receiver.senderParticipantId);
        if (!entry.waiting.size) state.pings.delete(msg.n);
        renderPings();
      }
    }
  });
}

function renderPings(pending) {
  const { call } = window.telexDemo;
  if (!call) return;
  const lines = [];
  for (const p of call.remoteParticipants) {
    if (!state.rtts.has(p.participantId)) continue;
    const rtt = state.rtts.get(p.participantId);
    lines.push(`${p.displayName || p.participantId}: ${rtt === null ? "no answer" : `${rtt.toFixed(1)} ms`}`);
  }
  $("ping-result").textContent = lines.join("\n") || pending || "";
}

// chat ------------------------------------------------------------------------------------------------
function resetChat(placeholder) {
  state.threadId = null;
  state.thread = null;
  state.seenMessages.clear();
  $("chat-messages").replaceChildren();
  $("chat-input").disabled = true;
  $("chat-send").disabled = true;
  $("chat-input").placeholder = placeholder ?? "Message";
}

async function openRoomChat(room) {
  resetChat("Loading chat…");
  const { threadId } = await demoApi(`/demo/api/rooms/${encodeURIComponent(room)}`);
  const { client } = window.telexDemo;
  state.threadId = threadId;
  state.thread = client.chat.getChatThreadClient(threadId);
  const history = [];
  for await (const m of state.thread.listMessages({ maxPageSize: 50 })) {
    history.push(m);
    if (history.length >= 100) break;
  }
  for (const m of history.reverse()) {
    if (m.type === "text" || m.type === "html") {
      addMessage({ id: m.id, text: m.content?.message ?? "", who: m.senderDisplayName, sender: m.sender });
    } else if (m.type === "participantAdded") {
      const names = (m.content?.participants ?? []).map((p) => p.displayName).filter(Boolean).join(", ");
      if (names) addMessage({ id: m.id, text: `${names} joined`, system: true });
    }
  }
  $("chat-input").disabled = false;
  $("chat-send").disabled = false;
  $("chat-input").placeholder = "Message";
}

function addMessage({ id, text, who, sender, system = false }) {
  if (id && state.seenMessages.has(id)) return;
  if (id) state.seenMessages.add(id);
  const el = document.createElement("div");
  el.className = "chat-message";
  if (system) el.classList.add("system");
  else if (sender?.communicationUserId === state.me?.userId) el.classList.add("mine");
  if (!system) {
    const name = document.createElement("span");
    name.className = "who";
    name.textContent = who || "Someone";
    el.append(name);
  }
  el.append(document.createTextNode(text));
  const box = $("chat-messages");
  const atBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 40;
  box.append(el);
  if (atBottom) box.scrollTop = box.scrollHeight;
}

$("chat-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const content = $("chat-input").value.trim();
  if (!content || !state.thread) return;
  $("chat-input").value = "";
  try {
    const { id } = await state.thread.sendMessage({ content }, { senderDisplayName: state.me.displayName });
    addMessage({ id, text: content, who: state.me.displayName, sender: { communicationUserId: state.me.userId } });
  } catch (err) {
    $("chat-input").value = content;
    showError(err);
  }
});

setCallState("None");
