#!/usr/bin/env bash
# Runs every criterion bench, PostgreSQL and MySQL ones included (against throw-away servers
# started the same way the tests start theirs, durable so the numbers mean something).
# Extra arguments go to criterion, e.g. `bash scripts/bench.sh -- --quick`.
set -euo pipefail
cd "$(dirname "$0")/.."

PG_SH_FSYNC=on MARIADB_SH_FSYNC=on exec bash scripts/pg.sh run -- \
    bash scripts/mariadb.sh run -- cargo bench -p audit-benches --locked "$@"
