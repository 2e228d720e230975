# Sourced by tests/browser/run.sh and tests/peers/run.sh: a server example
# in the background and a client against it, both always ended by their
# PIDs, and a work directory removed, however the script ends.
#
#   start NAME SED_SCRIPT COMMAND...   runs COMMAND (its PID in $server_pid)
#                                       and waits at most 10 s for the address
#                                       SED_SCRIPT finds in its standard
#                                       output ($url)
#   run_client COMMAND...              runs COMMAND under a 120 s `timeout`,
#                                       prints the server's log and stops the
#                                       server; the client's status in $status
#   make_certificate                   an EC P-256 certificate for 127.0.0.1
#                                       and localhost, its key unencrypted
#                                       PKCS#8: $work/cert.pem, $work/key.pem

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
        echo "run.sh: $name printed no address within 10 s" >&2
        exit 1
    fi
    echo "run.sh: $name at $url (pid $server_pid)"
}

# In the background and waited for, so that a signal to the script runs the
# trap at once; every client bounds itself, `timeout` is a second guard.
run_client() {
    timeout 120 "$@" &
    client_pid=$!
    status=0
    wait "$client_pid" || status=$?
    client_pid=""
    echo "run.sh: server log:"
    sed 's/^/  /' "$work/log"
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
    server_pid=""
}

make_certificate() {
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
        -subj /CN=localhost -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
        -keyout "$work/key.pem" -out "$work/cert.pem" 2>/dev/null
}
