#!/usr/bin/env bash
# Benchmarks of remote stores (docs/benchmarks.md, "Remote stores").
#   (a) W concurrent writers (own cache each) against a local `git daemon`:
#       writes per second, retries (rejected pushes) per write, p99 latency per write;
#   (b) pushes per release: a release of one build task and D deployments against a
#       `file://` remote, counted as the commits it adds to the remote (one push each,
#       no contention).
# Usage: bench/remote_bench.sh [W=8] [WRITES=25] [D=20]
# Needs: git (with git daemon), cargo. PROFILE=debug uses a debug build (default release).
set -euo pipefail
W=${1:-8}
WRITES=${2:-25}
D=${3:-20}
PROFILE=${PROFILE:-release}
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$here/.."
target="${CARGO_TARGET_DIR:-$root/target}"
flag=(); [ "$PROFILE" = release ] && flag=(--release)
work="$(mktemp -d)"
daemon_pid=""
cleanup() { [ -n "$daemon_pid" ] && kill "$daemon_pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
export GIT_CONFIG_GLOBAL=/dev/null GIT_CONFIG_SYSTEM=/dev/null

echo "== (a) $W concurrent writers x $WRITES writes, git daemon on 127.0.0.1"
mkdir -p "$work/served"
git init -q --bare -b main "$work/served/store.git"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
git daemon --reuseaddr --enable=receive-pack --export-all --base-path="$work/served" \
  --listen=127.0.0.1 --port="$port" "$work/served" &
daemon_pid=$!
for _ in $(seq 50); do (echo > "/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
(cd "$root" && cargo run -q "${flag[@]}" -p ocuroot-core --example remote_bench -- \
  "git://127.0.0.1:$port/store.git" "$W" "$WRITES")
git -C "$work/served/store.git" fsck --strict --no-dangling >/dev/null && echo "remote fsck: clean"

echo "== (b) pushes per release: 1 build task + $D deployments"
(cd "$root" && cargo build -q "${flag[@]}" -p ocuroot-cli)
bin="$target/$PROFILE/ocuroot"
remote="$work/release.git"
git init -q --bare -b main "$remote"
repo="$work/repo"
mkdir -p "$repo" && cd "$repo" && git init -q
cat > repo.ocu.star <<STAR
repo_alias("bench/repo")
store.set(store.git("file://$remote", branch = "state"), intent = store.git("file://$remote", branch = "intent"))
STAR
for i in $(seq 1 "$D"); do echo "register_environment(environment(\"env$i\", {\"type\": \"prod\"}))"; done > environments.ocu.star
cat > release.ocu.star <<'STAR'
def build():
    return done(outputs = {"version": "1.0"})

def up(environment, version):
    return done(outputs = {"v": version})

def down(environment, version = ""):
    return done()

task(build, name = "build")
phase("deploy", tasks = [
    deploy(up = up, down = down, environment = e, inputs = {"version": ref("./task/build#output/version")})
    for e in environments()
])
STAR
git add -A && git -c user.name=b -c user.email=b@b commit -qm init
export OCUROOT_HOME="$work/home"
"$bin" release new environments.ocu.star >/dev/null
count() { git -C "$remote" rev-list --count "$1" 2>/dev/null || echo 0; }
s0=$(count state); i0=$(count intent)
start=$(date +%s.%N)
"$bin" release new release.ocu.star >/dev/null
end=$(date +%s.%N)
s1=$(count state); i1=$(count intent)
echo "state pushes: $((s1 - s0)), intent pushes: $((i1 - i0)), total: $((s1 - s0 + i1 - i0))"
echo "release time: $(python3 -c "print(f'{$end - $start:.2f}')") s"
git -C "$remote" log --format='  %s' state -n $((s1 - s0)) | grep -v '^  $' | head -40
