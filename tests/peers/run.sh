#!/usr/bin/env bash
# Independent peers against our servers: Python's `h2` (PyPI) as a
# WebSocket-over-HTTP/2 client (RFC 8441, h2_client.py) against the
# echo_server example built with the `h2` feature, over TLS with a
# certificate made here. The Python packages go into a venv under the
# target directory (pinned in requirements.txt); the server is always ended,
# by its PID. See README.md.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
target="${CARGO_TARGET_DIR:-$root/target}"
SECONDS=0

venv="$target/peers-venv"
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
fi
"$venv/bin/pip" install --quiet --disable-pip-version-check -r "$here/requirements.txt"
(cd "$root" && cargo build --quiet -p wsproto-tokio --features h2 --example echo_server)

# shellcheck source=../serve.sh
source "$root/tests/serve.sh"

make_certificate
start "echo_server (h2)" 's|^echo server listening on wss://127.0.0.1:\([0-9]*\)/$|\1|p' \
    "$target/debug/examples/echo_server" --tls-cert "$work/cert.pem" --tls-key "$work/key.pem" \
    127.0.0.1:0
run_client "$venv/bin/python" "$here/h2_client.py" 127.0.0.1 "$url"
echo "run.sh: finished in ${SECONDS}s"
exit "$status"
