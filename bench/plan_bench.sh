#!/usr/bin/env bash
# `ocuroot plan` on estates of 1,000 and 10,000 packages (10 environments, 5 intent
# changes); see docs/benchmarks.md, section "Plans".
#
# Needs hyperfine (apt-get install hyperfine) and, for the instruction counts, valgrind;
# not part of CI. Usage:
#   bench/plan_bench.sh [work-dir]        (default: a fresh temp dir; RUNS=300 by default)
set -euo pipefail

here="$(cd "$(dirname "$0")/.." && pwd)"
work="${1:-$(mktemp -d)}"
target="${CARGO_TARGET_DIR:-$here/target}"
runs="${RUNS:-300}"
export GIT_CONFIG_GLOBAL=/dev/null GIT_CONFIG_SYSTEM=/dev/null

cd "$here"
cargo build --release -p ocuroot-cli
cargo build --release -p ocuroot-core --example gen_store
mkdir -p "$work"
# Copy the binaries: a shared target dir may be rebuilt from another branch meanwhile.
cp "$target/release/ocuroot" "$work/ocuroot"
cp "$target/release/examples/gen_store" "$work/gen_store"
ocuroot="$work/ocuroot"

for n in 1000 10000; do
  [ -d "$work/est$n" ] || "$work/gen_store" "$work/est$n" --estate "$n"
  # The first run evaluates repo.ocu.star and caches its settings; measure the later ones.
  (cd "$work/est$n" && "$ocuroot" plan --color never > "$work/plan$n.txt")
done

echo "## wall time, one interleaved session (env -C costs the same for both)"
hyperfine -N --warmup 20 --runs "$runs" --export-markdown "$work/plan.md" \
  "env -C $work/est1000 true" \
  "env -C $work/est1000 $ocuroot plan --color never" \
  "env -C $work/est10000 $ocuroot plan --color never"

if command -v valgrind > /dev/null; then
  echo "## instructions (valgrind --tool=callgrind)"
  for n in 1000 10000; do
    cd "$work/est$n"
    for cmd in "$ocuroot plan --color never" \
      "git -C .ocuroot/store.git diff-tree -r intent:refs state:applied"; do
      # shellcheck disable=SC2086 # the command is split on purpose
      ir=$(valgrind --tool=callgrind --callgrind-out-file="$work/callgrind.out" $cmd 2>&1 \
        > /dev/null | sed -n 's/.*Collected : //p')
      echo "est$n: $ir instructions: $cmd"
    done
  done
fi
