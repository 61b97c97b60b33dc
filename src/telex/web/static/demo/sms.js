// sms.js — the demo's SMS panel: the visitor's simulated phone and the demo app's number, side by
// side. Everything goes through the sample trusted service (/demo/api/sms*), which texts with the
// handset API and answers with the SMS service, as a customer's backend would. Polls while shown.
//
// Test hooks (tests/api/test_demo_api.py, tests/browser): the element ids in index.html.

const $ = (id) => document.getElementById(id);
const POLL_MS = 1500;
let timer = null;
let onError = console.warn;

async function call(path, body) {
  const r = await fetch(path, {
    method: body ? "POST" : "GET",
    headers: body ? { "content-type": "application/json" } : {},
    body: body ? JSON.stringify(body) : undefined,
  });
  const json = await r.json().catch(() => ({}));
  if (!r.ok) {
    const error = new Error(json?.error?.message ?? r.statusText);
    error.status = r.status;
    throw error;
  }
  return json;
}

function render(list, messages, mine) {
  const box = $(list);
  const atBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 20;
  box.replaceChildren(
    ...messages.map((m) => {
      const div = document.createElement("div");
      div.className = "chat-message" + (m.from === mine ? " mine" : "");
      div.dataset.messageId = m.id;
      div.textContent = m.message;
      if (m.from === mine && m.status !== "received") {
        const status = document.createElement("span");
        status.className = "status";
        status.textContent = m.status;
        div.append(status);
      }
      return div;
    }),
  );
  if (atBottom) box.scrollTop = box.scrollHeight;
}

function show(view) {
  $("sms-handset").textContent = view.handset;
  $("sms-number").textContent = view.number;
  render("sms-handset-messages", view.handsetMessages, view.handset);
  render("sms-app-messages", view.appMessages, view.number);
  $("sms-panel").hidden = false;
}

async function refresh() {
  try {
    show(await call("/demo/api/sms"));
  } catch (error) {
    if (error.status === 404) return stopSms(); // this server has no demo number
    if (error.status === 401) return stopSms();
    onError(error);
  }
}

function wire(formId, inputId, path) {
  $(formId).addEventListener("submit", async (e) => {
    e.preventDefault();
    const input = $(inputId);
    const message = input.value.trim();
    if (!message) return;
    try {
      show(await call(path, { message }));
      input.value = "";
    } catch (error) {
      onError(error);
    }
  });
}
wire("sms-handset-form", "sms-handset-input", "/demo/api/sms/handset");
wire("sms-reply-form", "sms-reply-input", "/demo/api/sms/reply");

/** Show the panel and keep it current (after sign-in). */
export function startSms(showError) {
  onError = showError;
  stopSms();
  refresh();
  timer = setInterval(refresh, POLL_MS);
}

export function stopSms() {
  if (timer !== null) clearInterval(timer);
  timer = null;
  $("sms-panel").hidden = true;
}
