#!/usr/bin/env bash
# Start-up of `state get` and `state diff` against git (docs/benchmarks.md, "Start-up"):
# instruction counts (valgrind --tool=callgrind) and wall time (hyperfine -N) on generated
# stores of 100,000 and 1,000,000 documents with one intent change, both ocuroot binaries
# and git in one hyperfine session per store. Not part of CI. Usage:
#   bench/startup.sh OLD_BIN NEW_BIN GEN_STORE_BIN [work-dir]
# Needs hyperfine and valgrind. RUNS (default 100) runs per command.
set -euo pipefail
old="$1"
new="$2"
gen="$3"
work="${4:-$(mktemp -d)}"
runs="${RUNS:-100}"
export GIT_CONFIG_GLOBAL=/dev/null GIT_CONFIG_SYSTEM=/dev/null
mkdir -p "$work"
cp "$old" "$work/old"
cp "$new" "$work/new"
ref='bench/-/team07/svc0007/package.ocu.star/@r36/deploy/production'
get_git="git -C .ocuroot/store.git cat-file -p state:refs/$ref/#.yaml"
diff_git="git -C .ocuroot/store.git diff-tree -r intent:refs state:applied"

count() { # command...: instructions of the whole process, in the current directory
  valgrind --tool=callgrind --callgrind-out-file=/dev/null "$@" 2>&1 >/dev/null |
    sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}

for n in 100000 1000000; do
  dir="$work/store$n-c1"
  [ -d "$dir" ] || "$gen" "$dir" --docs "$n" --changes 1
  cd "$dir"
  # The first run evaluates repo.ocu.star and writes its cache; measure the cached case.
  "$work/new" state get "$ref" > /dev/null
  echo "## $n documents: instructions"
  for bin in old new; do
    echo "$bin state get: $(count "$work/$bin" state get "$ref")"
    echo "$bin state diff: $(count "$work/$bin" state diff)"
  done
  # shellcheck disable=SC2086
  echo "git cat-file: $(count $get_git)"
  # shellcheck disable=SC2086
  echo "git diff-tree: $(count $diff_git)"
  echo "## $n documents: wall time, load average $(cut -d' ' -f1-3 /proc/loadavg)"
  hyperfine -N --warmup 10 --runs "$runs" \
    "$work/old state get $ref" "$work/new state get $ref" "$get_git" \
    "$work/old state diff" "$work/new state diff" "$diff_git"
  echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
done
