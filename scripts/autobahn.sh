#!/usr/bin/env bash
# Runs the Autobahn|Testsuite against wsproto in both roles and compares the
# outcome with autobahn/expected-results.json.
#
# Usage: scripts/autobahn.sh [--update] [server|client|all]   (default: all)
#   server   fuzzingclient mode against each echo server example
#   client   fuzzingserver mode against examples/autobahn_client.rs
#   --update record this run's results as the expected ones (full runs only)
#
# Environment:
#   AUTOBAHN_SERVERS   the server examples to test (default: "echo_server
#                      blocking_echo_server mio_echo_server"); all are held to
#                      the same expected server results
#   AUTOBAHN_SKIP_COMPRESSION=1, AUTOBAHN_SKIP_PERF=1, AUTOBAHN_EXCLUDE
#                      passed on to ../shared/autobahn (skipped cases are then
#                      not required by the comparison)
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

skip="${AUTOBAHN_EXCLUDE:-}"
[ "${AUTOBAHN_SKIP_COMPRESSION:-0}" != 0 ] && skip="${skip:+$skip,}12.*,13.*"
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
step "build the testees (release)"
examples=(--example autobahn_client)
for s in "${servers[@]}"; do examples+=(--example "$s"); done
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
    t0=$EPOCHSECONDS
    # The comparison below judges the cases (run-*.sh exit 1 on any FAILED
    # case, which the comparison reports too); 2 and 3 mean the run itself broke.
    rc=0
    AUTOBAHN_QUIET=1 "$SHARED/run-server-tests.sh" -o "$dir" -a wsproto "$url" || rc=$?
    [ "$rc" -le 1 ] || broken+=("server mode against $s: run-server-tests.sh exited $rc")
    timings+=("server mode, $s: $((EPOCHSECONDS - t0)) s")
    stop_server
    reports+=("server=$dir")
  done
fi

if [ "$mode" != server ]; then
  step "client mode (fuzzingserver) against autobahn_client"
  dir="$OUT/autobahn_client"
  t0=$EPOCHSECONDS
  rc=0
  AUTOBAHN_QUIET=1 "$SHARED/run-client-tests.sh" -p "$(free_port)" -o "$dir" \
    -- "$BIN/autobahn_client" '{url}' || rc=$?
  [ "$rc" -le 1 ] || broken+=("client mode: run-client-tests.sh exited $rc (3: the client failed, see $dir/client.log)")
  timings+=("client mode, autobahn_client: $((EPOCHSECONDS - t0)) s")
  reports+=("client=$dir")
fi

step "compare with autobahn/expected-results.json"
python3 scripts/test_autobahn_compare.py -q
args=()
[ "$update" = 1 ] && args+=(--update)
[ -n "$skip" ] && args+=(--skip "$skip")
status=0
python3 scripts/autobahn_compare.py "${args[@]}" "$EXPECTED" "${reports[@]}" || status=$?
printf '%s\n' "${timings[@]}"
if [ ${#broken[@]} -gt 0 ]; then
  printf 'autobahn.sh: %s\n' "${broken[@]}" >&2
  [ "$status" != 0 ] || status=1
fi
exit "$status"
