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

# shellcheck source=../serve.sh
source "$root/tests/serve.sh"

# The chat: its first line is "open http://127.0.0.1:PORT/".
start "the chat example" 's|^open \(http://[^ ]*\)$|\1|p' "$examples/chat" 127.0.0.1:0
run_client node "$here/chat.test.mjs" "$url"
chat_status=$status

# WebSocket over HTTP/2: TLS with an EC P-256 certificate for 127.0.0.1 and
# localhost (its key PKCS#8, unencrypted), made here for this run.
make_certificate
start "echo_server (h2)" 's|^echo server listening on wss://\([^ ]*\)$|https://\1|p' \
    "$examples/echo_server" --tls-cert "$work/cert.pem" --tls-key "$work/key.pem" 127.0.0.1:0
run_client node "$here/h2.test.mjs" "$url"
h2_status=$status

echo "run.sh: finished in ${SECONDS}s"
[ "$chat_status" -eq 0 ] && [ "$h2_status" -eq 0 ]
