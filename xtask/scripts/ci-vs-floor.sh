#!/usr/bin/env bash
# Warm `cargo xtask ci` against its floor, run alternately so that both see the same load
# (README, Performance): the floor is `cargo test --workspace` plus one pytest run of the
# same tests against a hand-started server. Prints each pair and its ratio.
#
#   xtask/scripts/ci-vs-floor.sh [PAIRS]     # default 2, after one warm-up ci
set -euo pipefail
cd "$(dirname "$0")/../.."
pairs=${1:-2}
bindings=experiments/bindings/python-ws-client
scratch=$(mktemp -d "${TMPDIR:-/tmp}/ci-vs-floor.XXXXXX")
server_pid=
cleanup() {
    if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
    rm -rf "$scratch"
}
trap cleanup EXIT

now() { date +%s.%N; }

floor() {
    cargo test --workspace -q >"$scratch/cargo-test.log" 2>&1
    cargo build -q -p simd-r-drive-ws-server
    target/debug/simd-r-drive-ws-server --port 0 "$scratch/store.bin" >"$scratch/ready" 2>"$scratch/server.log" &
    server_pid=$!
    until grep -q "listening on" "$scratch/ready"; do
        kill -0 "$server_pid" || { echo "the server died"; exit 1; }
        sleep 0.05
    done
    local address
    address=$(sed -n 's/^listening on ws:\/\///p' "$scratch/ready")
    (cd "$bindings" && TEST_SERVER_HOST=${address%:*} TEST_SERVER_PORT=${address##*:} \
        .venv/bin/python -m pytest -q -p no:cacheprovider >"$scratch/pytest.log" 2>&1)
    kill "$server_pid"; wait "$server_pid" || true; server_pid=
    rm -f "$scratch"/store.bin*
}

# A failed ci stops early, which would flatter it: say so beside its time.
ci() {
    if ! cargo xtask ci >"$scratch/ci.log" 2>&1; then
        echo "  (this ci failed: $(grep -a '^failed:' "$scratch/ci.log" | head -n 1))"
    fi
}

echo "warm-up ci"; ci
for pair in $(seq "$pairs"); do
    start=$(now); ci; ci_s=$(echo "$(now) - $start" | bc)
    start=$(now); floor; floor_s=$(echo "$(now) - $start" | bc)
    printf 'pair %d: ci %.1f s, floor %.1f s, ratio %.2f\n' "$pair" "$ci_s" "$floor_s" "$(echo "$ci_s / $floor_s" | bc -l)"
done
