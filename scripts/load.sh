#!/usr/bin/env bash
# The load bench (wsproto-tokio/benches/server_load.rs): builds the example
# servers in release mode, then runs them, and the peers' servers, under
# load. Settings go in the environment (LOAD_CONNECTIONS, LOAD_ACTIVE,
# LOAD_MESSAGE, LOAD_ROUNDS, LOAD_SECONDS, LOAD_TAKEOVER_CONNECTIONS; see
# the bench's docs). Figures: docs/performance.md.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --workspace --examples
cargo bench -p wsproto-tokio --bench server_load
