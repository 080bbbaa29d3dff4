#!/usr/bin/env bash
# What a CI test job saves: a cold `cargo xtask ci` on a fresh clone against
# `cargo xtask ci --from ARCHIVE` on another fresh clone of the same commit (its own empty
# target dir; `cargo xtask` compiles xtask there, the harness, as on CI), one after the
# other on one machine, and the archive's size. The archive must be of HEAD:
#
#   cargo xtask ci --archive target/archive
#   xtask/scripts/archive-vs-cold.sh target/archive
set -euo pipefail
archive=$(cd "$1" && pwd)
root=$(git rev-parse --show-toplevel)
scratch=$(mktemp -d "${TMPDIR:-/tmp}/archive-vs-cold.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
unset CARGO_TARGET_DIR XTASK_SERVER_BIN

run() { # name, clone, ci args...
  local name=$1 clone=$2
  shift 2
  git clone --quiet --no-hardlinks "$root" "$clone"
  local start end
  start=$(date +%s.%N)
  (cd "$clone" && cargo xtask ci "$@" > "$scratch/$name.log" 2>&1) || {
    tail -5 "$scratch/$name.log"
    exit 1
  }
  end=$(date +%s.%N)
  echo "$name: $(echo "$end - $start" | bc) s  ($(tail -1 "$scratch/$name.log"))"
}

run "cold ci" "$scratch/cold"
run "ci --from" "$scratch/from" --from "$archive"
echo "archive: $(du -sh "$archive" | cut -f1) ($(du -sh "$archive"/*.tar.zst | tr '\n' ' '))"
