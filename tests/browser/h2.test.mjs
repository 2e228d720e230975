// WebSocket over HTTP/2 (RFC 8441) in a real browser: headless Chromium
// (Debian's package) against the echo_server example built with the `h2`
// feature, over TLS with ALPN h2. Chromium sends a WebSocket over HTTP/2
// only on an HTTP/2 session it already has to the same origin, one whose
// server advertised SETTINGS_ENABLE_CONNECT_PROTOCOL: the page comes from
// the server's own origin (its 404), and a fetch opens the session first.
// Chromium falls back to HTTP/1.1 silently, so the transport is confirmed
// from its net log (--log-net-log): the extended CONNECT must be there, on
// an HTTP/2 session. Plain node, no test runner: exits non-zero on any
// failure, and within TOTAL_TIMEOUT_MS whatever happens.
//
//   node h2.test.mjs https://127.0.0.1:PORT/    (run.sh starts the server)

import { readFileSync } from "node:fs";
import { join } from "node:path";
import { chromium } from "playwright-core";
import { CHROMIUM, CHROMIUM_ARGS, STEP_TIMEOUT_MS, check, finish, tempDir } from "./harness.mjs";

const url = process.argv[2];
if (!url?.startsWith("https://")) {
  console.error("usage: node h2.test.mjs https://127.0.0.1:PORT/");
  process.exit(2);
}

// A fresh profile and the net log, removed however the run ends.
const work = tempDir("wsproto-chromium-h2-");
const netLog = join(work, "netlog.json");

/**
 * In the page: opens a WebSocket to `path`, echoes a text and a 1 MiB
 * binary message through it, closes it; returns what it saw.
 */
function echoInPage(path) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(new URL(path, location.href.replace(/^http/, "ws")));
    ws.binaryType = "arraybuffer";
    const big = new Uint8Array(1 << 20).map((_, i) => i % 251);
    const seen = {};
    ws.onopen = () => {
      seen.extensions = ws.extensions;
      ws.send("héllo over h2");
    };
    ws.onmessage = (event) => {
      if (typeof event.data === "string") {
        seen.text = event.data;
        ws.send(big);
        return;
      }
      const back = new Uint8Array(event.data);
      seen.binaryExact = back.length === big.length && back.every((b, i) => b === big[i]);
      ws.close(1000, "done");
    };
    ws.onclose = (event) => {
      seen.closeCode = event.code;
      resolve(seen);
    };
    ws.onerror = () => reject(new Error("WebSocket error"));
  });
}

let context;
try {
  await check("headless Chromium starts, with a net log", async () => {
    context = await chromium.launchPersistentContext(join(work, "profile"), {
      executablePath: CHROMIUM,
      headless: true,
      ignoreHTTPSErrors: true,
      args: [
        ...CHROMIUM_ARGS,
        "--ignore-certificate-errors",
        // Pages of 127.0.0.1 may reach 127.0.0.1 without a prompt.
        "--disable-features=LocalNetworkAccessChecks",
        `--log-net-log=${netLog}`,
        "--net-log-capture-mode=Everything",
      ],
    });
  });

  let page;
  await check("the page comes from the server's origin over HTTP/2 (a 404)", async () => {
    page = await context.newPage();
    page.setDefaultTimeout(STEP_TIMEOUT_MS);
    const response = await page.goto(url);
    if (response.status() !== 404) throw new Error(`status ${response.status()}`);
    const protocol = await page.evaluate(
      () => performance.getEntriesByType("navigation")[0].nextHopProtocol,
    );
    if (protocol !== "h2") throw new Error(`page loaded over ${protocol}`);
  });

  await check("a fetch on the same HTTP/2 session", async () => {
    const status = await page.evaluate(async () => (await fetch("/warm")).status);
    if (status !== 404) throw new Error(`status ${status}`);
  });

  for (const path of ["/echo", "/any/other/path?x=1"]) {
    await check(`a WebSocket on ${path} echoes text and 1 MiB, then closes with 1000`, async () => {
      const seen = await page.evaluate(echoInPage, path);
      if (seen.text !== "héllo over h2") throw new Error(`text ${JSON.stringify(seen.text)}`);
      if (!seen.binaryExact) throw new Error("the 1 MiB message came back changed");
      if (seen.closeCode !== 1000) throw new Error(`closed with ${seen.closeCode}`);
      if (!seen.extensions.startsWith("permessage-deflate")) {
        throw new Error(`extensions ${JSON.stringify(seen.extensions)}`);
      }
    });
  }

  await context.close(); // writes the end of the net log
  context = undefined;

  await check("the net log shows the WebSockets as extended CONNECTs on HTTP/2", async () => {
    const log = JSON.parse(readFileSync(netLog, "utf8"));
    const types = log.constants.logEventTypes;
    const sendHeaders = types.HTTP2_SESSION_SEND_HEADERS;
    const connects = log.events.filter(
      (event) =>
        event.type === sendHeaders &&
        (event.params?.headers ?? []).some((h) => h === ":protocol: websocket"),
    );
    if (connects.length !== 2) {
      throw new Error(`${connects.length} extended CONNECTs sent on HTTP/2 sessions, not 2`);
    }
    const methods = connects.map((event) =>
      event.params.headers.find((h) => h.startsWith(":method: ")),
    );
    if (!methods.every((m) => m === ":method: CONNECT")) throw new Error(String(methods));
    // And no WebSocket went over an HTTP/1.1 upgrade.
    const upgrades = log.events.filter(
      (event) =>
        event.type === types.HTTP_TRANSACTION_SEND_REQUEST_HEADERS &&
        JSON.stringify(event.params ?? {}).includes("Upgrade: websocket"),
    );
    if (upgrades.length !== 0) throw new Error(`${upgrades.length} HTTP/1.1 upgrades`);
  });
} catch {
  // Reported by check(); the summary below still prints.
} finally {
  await context?.close().catch(() => {});
}

finish("browser (HTTP/2)");
