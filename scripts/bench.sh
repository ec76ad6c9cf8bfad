#!/usr/bin/env bash
# Runs every criterion bench, PostgreSQL ones included (against a throw-away cluster started
# the same way the tests start theirs, with fsync on so the numbers mean something).
# Extra arguments go to criterion, e.g. `bash scripts/bench.sh -- --quick`.
set -euo pipefail
cd "$(dirname "$0")/.."

PG_SH_FSYNC=on exec bash scripts/pg.sh run -- cargo bench -p audit-benches --locked "$@"
