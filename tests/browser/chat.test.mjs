// The chat example (examples/chat.rs) in a real browser: headless Chromium,
// Debian's package, driven by playwright-core. Two tabs join, one speaks,
// both hear it, one leaves. Plain node, no test runner: exits non-zero on
// any failure, and within TOTAL_TIMEOUT_MS whatever happens.
//
//   node chat.test.mjs http://127.0.0.1:PORT/    (run.sh starts the server)

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";

const STEP_TIMEOUT_MS = 10_000; // one expectation
const TOTAL_TIMEOUT_MS = 60_000; // everything, browser start included
const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";

const url = process.argv[2];
if (!url?.startsWith("http://")) {
  console.error("usage: node chat.test.mjs http://127.0.0.1:PORT/");
  process.exit(2);
}

// A fresh profile (--user-data-dir), removed however the run ends.
const profile = mkdtempSync(join(tmpdir(), "wsproto-chromium-"));
const removeProfile = () => {
  try {
    rmSync(profile, { recursive: true, force: true });
  } catch {}
};
process.on("exit", removeProfile);
const watchdog = setTimeout(() => {
  console.error(`FAIL: timed out after ${TOTAL_TIMEOUT_MS} ms`);
  process.exit(1); // playwright kills the browser it launched on exit
}, TOTAL_TIMEOUT_MS);

let passed = 0;
let failed = 0;

/** Runs one named check; a failure is reported and ends the run. */
async function check(name, body) {
  try {
    await body();
    passed += 1;
    console.log(`ok - ${name}`);
  } catch (error) {
    failed += 1;
    console.log(`FAIL - ${name}\n  ${String(error.message ?? error).replaceAll("\n", "\n  ")}`);
    throw error;
  }
}

const lines = (page) => page.locator("#log li").allTextContents();

/** Waits until `page` shows a chat line equal to `text` (or matching it, for a RegExp); returns it. */
async function line(page, text) {
  const source = text instanceof RegExp ? text.source : null;
  try {
    const handle = await page.waitForFunction(
      ([text, source]) =>
        [...document.querySelectorAll("#log li")]
          .map((li) => li.textContent)
          .find((shown) => (source === null ? shown === text : new RegExp(source).test(shown))),
      [text, source],
      { timeout: STEP_TIMEOUT_MS },
    );
    return await handle.jsonValue();
  } catch {
    const wanted = source === null ? JSON.stringify(text) : String(text);
    throw new Error(`no line ${wanted} in ${JSON.stringify(await lines(page))}`);
  }
}

/** Opens the chat in a new tab; returns the tab and the name the server gave it. */
async function openTab(context) {
  const page = await context.newPage();
  page.setDefaultTimeout(STEP_TIMEOUT_MS);
  page.on("pageerror", (error) => {
    failed += 1;
    console.log(`FAIL - uncaught error in the page: ${error.message}`);
  });
  await page.goto(url);
  const welcome = await line(page, /^\* you are guest-\d+$/);
  return { page, name: welcome.slice("* you are ".length) };
}

async function expectText(locator, expected) {
  const actual = await locator.textContent({ timeout: STEP_TIMEOUT_MS });
  if (actual !== expected) throw new Error(`expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`);
}

let context;
try {
  await check("headless Chromium starts", async () => {
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
      ],
    });
  });
  let one;
  let two;
  await check("tab 1 joins and is welcomed by name", async () => {
    one = await openTab(context);
  });
  await check("tab 1 negotiated subprotocol chat.v1 and shows it", async () => {
    await expectText(one.page.locator("#status"), "connected");
    await expectText(one.page.locator("#protocol"), "chat.v1");
    const negotiated = await one.page.evaluate(() => socket.protocol);
    if (negotiated !== "chat.v1") throw new Error(`socket.protocol is ${JSON.stringify(negotiated)}`);
  });
  await check("tab 1 sees its own join announced", () => line(one.page, `* ${one.name} joined`));
  await check("tab 2 joins under another name, with chat.v1", async () => {
    two = await openTab(context);
    if (two.name === one.name) throw new Error(`both tabs are ${one.name}`);
    await expectText(two.page.locator("#protocol"), "chat.v1");
  });
  await check("both tabs see tab 2's join announced", async () => {
    await line(one.page, `* ${two.name} joined`);
    await line(two.page, `* ${two.name} joined`);
  });

  const text = "hello from tab 1: ünïcødé ✓ <b>not bold</b>";
  await check("a line typed in tab 1 reaches both tabs, exactly", async () => {
    await one.page.locator("#message").fill(text);
    await one.page.locator("#message").press("Enter");
    await line(one.page, `${one.name}: ${text}`);
    await line(two.page, `${one.name}: ${text}`);
    const left = await one.page.locator("#message").inputValue();
    if (left !== "") throw new Error(`the input still holds ${JSON.stringify(left)}`);
  });

  await check("closing tab 2 is announced in tab 1 as a leave", async () => {
    await two.page.close();
    await line(one.page, `* ${two.name} left`);
  });

  await check("the server refuses a WebSocket that does not offer chat.v1", async () => {
    const code = await one.page.evaluate(
      () =>
        new Promise((resolve) => {
          const bare = new WebSocket(new URL("/ws", location.href.replace(/^http/, "ws")));
          bare.onopen = () => resolve("opened");
          bare.onclose = (event) => resolve(event.code);
        }),
    );
    if (code !== 1006) throw new Error(`expected a failed connection (1006), got ${code}`);
  });

  await check("unknown paths are 404", async () => {
    const status = await one.page.evaluate(async () => (await fetch("/nope")).status);
    if (status !== 404) throw new Error(`status ${status}`);
  });
} catch {
  // Reported by check(); the summary below still prints.
} finally {
  await context?.close().catch(() => {});
  clearTimeout(watchdog);
}

console.log(`browser: ${passed} passed, ${failed} failed`);
process.exit(failed === 0 && passed > 0 ? 0 : 1);
