#!/usr/bin/env bash
# Runs every cargo-fuzz target (or the ones named) for SECONDS each, one
# after the other, starting from the committed seeds (fuzz/seeds/TARGET) and
# the local corpus (fuzz/corpus/TARGET, not committed).
#
#   scripts/fuzz.sh SECONDS [TARGET...]
#
# Installs cargo-fuzz if it is missing. cargo-fuzz needs nightly features;
# RUSTC_BOOTSTRAP=1 lets the stable toolchain provide them. Exits non-zero
# if any target finds a crash, a leak, a timeout (an input taking over
# FUZZ_TIMEOUT seconds, default 10) or exceeds FUZZ_RSS_MB (default 2048):
# the failing input is in fuzz/artifacts/TARGET/, and the line to replay it
# is printed. See docs/security.md.
set -euo pipefail

usage() { echo "usage: $0 SECONDS [TARGET...]" >&2; exit 2; }
[ $# -ge 1 ] || usage
seconds=$1; shift
[[ $seconds =~ ^[0-9]+$ ]] && [ "$seconds" -gt 0 ] || usage

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root/fuzz"
export RUSTC_BOOTSTRAP=1

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz.sh: installing cargo-fuzz" >&2
    cargo install cargo-fuzz --locked --quiet
fi

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    mapfile -t targets < <(cargo fuzz list)
fi

cargo fuzz build >/dev/null 2>&1 || cargo fuzz build   # show errors only on failure

failed=()
for target in "${targets[@]}"; do
    mkdir -p "corpus/$target"
    log=$(mktemp)
    echo "== $target: ${seconds}s"
    status=0
    cargo fuzz run "$target" "corpus/$target" "seeds/$target" -- \
        -max_total_time="$seconds" -timeout="${FUZZ_TIMEOUT:-10}" \
        -rss_limit_mb="${FUZZ_RSS_MB:-2048}" -print_final_stats=1 >"$log" 2>&1 || status=$?
    # The random seed (pass -seed=N after -- to rerun the same way), the
    # last status line (executions, coverage, corpus) and the totals.
    grep -E '^INFO: Seed:' "$log" || true
    grep -E '^#[0-9]+' "$log" | tail -n 1 || true
    grep -E 'stat::(number_of_executed_units|peak_rss_mb)' "$log" || true
    if [ "$status" -ne 0 ]; then
        grep -E 'panicked|ERROR|SUMMARY|Test unit written' "$log" | head -n 20 || true
        echo "== $target FAILED (exit $status); replay with:"
        echo "   cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run $target artifacts/$target/<file>"
        failed+=("$target")
    fi
    rm -f "$log"
done

if [ ${#failed[@]} -gt 0 ]; then
    echo "fuzz.sh: failures in: ${failed[*]}" >&2
    exit 1
fi
echo "fuzz.sh: ${#targets[@]} targets, ${seconds}s each, no failure"
