#!/usr/bin/env bash
# Warm `cargo xtask ci` against its floor, run alternately so that all see the same load
# (README, Performance): the floor is `cargo test --workspace` plus one pytest run of the
# same tests against a hand-started server. Prints each round and the ratios.
#
#   xtask/scripts/ci-vs-floor.sh [ROUNDS]        # default 2, after one warm-up ci
#
# With BEFORE_XTASK=PATH (an xtask binary built from an earlier commit), each round also
# runs that binary's `ci` on this worktree, so that an earlier ci and this one are
# measured side by side against the same floor. Both build the same test binaries (this
# worktree's), so only the orchestration differs; their workflow-lint stamps differ, so
# each runs the workflow lint every time (the same for both).
set -euo pipefail
cd "$(dirname "$0")/../.."
rounds=${1:-2}
bindings=experiments/bindings/python-ws-client
scratch=$(mktemp -d "${TMPDIR:-/tmp}/ci-vs-floor.XXXXXX")
server_pid=
cleanup() {
    if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
    rm -rf "$scratch"
}
trap cleanup EXIT

now() { date +%s.%N; }
seconds_since() { echo "$(now) - $1" | bc; }

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
        .venv/bin/python -m pytest -q -p no:cacheprovider >"$scratch/pytest.log" 2>&1) || echo "  (the floor's pytest failed)"
    kill "$server_pid"; wait "$server_pid" || true; server_pid=
    rm -f "$scratch"/store.bin*
}

# A failed ci stops early, which would flatter it: say so beside its time.
ci() {
    local label=$1; shift
    if ! "$@" ci >"$scratch/ci.log" 2>&1; then
        echo "  ($label failed: $(grep -a '^failed:' "$scratch/ci.log" | head -n 1))"
    fi
}
before_ci() { CARGO_MANIFEST_DIR=$PWD/xtask "$BEFORE_XTASK" "$@"; }

echo "warm-up ci"; ci "warm-up ci" cargo xtask
if [ -n "${BEFORE_XTASK:-}" ]; then echo "warm-up before-ci"; ci "warm-up before-ci" before_ci; fi
for round in $(seq "$rounds"); do
    line="round $round:"
    if [ -n "${BEFORE_XTASK:-}" ]; then
        start=$(now); ci "before-ci" before_ci; before_s=$(seconds_since "$start")
        line="$line before-ci $(printf %.1f "$before_s") s,"
    fi
    start=$(now); ci "ci" cargo xtask; ci_s=$(seconds_since "$start")
    start=$(now); floor; floor_s=$(seconds_since "$start")
    line="$line ci $(printf %.1f "$ci_s") s, floor $(printf %.1f "$floor_s") s, ci/floor $(printf %.2f "$(echo "$ci_s / $floor_s" | bc -l)")"
    if [ -n "${BEFORE_XTASK:-}" ]; then
        line="$line, before-ci/floor $(printf %.2f "$(echo "$before_s / $floor_s" | bc -l)")"
    fi
    echo "$line"
done
