#!/usr/bin/env bash
# Runs a real release of this example on the embedded default store (.ocuroot/store.git).
# Usage: examples/quickstart/run.sh   (from anywhere)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ocuroot() { cargo run --quiet --release --manifest-path "$here/../../Cargo.toml" -p ocuroot-cli -- "$@"; }
cd "$here"
ocuroot release new environments.ocu.star
ocuroot release new --force release.ocu.star
echo
echo "Deployed to production:"
ocuroot state get release.ocu.star/@/deploy/production
echo
echo "History of the production deployment:"
ocuroot state log release.ocu.star/@/deploy/production
