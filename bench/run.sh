#!/usr/bin/env bash
# Benchmarks of the state commands on generated stores; see docs/benchmarks.md.
#
# Needs hyperfine (apt-get install hyperfine); not part of CI. Usage:
#   bench/run.sh [work-dir]        (default: a fresh temp dir)
set -euo pipefail

here="$(cd "$(dirname "$0")/.." && pwd)"
work="${1:-$(mktemp -d)}"
target="${CARGO_TARGET_DIR:-$here/target}"
runs="${RUNS:-100}"
export GIT_CONFIG_GLOBAL=/dev/null GIT_CONFIG_SYSTEM=/dev/null

cd "$here"
cargo build --release -p ocuroot-cli
cargo build --release -p ocuroot-core --example gen_store
# Copy the binaries: a shared target dir may be rebuilt from another branch meanwhile.
cp "$target/release/ocuroot" "$work/ocuroot"
cp "$target/release/examples/gen_store" "$work/gen_store"
ocuroot="$work/ocuroot"
gen="$work/gen_store"

for n in 100000 200000; do
  [ -d "$work/store$n" ] || "$gen" "$work/store$n" --docs "$n" --changes 10
done

ref='bench/-/team07/svc0007/package.ocu.star/@r36/deploy/production'
path="refs/$ref/#.yaml"

cd "$work/store100000"
echo "## (a) state get vs git cat-file (100k documents)"
hyperfine -N --warmup 10 --runs "$runs" --export-markdown "$work/a.md" \
  "$ocuroot version" \
  "$ocuroot state get $ref" \
  "git -C .ocuroot/store.git cat-file -p state:$path"

echo "## (c) state diff vs git diff-tree (100k documents, 10 changes)"
hyperfine -N --warmup 10 --runs "$runs" --export-markdown "$work/c.md" \
  "$ocuroot state diff" \
  "git -C .ocuroot/store.git diff-tree -r intent:refs state:applied"

cd "$work/store200000"
echo "## (d) the same diff on 200k documents"
hyperfine -N --warmup 10 --runs "$runs" --export-markdown "$work/d.md" \
  "$ocuroot state diff" \
  "git -C .ocuroot/store.git diff-tree -r intent:refs state:applied"

# (b) writes; run it on a copy so that the read benchmarks above stay repeatable.
rm -rf "$work/store100000-set"
cp -r "$work/store100000" "$work/store100000-set"
cd "$work/store100000-set"
echo "## (b) state set of one ref (100k documents)"
hyperfine --shell bash --warmup 5 --runs "$runs" --export-markdown "$work/b.md" \
  "$ocuroot state set @/custom/bench \$RANDOM"
git -C .ocuroot/store.git fsck --no-dangling
