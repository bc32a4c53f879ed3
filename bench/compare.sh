#!/usr/bin/env bash
# Two ocuroot binaries side by side on the same generated stores (docs/benchmarks.md,
# "Before and after the architecture change"): `state get` and `state diff` on 100,000
# documents, `plan` on the 1,000- and 10,000-package estates, and `release new` of 100
# deployments. Instruction
# counts (valgrind --tool=callgrind, deterministic) and wall time (hyperfine, both binaries
# in one session, alternating). Not part of CI. Usage:
#   bench/compare.sh OLD_BIN NEW_BIN GEN_STORE_BIN [work-dir]
# Needs hyperfine and valgrind.
set -euo pipefail

old="$1"
new="$2"
gen="$3"
work="${4:-$(mktemp -d)}"
here="$(cd "$(dirname "$0")/.." && pwd)"
runs="${RUNS:-30}"
export GIT_CONFIG_GLOBAL=/dev/null GIT_CONFIG_SYSTEM=/dev/null
mkdir -p "$work"
cp "$old" "$work/old"
cp "$new" "$work/new"

[ -d "$work/store100000" ] || "$gen" "$work/store100000" --docs 100000 --changes 10
for n in 1000 10000; do
  [ -d "$work/est$n" ] || "$gen" "$work/est$n" --estate "$n"
done
# The release fixture of bench/release_bench.sh (a): one build task, 100 deployments.
if [ ! -d "$work/rel" ]; then
  mkdir -p "$work/rel"
  (
    cd "$work/rel"
    git init -q
    echo 'repo_alias("bench/repo")' > repo.ocu.star
    {
      for i in $(seq 1 100); do echo "register_environment(environment(\"env$i\", {\"type\": \"prod\"}))"; done
    } > environments.ocu.star
    cat > release.ocu.star <<'STAR'
def build():
    return done(outputs = {"version": "1.0"})

def up(environment, version):
    return done(outputs = {"url": environment["name"] + ".example.com"})

def down(environment, version = ""):
    return done()

task(build, name = "build")
phase("deploy", tasks = [
    deploy(up = up, down = down, environment = e, inputs = {"version": ref("./task/build#output/version")})
    for e in environments()
])
STAR
    git add -A
    git -c user.name=b -c user.email=b@b commit -qm init
  )
fi

ref='bench/-/team07/svc0007/package.ocu.star/@r36/deploy/production'
for bin in old new; do
  (cd "$work/store100000" && "$work/$bin" state get "$ref" > /dev/null)
  for n in 1000 10000; do (cd "$work/est$n" && "$work/$bin" plan --color never > /dev/null); done
  (cd "$work/rel" && rm -rf .ocuroot && "$work/$bin" release new environments.ocu.star > /dev/null 2>&1)
done

count() { # dir, command...: instructions of the whole process
  local dir="$1"
  shift
  (cd "$dir" && valgrind --tool=callgrind --callgrind-out-file=/dev/null "$@" 2>&1 >/dev/null |
    sed -n 's/.*Collected : \([0-9]*\).*/\1/p')
}

echo "## instructions (callgrind)"
printf '| command | old | new | new / old |\n|---|---:|---:|---:|\n'
row() {
  local name="$1" dir="$2"
  shift 2
  local a b
  a=$(count "$dir" "$work/old" "$@")
  b=$(count "$dir" "$work/new" "$@")
  python3 -c "print(f'| $name | {$a/1e6:.2f} M | {$b/1e6:.2f} M | {$b/$a:.3f} |')"
}
row "state get (100k documents)" "$work/store100000" state get "$ref"
row "state diff (100k documents)" "$work/store100000" state diff
row "plan (1,000 packages)" "$work/est1000" plan --color never
# The 10,000-package plan takes minutes under callgrind: wall time only.
row "release new --force (1 build + 100 deployments)" "$work/rel" release new --force release.ocu.star

echo "## wall time (hyperfine, both binaries in one session)"
(cd "$work/store100000" && hyperfine -N --warmup 5 --runs "$runs" \
  "$work/old state get $ref" "$work/new state get $ref" \
  "$work/old state diff" "$work/new state diff")
(cd "$work/est1000" && hyperfine -N --warmup 3 --runs 20 \
  "$work/old plan --color never" "$work/new plan --color never")
(cd "$work/est10000" && hyperfine -N --warmup 1 --runs 5 \
  "$work/old plan --color never" "$work/new plan --color never")
(cd "$work/rel" && hyperfine --warmup 1 --runs 8 \
  "$work/old release new --force release.ocu.star > /dev/null 2>&1" \
  "$work/new release new --force release.ocu.star > /dev/null 2>&1")
