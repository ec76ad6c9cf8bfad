#!/usr/bin/env bash
# Runs every test of the workspace against a real SQLite file and a real PostgreSQL server.
# PostgreSQL (Debian's package) is installed if missing and a throw-away cluster is started on
# 127.0.0.1 for the duration of the run; scripts/pg.sh owns that part.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian's Chromium and ChromeDriver for the dashboard's browser tests.
bash scripts/browser.sh install
# poppler-utils and fonts-dejavu-core for the report tests.
bash scripts/tools.sh
exec bash scripts/pg.sh run -- cargo test --workspace --all-features --locked "$@"
