#!/usr/bin/env bash
# The state viewer on the 1,000-package estate (issue 14, docs/benchmarks.md "The state
# viewer"): builds the estate with bench/estate_bench.sh (kept in ESTATE_DIR, reused when it
# is already there), starts `ocuroot state view` in its repository 0, and times the overview
# (`/`) with curl on 127.0.0.1: the first load, then ROUNDS loads after it, then the other
# pages; the server's resident memory before and after.
#
# Usage: bench/ui_bench.sh [PACKAGES=1000] [REPOS=5] [ENVS=5]
# Needs: git, curl and a build of the CLI (OCUROOT_BIN, default target/release/ocuroot).
set -euo pipefail
PACKAGES=${1:-1000}
REPOS=${2:-5}
ENVS=${3:-5}
ROUNDS=${ROUNDS:-20}
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
bin="${OCUROOT_BIN:-$here/../target/release/ocuroot}"
export OCUROOT_BIN="$bin"
dir="${ESTATE_DIR:-/tmp/ocuroot-ui-estate-$PACKAGES}"
if [ ! -d "$dir/repo0" ]; then
  ESTATE_DIR="$dir" "$here/estate_bench.sh" "$PACKAGES" "$REPOS" "$ENVS"
fi
export OCUROOT_HOME="$dir/home" GIT_CONFIG_GLOBAL=/dev/null GIT_CONFIG_NOSYSTEM=1
cd "$dir/repo0"
log="$(mktemp)"
"$bin" state view --port 0 > "$log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true; rm -f "$log"' EXIT
for _ in $(seq 1 600); do
  grep -q '^Open your browser to:' "$log" && break
  sleep 0.1
done
port=$(sed -n 's/^Open your browser to: http:\/\/localhost:\([0-9]*\)$/\1/p' "$log")
test -n "$port" || { cat "$log"; exit 1; }
url="http://127.0.0.1:$port"
rss() { awk '/^VmRSS/ {print $2 " KiB"}' "/proc/$pid/status"; }
echo "estate: $PACKAGES packages x $ENVS environments; server RSS at start: $(rss)"
t() { curl -s -o /dev/null -w '%{http_code} %{time_total} %{size_download}\n' "$url$1"; }
first=$(t /)
echo "overview, first load: $first (status, seconds, bytes)"
times=()
for _ in $(seq 1 "$ROUNDS"); do
  read -r code secs _ < <(t /)
  test "$code" = 200
  times+=("$secs")
done
printf '%s\n' "${times[@]}" | sort -n | awk -v n="$ROUNDS" '{a[NR]=$1} END {printf "overview, after the first load (%d loads): median %.1f ms, max %.1f ms\n", n, a[int((n+1)/2)]*1000, a[n]*1000}'
for page in /work "/ref/estate-0/-/pkg0.ocu.star" "/ref/estate-0/-/pkg0.ocu.star/@r1" "/ref/@/environment/env1" "/match/**/@/deploy/env1"; do
  echo "$page: $(t "$page")"
done
for _ in $(seq 1 20); do t / > /dev/null; t /ref/@/environment/env2 > /dev/null; done
echo "server RSS after $((ROUNDS + 46)) requests: $(rss)"
