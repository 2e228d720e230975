#!/usr/bin/env bash
# Runs the Autobahn|Testsuite against wsproto in both roles and compares the
# outcome with autobahn/expected-results.json.
#
# Usage: scripts/autobahn.sh [--update] [server|client|all]   (default: all)
#   server   fuzzingclient mode against each echo server example
#   client   fuzzingserver mode against each client example: the driver's
#            (wsproto-tokio/examples/tokio_autobahn_client.rs) and the
#            core's (examples/autobahn_client.rs)
#   --update record this run's results as the expected ones (full runs only:
#            both modes, nothing skipped but the compression cases of the
#            testees after the first of each role, see below)
#
# The compression cases (12.* and 13.*, permessage-deflate) take 8-10 minutes
# per testee, so they run against the first server and the first client
# only; the other testees are run without them (and not held to them).
#
# Environment:
#   AUTOBAHN_SERVERS   the server examples to test (default: "echo_server
#                      blocking_echo_server mio_echo_server"); all are held to
#                      the same expected server results (less 12.* and 13.*
#                      for those that do not run them)
#   AUTOBAHN_COMPRESSION_SERVERS
#                      the servers that also run 12.* and 13.* (default: the
#                      first of AUTOBAHN_SERVERS; "all" for every one)
#   AUTOBAHN_CLIENTS   the client examples to test (default:
#                      "tokio_autobahn_client autobahn_client"); all are held
#                      to the same expected client results, as the servers
#   AUTOBAHN_COMPRESSION_CLIENTS
#                      the clients that also run 12.* and 13.* (default: the
#                      first of AUTOBAHN_CLIENTS; "all" for every one)
#   AUTOBAHN_SKIP_COMPRESSION=1, AUTOBAHN_SKIP_PERF=1, AUTOBAHN_EXCLUDE
#                      passed on to ../shared/autobahn (skipped cases are then
#                      not required by the comparison); the first skips 12.*
#                      and 13.* everywhere
#   WSPROTO_SHARED     where the shared tools are (default: ../shared)
#
# Reports go to target/autobahn/<testee>/ (index.html is wstest's own).
# Exit status: 0 when no case FAILED and none is worse than expected.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
SHARED="${WSPROTO_SHARED:-$ROOT/../shared}/autobahn"
EXPECTED="$ROOT/autobahn/expected-results.json"
OUT="$ROOT/target/autobahn"

update=0
mode=all
for arg in "$@"; do
  case "$arg" in
    --update) update=1 ;;
    server | client | all) mode="$arg" ;;
    *) sed -n '2,/^set -e/{/^set -e/d;s/^# \{0,1\}//;p}' "$0" >&2; exit 2 ;;
  esac
done

COMPRESSION="12.*,13.*"
skip="${AUTOBAHN_EXCLUDE:-}"
[ "${AUTOBAHN_SKIP_COMPRESSION:-0}" != 0 ] && skip="${skip:+$skip,}$COMPRESSION"
[ "${AUTOBAHN_SKIP_PERF:-0}" != 0 ] && skip="${skip:+$skip,}9.*"
if [ "$update" = 1 ] && { [ -n "$skip" ] || [ "$mode" != all ]; }; then
  echo "autobahn.sh: --update needs a full run of both modes (no skipped cases)" >&2
  exit 2
fi

# A port nobody listens on now (wstest's fuzzing server cannot use port 0).
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

step() { printf '\n== autobahn: %s\n' "$*"; }

if [ ! -x "$SHARED/install.sh" ]; then
  echo "autobahn.sh: $SHARED/install.sh not found: the shared tools sit beside the project (../shared), or set WSPROTO_SHARED" >&2
  exit 2
fi

step "install wstest"
"$SHARED/install.sh" | tail -n 1

servers=(${AUTOBAHN_SERVERS:-echo_server blocking_echo_server mio_echo_server})
if [ "${AUTOBAHN_COMPRESSION_SERVERS:-}" = all ]; then
  compression_servers=("${servers[@]}")
else
  compression_servers=(${AUTOBAHN_COMPRESSION_SERVERS:-${servers[0]}})
fi
clients=(${AUTOBAHN_CLIENTS:-tokio_autobahn_client autobahn_client})
if [ "${AUTOBAHN_COMPRESSION_CLIENTS:-}" = all ]; then
  compression_clients=("${clients[@]}")
else
  compression_clients=(${AUTOBAHN_COMPRESSION_CLIENTS:-${clients[0]}})
fi
# Whether example $1 runs the compression cases.
runs_compression() {
  local c
  for c in "${compression_servers[@]}" "${compression_clients[@]}"; do
    [ "$c" = "$1" ] && return 0
  done
  return 1
}
step "build the testees (release)"
# Examples of both packages of the workspace (the default members).
examples=()
[ "$mode" = client ] || for s in "${servers[@]}"; do examples+=(--example "$s"); done
[ "$mode" = server ] || for c in "${clients[@]}"; do examples+=(--example "$c"); done
cargo build --release --quiet "${examples[@]}"
BIN="$ROOT/target/release/examples"

reports=()
timings=()
broken=()
SPID=""
stop_server() {
  if [ -n "$SPID" ]; then
    kill "$SPID" 2>/dev/null || true
    wait "$SPID" 2>/dev/null || true
    SPID=""
  fi
}
trap stop_server EXIT

if [ "$mode" != client ]; then
  for s in "${servers[@]}"; do
    step "server mode (fuzzingclient) against $s"
    dir="$OUT/$s"
    mkdir -p "$dir"
    # No result of an earlier run may stand in for this one's: the port is
    # read from server.out (emptied here, not by the background redirection,
    # which may come after the first read), the report from index.json.
    : >"$dir/server.out"
    rm -f "$dir/index.json"
    # The server picks its own port and prints it: no port can clash.
    "$BIN/$s" 127.0.0.1:0 >"$dir/server.out" 2>"$dir/server.log" &
    SPID=$!
    url=""
    for _ in $(seq 1 100); do
      url="$(sed -n 's|^echo server listening on \(ws://[^/]*\)/.*|\1|p' "$dir/server.out")"
      [ -n "$url" ] && break
      kill -0 "$SPID" 2>/dev/null || break
      sleep 0.1
    done
    [ -n "$url" ] || { cat "$dir/server.log" >&2; echo "autobahn.sh: $s did not start" >&2; exit 2; }
    # Without the compression cases (unless they are skipped anyway), and
    # then not held to them by the comparison.
    exclude=()
    role=server
    if ! runs_compression "$s" && [ "${AUTOBAHN_SKIP_COMPRESSION:-0}" = 0 ]; then
      exclude=(-x "$COMPRESSION")
      role="server:$COMPRESSION"
      echo "(without $COMPRESSION: they run against ${compression_servers[*]:-no server} and the first client)"
    fi
    t0=$EPOCHSECONDS
    # The comparison below judges the cases (run-*.sh exit 1 on any FAILED
    # case, which the comparison reports too); 2 and 3 mean the run itself broke.
    rc=0
    AUTOBAHN_QUIET=1 "$SHARED/run-server-tests.sh" -o "$dir" -a wsproto "${exclude[@]}" "$url" || rc=$?
    [ "$rc" -le 1 ] || broken+=("server mode against $s: run-server-tests.sh exited $rc")
    timings+=("server mode, $s${exclude:+ (without $COMPRESSION)}: $((EPOCHSECONDS - t0)) s")
    stop_server
    [ ! -f "$dir/index.json" ] || reports+=("$role=$dir")
  done
fi

if [ "$mode" != server ]; then
  for c in "${clients[@]}"; do
    step "client mode (fuzzingserver) against $c"
    dir="$OUT/$c"
    rm -f "$dir/index.json"
    # As for the servers: without the compression cases unless this client
    # runs them, and then not held to them.
    exclude=()
    role=client
    if ! runs_compression "$c" && [ "${AUTOBAHN_SKIP_COMPRESSION:-0}" = 0 ]; then
      exclude=(-x "$COMPRESSION")
      role="client:$COMPRESSION"
      echo "(without $COMPRESSION: they run against ${compression_clients[*]:-no client} and the first server)"
    fi
    t0=$EPOCHSECONDS
    rc=0
    AUTOBAHN_QUIET=1 "$SHARED/run-client-tests.sh" -p "$(free_port)" -o "$dir" "${exclude[@]}" \
      -- "$BIN/$c" '{url}' || rc=$?
    [ "$rc" -le 1 ] || broken+=("client mode against $c: run-client-tests.sh exited $rc (3: the client failed, see $dir/client.log)")
    timings+=("client mode, $c${exclude:+ (without $COMPRESSION)}: $((EPOCHSECONDS - t0)) s")
    [ ! -f "$dir/index.json" ] || reports+=("$role=$dir")
  done
fi

step "compare with autobahn/expected-results.json"
python3 scripts/test_autobahn_compare.py -q
args=()
[ "$update" = 1 ] && args+=(--update)
[ -n "$skip" ] && args+=(--skip "$skip")
status=0
if [ "$update" = 1 ] && [ ${#broken[@]} -gt 0 ]; then
  echo "autobahn.sh: a run broke: nothing recorded" >&2
  status=2
elif [ ${#reports[@]} -gt 0 ]; then
  python3 scripts/autobahn_compare.py "${args[@]}" "$EXPECTED" "${reports[@]}" || status=$?
fi
printf '%s\n' "${timings[@]}"
if [ ${#broken[@]} -gt 0 ]; then
  printf 'autobahn.sh: %s\n' "${broken[@]}" >&2
  [ "$status" != 0 ] || status=1
fi
exit "$status"
