// Drives Debian's firefox-esr over WebDriver BiDi (puppeteer-core) for tests/browser/test_firefox.py.
//
// The Python test keeps every check; this script only does what it is told. Protocol: JSON lines.
//   stdin:  {"id": 1, "cmd": "newPage", "page": "Bob"}   (one request per line)
//   stdout: {"id": 1, "ok": true, "value": ...}  or  {"id": 1, "ok": false, "error": "..."}
//           {"event": "console", "page": "Bob", "text": "..."}   (the page's console, for failures)
// The first line out is {"event": "ready", "version": "firefox/…", "pid": <Firefox's pid>}: the pid
// lets the test kill that process group itself should this script ever die without closing it.
// When stdin ends (the test is gone), the browser is closed and the script exits.
//
// Usage: node driver.mjs /usr/bin/firefox-esr
// TELEX_FIREFOX_PREFS (JSON, optional) adds preferences (the Web Push test points Firefox's push
// service at a loopback one).
import readline from "node:readline";
import puppeteer from "puppeteer-core";

const PREFS = {
  // Fake camera and microphone (a test pattern and a tone), no real devices needed.
  "media.navigator.streams.fake": true,
  // Grant camera and microphone as a site permission, rather than skipping the prompt with
  // media.navigator.permission.disabled: only a page that "has permission" gets every local
  // address for ICE. Otherwise Firefox uses "default address only", finds that address by
  // routing towards the internet, and in the loopback-only namespace (no route) gathers
  // nothing at all, not even a relay candidate ("failed to find default addresses").
  "permissions.default.camera": 1,
  "permissions.default.microphone": 1,
  // Loopback is the only interface the test namespace has.
  "media.peerconnection.ice.loopback": true,
  // Autoplay of the remote <video> elements without a user gesture.
  "media.autoplay.default": 0,
};

Object.assign(PREFS, JSON.parse(process.env.TELEX_FIREFOX_PREFS || "{}"));

const executablePath = process.argv[2] || "/usr/bin/firefox-esr";
const out = (message) => process.stdout.write(`${JSON.stringify(message)}\n`);

const browser = await puppeteer.launch({
  browser: "firefox", // over WebDriver BiDi (puppeteer's only protocol for Firefox)
  executablePath,
  headless: true,
  extraPrefsFirefox: PREFS,
  timeout: 60_000, // Firefox's first start in a fresh profile can take several seconds
});
const pages = new Map(); // name → puppeteer Page

const commands = {
  // Each page gets its own user context (cookies, storage): two pages are two demo users. And its
  // own window: in a background tab, puppeteer's clicks (which wait for a visible, stable
  // element) timed out.
  // `shared`: in the default context instead, whose storage (service workers, push
  // subscriptions) outlives the page, as a browser's profile outlives a closed tab.
  async newPage({ page: name, shared }) {
    const context = shared ? browser.defaultBrowserContext() : await browser.createBrowserContext();
    const page = await context.newPage({ type: "window" });
    await page.setViewport({ width: 1280, height: 800 });
    page.setDefaultTimeout(30_000);
    page.on("console", (m) => out({ event: "console", page: name, text: `${m.type()}: ${m.text()}` }));
    page.on("pageerror", (e) => out({ event: "console", page: name, text: `pageerror: ${e.message ?? e}` }));
    pages.set(name, page);
  },
  async goto({ page, url }) {
    await pages.get(page).goto(url);
  },
  // Focus the window first, as a person's click does: Firefox holds back getUserMedia in a
  // window without focus (visible or not) until it gets focus, so a call would never start.
  async click({ page, selector }) {
    await pages.get(page).bringToFront();
    await pages.get(page).locator(selector).click();
  },
  async fill({ page, selector, value }) {
    await pages.get(page).locator(selector).fill(value);
  },
  // An expression, or the source of a function to call (as Playwright's page.evaluate takes).
  // BiDi evaluates it from outside the page, so the demo's no-eval CSP does not get in the way.
  async eval({ page, expression }) {
    return pages.get(page).evaluate(
      `(async () => { const v = (${expression}); return typeof v === "function" ? await v() : await v; })()`,
    );
  },
  async closePage({ page }) {
    const p = pages.get(page);
    pages.delete(page);
    if (p.browserContext() === browser.defaultBrowserContext()) await p.close();
    else await p.browserContext().close();
  },
};

let closing = null;
function shutdown(code) {
  closing ??= browser.close().finally(() => process.exit(code));
  return closing;
}

out({ event: "ready", version: await browser.version(), pid: browser.process()?.pid ?? null });

const lines = readline.createInterface({ input: process.stdin });
lines.on("close", () => shutdown(0));
lines.on("line", async (line) => {
  const request = JSON.parse(line);
  if (request.cmd === "close") {
    out({ id: request.id, ok: true, value: null });
    return shutdown(0);
  }
  try {
    const command = commands[request.cmd];
    if (!command) throw new Error(`unknown command ${request.cmd}`);
    if (request.page !== undefined && request.cmd !== "newPage" && !pages.has(request.page)) {
      throw new Error(`no page ${request.page}`);
    }
    out({ id: request.id, ok: true, value: (await command(request)) ?? null });
  } catch (err) {
    out({ id: request.id, ok: false, error: String(err?.stack ?? err) });
  }
});
