#!/usr/bin/env bash
# The soak (wsproto-tokio/benches/soak.rs): an example server under mixed
# traffic (echoes of random sizes, pings, slow readers, clients that vanish
# mid-message, bad clients) for SECONDS; fails on any wrong answer, or if
# the server's RSS or open descriptors grow after warm-up.
#
#   scripts/soak.sh SECONDS                          # the tokio echo_server
#   SOAK_SERVER=mio_echo_server scripts/soak.sh 600  # another example
set -euo pipefail
[ $# -eq 1 ] && [[ $1 =~ ^[0-9]+$ ]] || { echo "usage: $0 SECONDS" >&2; exit 2; }
cd "$(dirname "$0")/.."
cargo build --release --workspace --examples
cargo bench -p wsproto-tokio --bench soak -- "$1"
