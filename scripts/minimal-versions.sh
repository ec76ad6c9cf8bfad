#!/usr/bin/env bash
# Checks that every published crate builds with the lowest version of each direct dependency
# its Cargo.toml allows, so the declared minimums are true (a user with an older lock file
# gets a resolver error, not a compile error). Uses cargo-minimal-versions (which runs
# `cargo update -Z direct-minimal-versions` on stable) and cargo-hack, installed if missing.
# Cargo.toml and Cargo.lock are restored afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."

for tool in cargo-hack cargo-minimal-versions; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "minimal-versions.sh: installing $tool" >&2
        cargo install --locked "$tool"
    fi
done
# A target directory of its own: the lowest versions would otherwise evict the normal
# build's artifacts.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}/minimal-versions"
exec cargo minimal-versions check --workspace --direct --ignore-private --all-features
