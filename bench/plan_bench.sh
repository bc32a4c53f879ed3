#!/usr/bin/env bash
# `ocuroot plan` on estates of 1,000 and 10,000 packages (10 environments, 5 intent
# changes); see docs/benchmarks.md, section "Plans".
#
# Needs hyperfine (apt-get install hyperfine) and, for the instruction counts, valgrind;
# not part of CI. Usage:
#   bench/plan_bench.sh [work-dir]   (default: a fresh temp dir; ROUNDS=10 rounds of RUNS=50)
set -euo pipefail

here="$(cd "$(dirname "$0")/.." && pwd)"
work="${1:-$(mktemp -d)}"
target="${CARGO_TARGET_DIR:-$here/target}"
runs="${RUNS:-50}"
rounds="${ROUNDS:-10}"
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

# Wall time: hyperfine in each estate's directory (no wrapper process), in alternating
# rounds so that load drifting on a shared machine lands on both estates alike.
echo "## wall time: $rounds rounds of $runs runs per estate, alternating"
for round in $(seq "$rounds"); do
  for n in 1000 10000; do
    (cd "$work/est$n" && hyperfine -N --warmup 5 --runs "$runs" \
      --export-json "$work/wall-$n-$round.json" "$ocuroot plan --color never" > /dev/null)
  done
done
python3 - "$work" "$rounds" <<'PY'
import json, statistics, sys
work, rounds = sys.argv[1], int(sys.argv[2])
stats = {}
for n in (1000, 10000):
    times, user, system = [], [], []
    for r in range(1, rounds + 1):
        res = json.load(open(f"{work}/wall-{n}-{r}.json"))["results"][0]
        times += res["times"]
        user.append(res["user"])
        system.append(res["system"])
    stats[n] = (statistics.mean(times), statistics.median(times))
    print(f"est{n}: mean {stats[n][0] * 1e3:.2f} ms ± {statistics.stdev(times) * 1e3:.2f}, "
          f"median {stats[n][1] * 1e3:.2f} ms, min {min(times) * 1e3:.2f} ms, "
          f"user {statistics.mean(user) * 1e3:.2f} ms, system {statistics.mean(system) * 1e3:.2f} ms "
          f"({len(times)} runs)")
print(f"10,000 / 1,000 packages: mean {stats[10000][0] / stats[1000][0]:.2f}x, "
      f"median {stats[10000][1] / stats[1000][1]:.2f}x")
PY

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
