// The chat example (examples/chat.rs) in a real browser: headless Chromium,
// Debian's package, driven by playwright-core. Two tabs join over
// permessage-deflate, one speaks, both hear it (short lines and compressed
// long ones), one leaves. Plain node, no test runner: exits non-zero on any
// failure, and within TOTAL_TIMEOUT_MS whatever happens.
//
//   node chat.test.mjs http://127.0.0.1:PORT/    (run.sh starts the server)

import { chromium } from "playwright-core";
import {
  CHROMIUM,
  CHROMIUM_ARGS,
  STEP_TIMEOUT_MS,
  check,
  fail,
  finish,
  tempDir,
} from "./harness.mjs";

const url = process.argv[2];
if (!url?.startsWith("http://")) {
  console.error("usage: node chat.test.mjs http://127.0.0.1:PORT/");
  process.exit(2);
}

// A fresh profile (--user-data-dir), removed however the run ends.
const profile = tempDir("wsproto-chromium-");

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
  page.on("pageerror", (error) => fail(`uncaught error in the page: ${error.message}`));
  await page.goto(url);
  const welcome = await line(page, /^\* you are guest-\d+$/);
  return { page, name: welcome.slice("* you are ".length) };
}

async function expectText(locator, expected) {
  const actual = await locator.textContent({ timeout: STEP_TIMEOUT_MS });
  if (actual !== expected) throw new Error(`expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`);
}

/**
 * Checks that `page`'s socket negotiated permessage-deflate: `socket.extensions`
 * (the server's answer, as the browser accepted it) names it first, and the
 * page shows exactly that. Returns the value.
 */
async function expectDeflate(page) {
  const negotiated = await page.evaluate(() => socket.extensions);
  if (typeof negotiated !== "string" || !negotiated.startsWith("permessage-deflate")) {
    throw new Error(`socket.extensions is ${JSON.stringify(negotiated)}`);
  }
  await expectText(page.locator("#extensions"), negotiated);
  return negotiated;
}

/** Types `text` into `page`'s input and sends it. */
async function say(page, text) {
  await page.locator("#message").fill(text);
  await page.locator("#message").press("Enter");
}

let context;
try {
  await check("headless Chromium starts", async () => {
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: CHROMIUM_ARGS,
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
  let extensions;
  await check("tab 1 negotiated permessage-deflate and shows it", async () => {
    extensions = await expectDeflate(one.page);
  });
  console.log(`  socket.extensions: ${JSON.stringify(extensions)}`);
  await check("tab 1 sees its own join announced", () => line(one.page, `* ${one.name} joined`));
  await check("tab 2 joins under another name, with chat.v1 and permessage-deflate", async () => {
    two = await openTab(context);
    if (two.name === one.name) throw new Error(`both tabs are ${one.name}`);
    await expectText(two.page.locator("#protocol"), "chat.v1");
    await expectDeflate(two.page);
  });
  await check("both tabs see tab 2's join announced", async () => {
    await line(one.page, `* ${two.name} joined`);
    await line(two.page, `* ${two.name} joined`);
  });

  const text = "hello from tab 1: ünïcødé ✓ <b>not bold</b>";
  await check("a line typed in tab 1 reaches both tabs, exactly", async () => {
    await say(one.page, text);
    await line(one.page, `${one.name}: ${text}`);
    await line(two.page, `${one.name}: ${text}`);
    const left = await one.page.locator("#message").inputValue();
    if (left !== "") throw new Error(`the input still holds ${JSON.stringify(left)}`);
  });

  // Lines of a few hundred bytes: over the server's min_compress_len (32),
  // so the server sends them compressed (the short lines above go out
  // uncompressed; Chromium compresses everything it sends, short or long).
  // The second repeats most of the first, so with context takeover it is
  // encoded as references into the previous message's window.
  const long1 = `long line from tab 1: ${"the quick brown fox jumps over the lazy dog, ünïcødé ✓ ".repeat(5)}end`;
  const long2 = `long line from tab 2: ${"the quick brown fox jumps over the lazy dog, ünïcødé ✓ ".repeat(6)}<i>end</i>`;
  await check(`compressed lines (${long1.length} and ${long2.length} characters) round-trip between the tabs`, async () => {
    await say(one.page, long1);
    await line(one.page, `${one.name}: ${long1}`);
    await line(two.page, `${one.name}: ${long1}`);
    await say(two.page, long2);
    await line(two.page, `${two.name}: ${long2}`);
    await line(one.page, `${two.name}: ${long2}`);
    for (const { page } of [one, two]) {
      const status = await page.locator("#status").textContent();
      if (status !== "connected") throw new Error(`a tab is ${JSON.stringify(status)}`);
    }
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
}

finish("browser");
