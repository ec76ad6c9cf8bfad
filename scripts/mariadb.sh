#!/usr/bin/env bash
# Throw-away MariaDB server for tests and benches (no Docker needed).
#
# Installs Debian's mariadb-server when it is missing, starts a fresh server in a temporary
# directory (data, socket, pid and log all inside it) listening only on 127.0.0.1 on a free
# port, creates a test user that may do anything (tests create databases, users and grants
# of their own), exports MYSQL_URL, and removes everything on stop.
#
# Two ways to use it:
#
#   # 1. sourced (functions; nothing runs at source time, caller's shell options untouched)
#   source scripts/mariadb.sh
#   mariadb_start || exit 1         # exports MYSQL_URL
#   trap mariadb_stop EXIT
#   cargo test ...
#
#   # 2. as a command
#   scripts/mariadb.sh run -- cargo test -p audit-sqlx   # start, run, stop; exit code of the command
#   eval "$(scripts/mariadb.sh start)"                   # leave a server running, print exports
#   scripts/mariadb.sh stop                              # stop the one named by $MARIADB_SH_DIR
#   scripts/mariadb.sh install                           # only install the server package
#
# Knobs (environment):
#   MARIADB_SH_FSYNC=off|on   durability of the throw-away server (default off: tests only;
#                             the benches set it to on so numbers reflect a real server)
#   MARIADB_SH_FIXED_PORT=N   use this port instead of picking a free one
#   MARIADB_SH_USER / MARIADB_SH_DB  user and database names (default audit_test / audit_test)
#   MARIADB_SH_TMP=DIR        where the server directory is created (default /tmp)

mariadb__log() { printf 'mariadb.sh: %s\n' "$*" >&2; }

# The server binary and the data-directory initialiser (names changed across versions).
mariadb__server() {
    local b
    for b in /usr/sbin/mariadbd /usr/sbin/mysqld "$(command -v mariadbd 2>/dev/null)"; do
        if [ -n "$b" ] && [ -x "$b" ]; then
            printf '%s\n' "$b"
            return 0
        fi
    done
    return 1
}

mariadb__install_db() {
    local b
    for b in mariadb-install-db mysql_install_db; do
        if command -v "$b" >/dev/null 2>&1; then
            command -v "$b"
            return 0
        fi
    done
    return 1
}

mariadb__client() {
    local b
    for b in mariadb mysql; do
        if command -v "$b" >/dev/null 2>&1; then
            command -v "$b"
            return 0
        fi
    done
    return 1
}

# Install Debian's MariaDB server if it is not present. Idempotent.
mariadb_install() {
    if mariadb__server >/dev/null && mariadb__install_db >/dev/null && mariadb__client >/dev/null; then
        return 0
    fi
    local sudo=""
    if [ "$(id -u)" -ne 0 ]; then
        if command -v sudo >/dev/null 2>&1; then
            sudo="sudo"
        else
            mariadb__log "MariaDB is not installed and this is not root (no sudo): install 'mariadb-server' first"
            return 1
        fi
    fi
    mariadb__log "installing Debian's mariadb-server package"
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2 || return 1
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mariadb-server >&2 || return 1
    mariadb__server >/dev/null && mariadb__install_db >/dev/null && mariadb__client >/dev/null || {
        mariadb__log "mariadb-server installed but mariadbd / mariadb-install-db / mariadb not found"
        return 1
    }
}

mariadb__port_free() {
    # A successful connect means something listens there.
    ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

mariadb__pick_port() {
    local i port
    for i in $(seq 1 200); do
        port=$((20000 + (RANDOM * 32768 + RANDOM) % 40000))
        if mariadb__port_free "$port"; then
            printf '%s\n' "$port"
            return 0
        fi
    done
    return 1
}

# SQL as the server's root, over the socket of the server in $1.
mariadb__sql() {
    "$(mariadb__client)" --no-defaults --protocol=socket --socket="$1/mysqld.sock" -uroot \
        --batch --skip-column-names -e "$2"
}

# Wait until the server in $1 answers on its socket, or its process ended.
mariadb__wait_ready() {
    local dir="$1" pid="$2" i
    for i in $(seq 1 600); do
        if mariadb__sql "$dir" "SELECT 1" >/dev/null 2>&1; then
            return 0
        fi
        kill -0 "$pid" 2>/dev/null || return 1
        sleep 0.1
    done
    return 1
}

# Start a fresh server; exports MYSQL_URL, MARIADB_SH_DIR, MARIADB_SH_PORT.
# Calling it again while a server from this shell is running is a no-op.
mariadb_start() {
    if [ -n "${MARIADB_SH_DIR:-}" ] && [ -S "${MARIADB_SH_DIR}/mysqld.sock" ]; then
        mariadb__log "already running in $MARIADB_SH_DIR ($MYSQL_URL)"
        return 0
    fi
    mariadb_install || return 1
    local server install_db user db fsync dir port attempt pid owner flush
    server="$(mariadb__server)" || return 1
    install_db="$(mariadb__install_db)" || return 1
    user="${MARIADB_SH_USER:-audit_test}"
    db="${MARIADB_SH_DB:-audit_test}"
    fsync="${MARIADB_SH_FSYNC:-off}"
    flush=0
    [ "$fsync" = "on" ] && flush=1

    # mariadbd refuses to run as root without --user; the package creates the mysql user.
    owner="$(id -un)"
    if [ "$(id -u)" -eq 0 ]; then
        owner=mysql
        id mysql >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin mysql || return 1
    fi

    # Not $TMPDIR: it may be private to the invoking user, and the server runs as `mysql`.
    dir="$(mktemp -d "${MARIADB_SH_TMP:-/tmp}/audit-mariadb.XXXXXX")" || return 1
    chmod 700 "$dir"
    [ "$(id -u)" -eq 0 ] && { chown "$owner": "$dir" || return 1; }

    if ! "$install_db" --no-defaults --datadir="$dir/data" --user="$owner" \
        --auth-root-authentication-method=normal --skip-test-db \
        >"$dir/install-db.log" 2>&1; then
        mariadb__log "mariadb-install-db failed:"
        cat "$dir/install-db.log" >&2
        rm -rf "$dir"
        return 1
    fi

    for attempt in 1 2 3 4 5; do
        if [ -n "${MARIADB_SH_FIXED_PORT:-}" ]; then
            port="$MARIADB_SH_FIXED_PORT"
        else
            port="$(mariadb__pick_port)" || {
                mariadb__log "no free port found"
                rm -rf "$dir"
                return 1
            }
        fi
        "$server" --no-defaults --user="$owner" --datadir="$dir/data" --tmpdir="$dir" \
            --socket="$dir/mysqld.sock" --pid-file="$dir/mysqld.pid" --log-error="$dir/server.log" \
            --bind-address=127.0.0.1 --port="$port" --skip-name-resolve \
            --character-set-server=utf8mb4 --collation-server=utf8mb4_bin \
            --innodb-flush-log-at-trx-commit="$flush" --innodb-buffer-pool-size=256M \
            --max-connections=300 --max-allowed-packet=64M >/dev/null 2>&1 &
        pid=$!
        if mariadb__wait_ready "$dir" "$pid"; then
            break
        fi
        mariadb__log "start on port $port failed (attempt $attempt)"
        kill "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
        port=""
        [ -n "${MARIADB_SH_FIXED_PORT:-}" ] && break
    done
    if [ -z "$port" ]; then
        mariadb__log "could not start the server; log follows"
        cat "$dir/server.log" >&2 2>/dev/null
        rm -rf "$dir"
        return 1
    fi

    if ! mariadb__sql "$dir" "CREATE DATABASE \`$db\` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin;
            CREATE USER '$user'@'%' IDENTIFIED BY '$user';
            GRANT ALL PRIVILEGES ON *.* TO '$user'@'%' WITH GRANT OPTION;" 2>"$dir/createdb.log"; then
        mariadb__log "creating the test user and database failed:"
        cat "$dir/createdb.log" >&2
        kill "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
        rm -rf "$dir"
        return 1
    fi

    export MARIADB_SH_DIR="$dir" MARIADB_SH_PORT="$port"
    export MYSQL_URL="mysql://$user:$user@127.0.0.1:$port/$db"
    mariadb__log "$(mariadb__sql "$dir" "SELECT VERSION()") up: MYSQL_URL=$MYSQL_URL (data in $dir)"
}

# Stop the server started by mariadb_start and delete its directory. Idempotent.
mariadb_stop() {
    local dir="${1:-${MARIADB_SH_DIR:-}}" pid i
    if [ -z "$dir" ]; then
        return 0
    fi
    case "$dir" in
    */audit-mariadb.*) ;;
    *)
        mariadb__log "refusing to remove $dir (not a mariadb.sh directory)"
        return 1
        ;;
    esac
    if [ -f "$dir/mysqld.pid" ]; then
        pid="$(cat "$dir/mysqld.pid" 2>/dev/null)"
        if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
            kill -TERM "$pid" 2>/dev/null
            for i in $(seq 1 300); do
                kill -0 "$pid" 2>/dev/null || break
                sleep 0.1
            done
            kill -KILL "$pid" 2>/dev/null || true
        fi
    fi
    rm -rf "$dir"
    if [ "${MARIADB_SH_DIR:-}" = "$dir" ]; then
        unset MARIADB_SH_DIR MARIADB_SH_PORT MYSQL_URL
    fi
    mariadb__log "stopped and removed $dir"
    return 0
}

mariadb__main() {
    local cmd="${1:-}"
    shift || true
    case "$cmd" in
    install)
        mariadb_install
        ;;
    start)
        unset MARIADB_SH_DIR
        mariadb_start || return 1
        printf 'export MYSQL_URL=%q MARIADB_SH_DIR=%q MARIADB_SH_PORT=%q\n' \
            "$MYSQL_URL" "$MARIADB_SH_DIR" "$MARIADB_SH_PORT"
        ;;
    stop)
        mariadb_stop "${1:-${MARIADB_SH_DIR:-}}"
        ;;
    run)
        [ "${1:-}" = "--" ] && shift
        if [ $# -eq 0 ]; then
            mariadb__log "usage: mariadb.sh run -- <command> [args...]"
            return 2
        fi
        unset MARIADB_SH_DIR
        mariadb_start || return 1
        trap 'mariadb_stop' EXIT
        trap 'exit 130' INT TERM
        local rc=0
        "$@" || rc=$?
        mariadb_stop
        trap - EXIT
        return "$rc"
        ;;
    *)
        mariadb__log "usage: mariadb.sh {install|start|stop [dir]|run -- <command>}  (or: source it, then mariadb_start / mariadb_stop)"
        return 2
        ;;
    esac
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    mariadb__main "$@"
    exit $?
fi
