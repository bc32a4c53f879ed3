#!/usr/bin/env bash
# Benchmarks of remote stores (docs/benchmarks.md, "Remote stores").
#   (a) W concurrent writers (own cache each) against a local `git daemon`:
#       writes per second, retries (rejected pushes) per write, p99 latency per write;
#   (b) pushes per release: a release of one build task and D deployments against a
#       `file://` remote, counted by a `post-receive` hook (one call per `git push`, however
#       many branches it updates), with the commits it adds to each branch.
# Usage: bench/remote_bench.sh [W=8] [WRITES=25] [D=20]   (SHARED=1: the W writers of (a) share one cache;
#   OCUROOT_BENCH_QUEUE_TURN=<n>: writers of (a) take turns of n commits through the remote's waiting queue;
#   unset or 0: no queue, the default; OCUROOT_BENCH_FOLD=1: writers of (a) fold each other's
#   transactions; unset or 0: the racing loop, the default)
# Needs: git (with git daemon), cargo. PROFILE=debug uses a debug build (default release);
# PARTS=b runs (b) only (default: ab).
set -euo pipefail
W=${1:-8}
WRITES=${2:-25}
D=${3:-20}
PROFILE=${PROFILE:-release}
PARTS=${PARTS:-ab}
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$here/.."
target="${CARGO_TARGET_DIR:-$root/target}"
flag=(); [ "$PROFILE" = release ] && flag=(--release)
work="$(mktemp -d)"
daemon_pid=""
cleanup() { [ -n "$daemon_pid" ] && kill "$daemon_pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
export GIT_CONFIG_GLOBAL=/dev/null GIT_CONFIG_SYSTEM=/dev/null

if [[ $PARTS == *a* ]]; then
echo "== (a) $W concurrent writers x $WRITES writes, git daemon on 127.0.0.1"
mkdir -p "$work/served"
git init -q --bare -b main "$work/served/store.git"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
git daemon --reuseaddr --enable=receive-pack --export-all --base-path="$work/served" \
  --listen=127.0.0.1 --port="$port" "$work/served" &
daemon_pid=$!
for _ in $(seq 50); do (echo > "/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
(cd "$root" && cargo run -q "${flag[@]}" -p ocuroot-core --example remote_bench -- \
  "git://127.0.0.1:$port/store.git" "$W" "$WRITES" ${SHARED:+shared} \
  ${OCUROOT_BENCH_QUEUE_TURN:+turn=$OCUROOT_BENCH_QUEUE_TURN} ${OCUROOT_BENCH_FOLD:+fold=$OCUROOT_BENCH_FOLD})
served="$work/served/store.git"
git -C "$served" fsck --strict --no-dangling >/dev/null && echo "remote fsck: clean"
# Every write once: one commit and one document per write; no marker of the waiting queue and
# no proposal left.
docs=$(git -C "$served" ls-tree -r --name-only state | grep -c '^refs/@/custom/w[0-9]*/n[0-9]*/#\.yaml$' || true)
commits=$(git -C "$served" rev-list --count state)
markers=$(git -C "$served" for-each-ref refs/ocuroot/ | wc -l)
echo "documents: $docs, commits: $commits (expected $((W * WRITES)) each), markers and proposals left: $markers"
[ "$docs" -eq $((W * WRITES)) ] && [ "$commits" -eq $((W * WRITES)) ] && [ "$markers" -eq 0 ] || { echo "FAILED: writes missing, doubled or markers/proposals left"; exit 1; }
fi

[[ $PARTS == *b* ]] || exit 0
echo "== (b) pushes per release: 1 build task + $D deployments"
(cd "$root" && cargo build -q "${flag[@]}" -p ocuroot-cli)
bin="$target/$PROFILE/ocuroot"
remote="$work/release.git"
git init -q --bare -b main "$remote"
# One line "push" per `git push` the remote receives, then one line per branch it updated.
cat > "$remote/hooks/post-receive" <<'HOOK'
#!/bin/sh
{ echo push; cat; } >> pushes.log
HOOK
chmod +x "$remote/hooks/post-receive"
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
: > "$remote/pushes.log"
start=$(date +%s.%N)
"$bin" release new release.ocu.star >/dev/null 2>&1
end=$(date +%s.%N)
s1=$(count state); i1=$(count intent)
echo "pushes: $(grep -c '^push$' "$remote/pushes.log")"
awk '/^push$/ { n++; next } { sub("refs/heads/", "", $3); b[n] = b[n] " " $3 }
  END { for (i = 1; i <= n; i++) print "  push " i ":" b[i] }' "$remote/pushes.log"
echo "commits: state $((s1 - s0)), intent $((i1 - i0))"
echo "release time: $(python3 -c "print(f'{$end - $start:.2f}')") s"
git -C "$remote" log --format='  state: %s' state -n $((s1 - s0)) | grep -v '^  state: $' | head -40
git -C "$remote" log --format='  intent: %s' intent -n $((i1 - i0)) | grep -v '^  intent: $' | head -40
