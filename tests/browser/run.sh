#!/usr/bin/env bash
# The chat example in a real browser, then WebSocket over HTTP/2: builds
# wsproto-tokio/examples/chat.rs, starts it on a free port of 127.0.0.1, and
# runs chat.test.mjs against it; then echo_server (feature h2) over TLS,
# with h2.test.mjs. Both in headless Chromium (Debian's package, installed
# here if missing) driven by playwright-core (pinned in package-lock.json;
# it never downloads a browser). Each server is always ended, by its PID.
# Fails if either test fails. See README.md.
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
# The HTTP/2 case: the echo server with the `h2` feature.
(cd "$root" && cargo build --quiet -p wsproto-tokio --features h2 --example echo_server)
examples="${CARGO_TARGET_DIR:-$root/target}/debug/examples"

work="$(mktemp -d)"
server_pid=""
test_pid=""
cleanup() {
    for pid in $test_pid $server_pid; do
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# start NAME SED_SCRIPT COMMAND...: runs COMMAND in the background (its PID in
# $server_pid) and waits at most 10 s for the URL that SED_SCRIPT finds in
# its standard output (in $url).
start() {
    local name="$1" pattern="$2"
    shift 2
    "$@" >"$work/out" 2>"$work/log" &
    server_pid=$!
    url=""
    for _ in $(seq 100); do
        url="$(sed -n "$pattern" "$work/out")"
        [ -n "$url" ] && break
        if ! kill -0 "$server_pid" 2>/dev/null; then
            echo "run.sh: $name exited early:" >&2
            cat "$work/log" >&2
            exit 1
        fi
        sleep 0.1
    done
    if [ -z "$url" ]; then
        echo "run.sh: $name printed no URL within 10 s" >&2
        exit 1
    fi
    echo "run.sh: $name at $url (pid $server_pid)"
}

# run_test FILE: runs a test against $url, prints the server's log, stops the
# server; the test's status is in $status. In the background and waited
# for, so that a signal to this script runs the trap at once; each test
# bounds itself to 60 s, `timeout` is a second guard.
run_test() {
    timeout 120 node "$here/$1" "$url" &
    test_pid=$!
    status=0
    wait "$test_pid" || status=$?
    test_pid=""
    echo "run.sh: server log:"
    sed 's/^/  /' "$work/log"
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
    server_pid=""
}

# The chat: its first line is "open http://127.0.0.1:PORT/".
start "the chat example" 's|^open \(http://[^ ]*\)$|\1|p' "$examples/chat" 127.0.0.1:0
run_test chat.test.mjs
chat_status=$status

# WebSocket over HTTP/2: TLS with an EC P-256 certificate for 127.0.0.1 and
# localhost (its key PKCS#8, unencrypted), made here for this run.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -subj /CN=localhost -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
    -keyout "$work/key.pem" -out "$work/cert.pem" 2>/dev/null
start "echo_server (h2)" 's|^echo server listening on wss://\([^ ]*\)$|https://\1|p' \
    "$examples/echo_server" --tls-cert "$work/cert.pem" --tls-key "$work/key.pem" 127.0.0.1:0
run_test h2.test.mjs
h2_status=$status

echo "run.sh: finished in ${SECONDS}s"
[ "$chat_status" -eq 0 ] && [ "$h2_status" -eq 0 ]
