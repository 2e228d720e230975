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

work="$(mktemp -d)"
server_pid=""
client_pid=""
cleanup() {
    for pid in $client_pid $server_pid; do
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# An EC P-256 certificate for 127.0.0.1 and localhost, its key PKCS#8.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -subj /CN=localhost -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
    -keyout "$work/key.pem" -out "$work/cert.pem" 2>/dev/null
"$target/debug/examples/echo_server" --tls-cert "$work/cert.pem" --tls-key "$work/key.pem" \
    127.0.0.1:0 >"$work/out" 2>"$work/log" &
server_pid=$!

# "echo server listening on wss://127.0.0.1:PORT/": at most 10 s.
port=""
for _ in $(seq 100); do
    port="$(sed -n 's|^echo server listening on wss://127.0.0.1:\([0-9]*\)/$|\1|p' "$work/out")"
    [ -n "$port" ] && break
    if ! kill -0 "$server_pid" 2>/dev/null; then
        echo "run.sh: echo_server exited early:" >&2
        cat "$work/log" >&2
        exit 1
    fi
    sleep 0.1
done
[ -n "$port" ] || { echo "run.sh: echo_server printed no address within 10 s" >&2; exit 1; }

# In the background and waited for, so that a signal runs the trap at once;
# every read of the client is bounded, `timeout` is a second guard.
timeout 120 "$venv/bin/python" "$here/h2_client.py" 127.0.0.1 "$port" &
client_pid=$!
status=0
wait "$client_pid" || status=$?
client_pid=""
echo "run.sh: server log:"
sed 's/^/  /' "$work/log"
echo "run.sh: finished in ${SECONDS}s"
exit "$status"
