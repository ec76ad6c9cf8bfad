#!/usr/bin/env bash
# Runs every test of the workspace against a real SQLite file, a real PostgreSQL server and a
# real MariaDB server. Both servers (Debian's packages) are installed if missing and started on
# 127.0.0.1 for the duration of the run; scripts/pg.sh and scripts/mariadb.sh own that part.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian's Chromium and ChromeDriver for the dashboard's browser tests.
bash scripts/browser.sh install
# poppler-utils and fonts-dejavu-core for the report tests.
bash scripts/tools.sh
exec bash scripts/pg.sh run -- bash scripts/mariadb.sh run -- cargo test --workspace --all-features --locked "$@"
