#!/usr/bin/env bash
# Ctrl-C at ten moments of `cargo xtask ci` (issue 32): runs ci once whole (warm, and to
# learn how long it takes), then ten times more, each stopped by SIGINT to its whole
# process group, as a terminal's Ctrl-C does, at 1/11, 2/11, ... 10/11 of that time after
# cargo started xtask.
# After each stop it checks:
#   - the exit status is 130;
#   - `git status --porcelain` is as empty as before;
#   - the run's TMPDIR (a folder of its own, so that other runs on the machine do not
#     count) is empty; entries of /tmp that name xtask and are new are shown (other runs
#     on the machine make them too);
#   - no process of the run is left (each run's processes carry a marker in their
#     environment, found with `ps eww`);
#   - no line counts the interrupt as a failure: no `✗`, no `FAILED`, no `failed:`, and
#     the last line of stdout is `ci: N passed, 0 failed, N skipped`.
# Prints a line per stop and exits non-zero if any check failed.
#
#   xtask/scripts/interrupt-ci.sh [EXTRA CI ARGS...]
#   WHOLE=300 xtask/scripts/interrupt-ci.sh    # spread the stops over 300 s, no whole run
set -uo pipefail
cd "$(dirname "$0")/../.."
work=$PWD/target/interrupt-ci
rm -rf "$work"
mkdir -p "$work"
# The runs' TMPDIRs are outside the worktree, as /tmp is: a test that names its scratch
# files from the repository root would name them otherwise inside it.
tmp_root=$(mktemp -d "${TMPDIR:-/tmp}/interrupt-ci.XXXXXX")
trap 'rm -rf "$tmp_root"' EXIT
[ -z "$(git status --porcelain)" ] || { echo "commit or stash first: the check compares git status"; exit 2; }
cargo build -q -p xtask || exit 2

failures=0
xtask_in_tmp() { ls -A /tmp | grep -i 'xtask' | sort; }

# Runs ci with TMPDIR and a marker of run $1; stops it after $2 seconds (none if empty).
run_ci() {
    local run=$1 after=$2 dir=$work/run-$1
    mkdir -p "$dir" "$tmp_root/run-$1"
    ln -s "$tmp_root/run-$1" "$dir/tmp"
    set -m
    XTASK_INTERRUPT_RUN="interrupt-ci-$$-$run" TMPDIR="$tmp_root/run-$run" \
        cargo xtask ci "${@:3}" >"$dir/stdout" 2>"$dir/stderr" </dev/null &
    local pid=$!
    set +m
    if [ -n "$after" ]; then
        # Counted from when cargo hands over to xtask: a SIGINT to cargo still building or
        # waiting on a lock (another cargo in this target dir) stops no ci at all.
        until grep -qs '^ *Running `' "$dir/stderr" || ! kill -0 "$pid" 2>/dev/null; do
            sleep 0.1
        done
        # The moment is the point here, not a condition to wait for.
        sleep "$after"
        kill -INT -- -"$pid" 2>/dev/null
    fi
    wait "$pid"
    echo $? >"$dir/status"
}

# The processes of run $1 still running (each carries the run's marker in its environment).
run_processes() {
    ps axeww -o pid=,command= 2>/dev/null | grep "XTASK_INTERRUPT_RUN=interrupt-ci-$$-$1\b" | grep -v grep
}

check_run() {
    local run=$1 dir=$work/run-$1 problems=()
    local status; status=$(cat "$dir/status")
    [ "$status" = 130 ] || problems+=("exit status $status, not 130")
    [ -z "$(git status --porcelain)" ] || problems+=("git status: $(git status --porcelain | tr '\n' ' ')")
    [ -z "$(ls -A "$dir/tmp/")" ] || problems+=("left in TMPDIR: $(ls -A "$dir/tmp/" | tr '\n' ' ')")
    # Other runs on the machine make /tmp entries too: shown, for a person to judge.
    local new_tmp; new_tmp=$(comm -13 "$work/tmp-before" <(xtask_in_tmp))
    [ -z "$new_tmp" ] || echo "  note: new in /tmp since the start (this run's or another's): $(echo "$new_tmp" | tr '\n' ' ')"
    # A server whose test was killed sees its owner pipe close and shuts down on its own,
    # which may end a moment after ci has: a process still there after 5 s is left over.
    local left waited=0
    while left=$(run_processes "$run") && [ -n "$left" ] && [ "$waited" -lt 50 ]; do
        sleep 0.1
        waited=$((waited + 1))
    done
    [ -z "$left" ] || problems+=("processes left: $(echo "$left" | cut -c1-200)")
    [ "$waited" = 0 ] || [ -n "$left" ] || echo "  note: the run's last process ended $(echo "scale=1; $waited / 10" | bc) s after ci"
    if grep -qE '✗|FAILED|^failed:' "$dir/stdout" "$dir/stderr"; then
        problems+=("a line counts a failure: $(grep -hE '✗|FAILED|^failed:' "$dir/stdout" "$dir/stderr" | head -3 | tr '\n' ' ')")
    fi
    local last; last=$(tail -n 1 "$dir/stdout")
    [[ "$last" =~ ^ci:\ [0-9]+\ passed,\ 0\ failed,\ [0-9]+\ skipped$ ]] || problems+=("last line of stdout: '$last'")
    local before; before=$(tail -n 2 "$dir/stdout" | head -n 1)
    if [ ${#problems[@]} -eq 0 ]; then
        echo "ok      run $run: $before | $last"
    else
        failures=$((failures + 1))
        echo "FAILED  run $run: ${problems[*]}"
    fi
}

xtask_in_tmp >"$work/tmp-before"
if [ -n "${WHOLE:-}" ]; then
    # Told how long a whole run takes: the stops are spread over that, without a whole run.
    whole=$WHOLE
else
    start=$(date +%s.%N)
    run_ci 0 "" "$@"
    whole=$(echo "$(date +%s.%N) - $start" | bc)
    echo "whole run: exit $(cat "$work/run-0/status") in ${whole} s: $(tail -n 1 "$work/run-0/stdout")"
    if [ "$(cat "$work/run-0/status")" != 0 ]; then
        # The stops below are still checked; their moments are spread over this run.
        echo "note: ci failed without an interrupt: $(grep -a '^failed:' "$work/run-0/stdout" "$work/run-0/stderr" | head -n 1)"
    fi
fi
for k in 1 2 3 4 5 6 7 8 9 10; do
    after=$(echo "scale=2; $whole * $k / 11" | bc)
    run_ci "$k" "$after" "$@"
    printf 'SIGINT after %6.2f s: ' "$after"
    check_run "$k"
done
echo "$failures of 10 stops failed a check; outputs in ${work#"$PWD"/}"
[ "$failures" = 0 ]
