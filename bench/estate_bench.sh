#!/usr/bin/env bash
# The estate benchmark (docs/benchmarks.md, "An estate in one cascade"), issue #6:
#   PACKAGES packages spread over REPOS repositories that share one store, ENVS
#   environments, and dependency chains across the repositories: package j of repository k
#   reads an output of package j of repository k-1 in the same environment.
#
# Set-up (not measured): every repository runs `ocuroot push` before any environment
# exists, so state holds one release per package and no deployment. The environments are
# then written as intent (`ocuroot state set`). Measured: ONE `ocuroot work cascade` in
# repository 0, which applies the environments, runs the check_envs operations (in clones
# of the other repositories), and deploys everything chain link by chain link. Afterwards
# every one of PACKAGES x ENVS deployments must exist, or the script fails.
#
# Usage: bench/estate_bench.sh [PACKAGES=1000] [REPOS=5] [ENVS=5]
# PROFILE="perf record -g -o /tmp/perf.data" runs the cascade under a profiler.
# Needs: git and a release build (cargo build --release -p ocuroot-cli); GNU time
# (/usr/bin/time, Debian package `time`) for the peak RSS, else bash's timer is used.
set -euo pipefail
PACKAGES=${1:-1000}
REPOS=${2:-5}
ENVS=${3:-5}
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
bin="${OCUROOT_BIN:-$here/../target/release/ocuroot}"
# ESTATE_DIR=<dir> builds the estate there and keeps it (bench/ui_bench.sh reads it).
# With REUSE_SETUP=1 as well, the set-up is saved once in <dir>.setup and later runs
# start from a copy of it (the cascade then runs on the same estate every time).
if [ -n "${ESTATE_DIR:-}" ] && [ -n "${REUSE_SETUP:-}" ] && [ -d "$ESTATE_DIR.setup" ]; then
  rm -rf "$ESTATE_DIR"
  cp -a "$ESTATE_DIR.setup" "$ESTATE_DIR"
  work="$ESTATE_DIR"
  skip_setup=1
elif [ -n "${ESTATE_DIR:-}" ]; then
  work="$ESTATE_DIR"
  mkdir -p "$work"
else
  work="$(mktemp -d)"
  trap 'rm -rf "$work"' EXIT
fi
export OCUROOT_HOME="$work/home" GIT_CONFIG_GLOBAL=/dev/null GIT_CONFIG_NOSYSTEM=1
export GIT_AUTHOR_NAME=bench GIT_AUTHOR_EMAIL=bench@example.com
export GIT_COMMITTER_NAME=bench GIT_COMMITTER_EMAIL=bench@example.com
per=$((PACKAGES / REPOS))

for k in $(seq 0 $((REPOS - 1))); do
  [ -n "${skip_setup:-}" ] && break
  dir="$work/repo$k"
  mkdir -p "$dir"
  cat > "$dir/repo.ocu.star" <<STAR
repo_alias("estate-$k")
store.set(store.fs("../store"))
STAR
  for j in $(seq 0 $((per - 1))); do
    if [ "$k" -eq 0 ]; then
      inputs='{}'
      params='environment'
      value="\"$k-$j\""
    else
      inputs="{\"upstream\": ref(\"estate-$((k - 1))/-/pkg$j.ocu.star/@/deploy/\" + e.name + \"#output/v\")}"
      params='environment, upstream'
      value="upstream + \"/$k-$j\""
    fi
    cat > "$dir/pkg$j.ocu.star" <<STAR
def up($params):
    return done(outputs = {"v": $value})

def down(environment, upstream = ""):
    return done()

phase("deploy", tasks = [deploy(up = up, down = down, environment = e, inputs = $inputs) for e in environments()])
STAR
  done
  git -C "$dir" init -q -b main
  git -C "$dir" add -A
  git -C "$dir" commit -qm "estate repository $k"
  # Clones for work at this repository's commits come from here.
  git -C "$dir" remote add origin "$dir"
  (cd "$dir" && "$bin" push > /dev/null 2> "$work/push$k.log")
done
for i in $(seq 1 "$ENVS"); do
  [ -n "${skip_setup:-}" ] && break
  (cd "$work/repo0" && "$bin" state set -f json "@/environment/env$i" "{\"name\": \"env$i\", \"attributes\": {\"n\": \"$i\"}}")
done

if [ -n "${ESTATE_DIR:-}" ] && [ -n "${REUSE_SETUP:-}" ] && [ -z "${skip_setup:-}" ]; then
  rm -rf "$ESTATE_DIR.setup"
  cp -a "$work" "$ESTATE_DIR.setup"
fi
store="$work/store"
before=$(git -C "$store" rev-list --count state)
echo "estate: $PACKAGES packages in $REPOS repositories, $ENVS environments; state has $before commits before the cascade"
cd "$work/repo0"
if [ -x /usr/bin/time ] && [ -z "${NO_GNU_TIME:-}" ]; then
  ${PROFILE:-} /usr/bin/time -f "work cascade: %e s wall, %U s user, %S s system, peak RSS %M KiB" \
    "$bin" work cascade 2> "$work/cascade.log" || { tail -30 "$work/cascade.log"; exit 1; }
  grep -E '^work cascade:' "$work/cascade.log"
else
  # No GNU time (Debian package `time`): bash's own timer, without the peak RSS.
  TIMEFORMAT="work cascade: %R s wall, %U s user, %S s system (install GNU time for peak RSS)"
  time (${PROFILE:-} "$bin" work cascade 2> "$work/cascade.log" || { tail -30 "$work/cascade.log"; exit 1; })
fi
grep -cE 'cascade round' "$work/cascade.log" | sed 's/^/rounds: /'
after=$(git -C "$store" rev-list --count state)
echo "state commits made by the cascade: $((after - before))"
deployed=$("$bin" state match '**/@/deploy/*' | wc -l)
echo "deployments: $deployed of $((PACKAGES / REPOS * REPOS * ENVS))"
test "$deployed" -eq $((PACKAGES / REPOS * REPOS * ENVS))
last=$((REPOS - 1))
"$bin" state get "estate-$last/-/pkg0.ocu.star/@/deploy/env1#output/v"
test -z "$(ls -A "$OCUROOT_HOME/clones" 2> /dev/null)" || { echo "clones left behind"; exit 1; }
