// What the browser tests share: their time limits, a temporary directory
// removed however the run ends, a watchdog that ends a run that hangs,
// named checks, and the summary line that sets the exit status.

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export const STEP_TIMEOUT_MS = 10_000; // one expectation
export const TOTAL_TIMEOUT_MS = 60_000; // everything, browser start included
export const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";

/** Chromium's flags for every test: headless, quiet, no QUIC. */
export const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

/** A fresh directory (for a profile, a net log), removed when the process exits. */
export function tempDir(prefix) {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  process.on("exit", () => {
    try {
      rmSync(dir, { recursive: true, force: true });
    } catch {}
  });
  return dir;
}

// Ends the run, failed, if it is not over within TOTAL_TIMEOUT_MS.
const watchdog = setTimeout(() => {
  console.error(`FAIL: timed out after ${TOTAL_TIMEOUT_MS} ms`);
  process.exit(1); // playwright kills the browser it launched on exit
}, TOTAL_TIMEOUT_MS);

let passed = 0;
let failed = 0;

/** Reports a failure found outside a check (an error in a page, say). */
export function fail(message) {
  failed += 1;
  console.log(`FAIL - ${message}`);
}

/** Runs one named check; a failure is reported and ends the run. */
export async function check(name, body) {
  try {
    await body();
    passed += 1;
    console.log(`ok - ${name}`);
  } catch (error) {
    fail(`${name}\n  ${String(error.message ?? error).replaceAll("\n", "\n  ")}`);
    throw error;
  }
}

/** Prints `label: N passed, M failed` and exits, non-zero unless all passed. */
export function finish(label) {
  clearTimeout(watchdog);
  console.log(`${label}: ${passed} passed, ${failed} failed`);
  process.exit(failed === 0 && passed > 0 ? 0 : 1);
}
