#!/usr/bin/env bash
# The chat example in a real browser: builds wsproto-tokio/examples/chat.rs, starts it on a
# free port of 127.0.0.1, and runs chat.test.mjs against it in headless
# Chromium (Debian's package, installed here if missing) driven by
# playwright-core (pinned in package-lock.json; it never downloads a
# browser). The chat process is always ended, by its PID. See README.md.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
export CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
SECONDS=0

if [ ! -x "$CHROMIUM" ]; then
    echo "run.sh: installing Debian's chromium"
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo=sudo
    $sudo apt-get update -qq
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi

(cd "$here" && npm ci --no-audit --no-fund --loglevel=error)
(cd "$root" && cargo build --quiet --example chat)

work="$(mktemp -d)"
chat_pid=""
test_pid=""
cleanup() {
    for pid in $test_pid $chat_pid; do
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

"${CARGO_TARGET_DIR:-$root/target}/debug/examples/chat" 127.0.0.1:0 >"$work/out" 2>"$work/log" &
chat_pid=$!

# The first line is "open http://127.0.0.1:PORT/"; wait at most 10 s for it.
url=""
for _ in $(seq 100); do
    url="$(sed -n 's|^open \(http://[^ ]*\)$|\1|p' "$work/out")"
    [ -n "$url" ] && break
    if ! kill -0 "$chat_pid" 2>/dev/null; then
        echo "run.sh: the chat example exited early:" >&2
        cat "$work/log" >&2
        exit 1
    fi
    sleep 0.1
done
if [ -z "$url" ]; then
    echo "run.sh: the chat example printed no URL within 10 s" >&2
    exit 1
fi
echo "run.sh: chat example at $url (pid $chat_pid)"

# In the background and waited for, so that a signal to this script runs the
# trap at once; the test bounds itself to 60 s, `timeout` is a second guard.
timeout 120 node "$here/chat.test.mjs" "$url" &
test_pid=$!
status=0
wait "$test_pid" || status=$?
test_pid=""
echo "run.sh: server log:"
sed 's/^/  /' "$work/log"
echo "run.sh: finished in ${SECONDS}s"
exit "$status"
