#!/usr/bin/env bash
# Benchmarks of release execution (docs/benchmarks.md, "Releases").
#   (a) one build task and N deployments whose `up` returns done() immediately;
#   (b) one phase of M deployments whose `up` runs shell("sleep 0.5").
# Usage: bench/release_bench.sh [N=100] [M=20]
# Needs: hyperfine, git, a release build (cargo build --release -p ocuroot-cli).
set -euo pipefail
N=${1:-100}
M=${2:-20}
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
bin="${OCUROOT_BIN:-$here/../target/release/ocuroot}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

make_fixture() { # dir count body
  local dir=$1 count=$2 body=$3
  mkdir -p "$dir"
  cd "$dir"
  git init -q
  echo 'repo_alias("bench/repo")' > repo.ocu.star
  {
    for i in $(seq 1 "$count"); do echo "register_environment(environment(\"env$i\", {\"type\": \"prod\"}))"; done
  } > environments.ocu.star
  cat > release.ocu.star <<STAR
def build():
    return done(outputs = {"version": "1.0"})

def up(environment, version):
$body

def down(environment, version = ""):
    return done()

task(build, name = "build")
phase("deploy", tasks = [
    deploy(up = up, down = down, environment = e, inputs = {"version": ref("./task/build#output/version")})
    for e in environments()
])
STAR
  git add -A && git -c user.name=b -c user.email=b@b commit -qm init
  "$bin" release new environments.ocu.star > /dev/null 2>&1
  cd - > /dev/null
}

make_fixture "$work/a" "$N" '    return done(outputs = {"url": environment["name"] + ".example.com"})'
make_fixture "$work/b" "$M" '    shell("sleep 0.5")
    return done()'

echo "## (a) 1 build + $N deployments returning done()"
before=$(git -C "$work/a/.ocuroot/store.git" rev-list --count state)
before_intent=$(git -C "$work/a/.ocuroot/store.git" rev-list --count intent)
hyperfine --warmup 1 --runs 10 \
  "cd $work/a && $bin release new --force release.ocu.star > /dev/null 2>&1"
after=$(git -C "$work/a/.ocuroot/store.git" rev-list --count state)
runs=11
echo "state commits per release: $(( (after - before) / runs ))"
echo "intent commits per release: $(( ($(git -C "$work/a/.ocuroot/store.git" rev-list --count intent) - before_intent) / runs ))"

echo "## (b) 1 phase of $M deployments running shell(\"sleep 0.5\")"
hyperfine --warmup 0 --runs 3 "cd $work/b && $bin release new --force release.ocu.star > /dev/null 2>&1"
