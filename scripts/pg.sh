#!/usr/bin/env bash
# Throw-away PostgreSQL cluster for tests and benches (no Docker needed).
#
# Installs Debian's PostgreSQL when it is missing, starts a fresh cluster in a
# temporary directory listening only on 127.0.0.1 on a free port, with trust
# auth for the test role, exports DATABASE_URL, and removes everything on stop.
#
# Two ways to use it:
#
#   # 1. sourced (functions; nothing runs at source time, caller's shell options untouched)
#   source scripts/pg.sh
#   pg_start || exit 1            # exports DATABASE_URL
#   trap pg_stop EXIT
#   cargo test ...
#
#   # 2. as a command
#   scripts/pg.sh run -- cargo test -p audit-sqlx   # start, run, stop; exit code of the command
#   eval "$(scripts/pg.sh start)"                   # leave a cluster running, print exports
#   scripts/pg.sh stop                              # stop the one named by $PG_SH_DIR
#   scripts/pg.sh install                           # only install the server packages
#   scripts/pg.sh halt / scripts/pg.sh resume       # stop / restart the server of $PG_SH_DIR,
#                                                   # keeping its data and port (outage tests)
#
# Knobs (environment):
#   PG_SH_FSYNC=off|on   durability of the throw-away cluster (default off: tests only;
#                        the benches set it to on so numbers reflect a real server)
#   PG_SH_FIXED_PORT=N   use this port instead of picking a free one
#   PG_SH_USER / PG_SH_DB  role and database names (default audit_test / audit_test)
#   PG_SH_TMP=DIR        where the cluster directory is created (default /tmp)

pg__log() { printf 'pg.sh: %s\n' "$*" >&2; }

# Directory holding initdb/pg_ctl/postgres, highest installed major first.
pg__bindir() {
    local d
    for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k5 -V -r); do
        if [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ]; then
            printf '%s\n' "$d"
            return 0
        fi
    done
    if command -v pg_ctl >/dev/null 2>&1 && command -v initdb >/dev/null 2>&1; then
        dirname "$(command -v pg_ctl)"
        return 0
    fi
    return 1
}

# Install Debian's PostgreSQL server if no server binaries are present. Idempotent.
pg_install() {
    if pg__bindir >/dev/null; then
        return 0
    fi
    local sudo=""
    if [ "$(id -u)" -ne 0 ]; then
        if command -v sudo >/dev/null 2>&1; then
            sudo="sudo"
        else
            pg__log "PostgreSQL is not installed and this is not root (no sudo): install 'postgresql' first"
            return 1
        fi
    fi
    pg__log "installing Debian's postgresql package"
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2 || return 1
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2 || return 1
    pg__bindir >/dev/null || {
        pg__log "postgresql installed but initdb/pg_ctl not found"
        return 1
    }
}

# Run a command as the cluster owner: the `postgres` OS user when we are root
# (initdb refuses to run as root), ourselves otherwise.
pg__as_owner() {
    if [ "$(id -u)" -eq 0 ]; then
        if command -v runuser >/dev/null 2>&1; then
            runuser -u postgres -- "$@"
        else
            su postgres -s /bin/sh -c "$(printf '%q ' "$@")"
        fi
    else
        "$@"
    fi
}

pg__port_free() {
    # A successful connect means something listens there.
    ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

pg__pick_port() {
    local i port
    for i in $(seq 1 200); do
        port=$((20000 + (RANDOM * 32768 + RANDOM) % 40000))
        if pg__port_free "$port"; then
            printf '%s\n' "$port"
            return 0
        fi
    done
    return 1
}

# Start a fresh cluster; exports DATABASE_URL, PG_SH_DIR, PG_SH_PORT, PG_SH_BIN.
# Calling it again while a cluster from this shell is running is a no-op.
pg_start() {
    if [ -n "${PG_SH_DIR:-}" ] && [ -f "${PG_SH_DIR}/data/postmaster.pid" ]; then
        pg__log "already running in $PG_SH_DIR ($DATABASE_URL)"
        return 0
    fi
    pg_install || return 1
    local bin user db fsync dir port attempt
    bin="$(pg__bindir)" || return 1
    user="${PG_SH_USER:-audit_test}"
    db="${PG_SH_DB:-audit_test}"
    fsync="${PG_SH_FSYNC:-off}"

    if [ "$(id -u)" -eq 0 ] && ! id postgres >/dev/null 2>&1; then
        useradd --system --home-dir /var/lib/postgresql --shell /bin/bash postgres || return 1
    fi

    # Not $TMPDIR: it may be private to the invoking user, and the server runs as `postgres`.
    dir="$(mktemp -d "${PG_SH_TMP:-/tmp}/audit-pg.XXXXXX")" || return 1
    chmod 700 "$dir"
    if [ "$(id -u)" -eq 0 ]; then
        chown postgres: "$dir" || return 1
    fi

    if ! pg__as_owner "$bin/initdb" -D "$dir/data" -U "$user" --auth=trust \
        --encoding=UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1; then
        # Older servers lack C.UTF-8 handling in initdb; plain C is fine for tests.
        rm -rf "${dir:?}/data"
        if ! pg__as_owner "$bin/initdb" -D "$dir/data" -U "$user" --auth=trust \
            --encoding=UTF8 --locale=C >"$dir/initdb.log" 2>&1; then
            pg__log "initdb failed:"
            cat "$dir/initdb.log" >&2
            rm -rf "$dir"
            return 1
        fi
    fi

    for attempt in 1 2 3 4 5; do
        if [ -n "${PG_SH_FIXED_PORT:-}" ]; then
            port="$PG_SH_FIXED_PORT"
        else
            port="$(pg__pick_port)" || {
                pg__log "no free port found"
                rm -rf "$dir"
                return 1
            }
        fi
        local options="-c listen_addresses=127.0.0.1 -p $port -c unix_socket_directories='$dir' \
            -c fsync=$fsync -c synchronous_commit=$fsync -c full_page_writes=$fsync \
            -c max_connections=200 -c shared_buffers=256MB"
        if pg__as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start \
            -o "$options" >/dev/null 2>&1; then
            # `resume` restarts the server with the same options.
            printf '%s\n' "$options" >"$dir/options"
            break
        fi
        pg__log "start on port $port failed (attempt $attempt)"
        port=""
        [ -n "${PG_SH_FIXED_PORT:-}" ] && break
    done
    if [ -z "$port" ]; then
        pg__log "could not start the server; log follows"
        cat "$dir/server.log" >&2 2>/dev/null
        rm -rf "$dir"
        return 1
    fi

    if ! "$bin/psql" -X -q -h 127.0.0.1 -p "$port" -U "$user" -d postgres \
        -c "CREATE DATABASE \"$db\"" >/dev/null 2>"$dir/createdb.log"; then
        pg__log "CREATE DATABASE failed:"
        cat "$dir/createdb.log" >&2
        pg__as_owner "$bin/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1
        rm -rf "$dir"
        return 1
    fi

    export PG_SH_DIR="$dir" PG_SH_PORT="$port" PG_SH_BIN="$bin"
    export DATABASE_URL="postgres://$user@127.0.0.1:$port/$db"
    pg__log "PostgreSQL $("$bin/postgres" --version | awk '{print $3}') up: DATABASE_URL=$DATABASE_URL (data in $dir)"
}

# Stop the cluster started by pg_start and delete its directory. Idempotent.
pg_stop() {
    local dir="${1:-${PG_SH_DIR:-}}"
    if [ -z "$dir" ]; then
        return 0
    fi
    case "$dir" in
    */audit-pg.*) ;;
    *)
        pg__log "refusing to remove $dir (not a pg.sh directory)"
        return 1
        ;;
    esac
    local bin="${PG_SH_BIN:-}"
    [ -n "$bin" ] || bin="$(pg__bindir)" || true
    if [ -f "$dir/data/postmaster.pid" ] && [ -n "$bin" ]; then
        pg__as_owner "$bin/pg_ctl" -D "$dir/data" -m fast -w -t 60 stop >/dev/null 2>&1 ||
            pg__as_owner "$bin/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true
    fi
    rm -rf "$dir"
    if [ "${PG_SH_DIR:-}" = "$dir" ]; then
        unset PG_SH_DIR PG_SH_PORT DATABASE_URL
    fi
    pg__log "stopped and removed $dir"
    return 0
}

pg__main() {
    local cmd="${1:-}"
    shift || true
    case "$cmd" in
    halt)
        # An outage: the server of $PG_SH_DIR stops; data, port and URL stay for `resume`.
        [ -n "${PG_SH_DIR:-}" ] && [ -n "${PG_SH_BIN:-}" ] || { pg__log "halt: PG_SH_DIR/PG_SH_BIN not set"; return 1; }
        pg__as_owner "$PG_SH_BIN/pg_ctl" -D "$PG_SH_DIR/data" -m fast -w -t 60 stop >/dev/null
        ;;
    resume)
        [ -n "${PG_SH_DIR:-}" ] && [ -n "${PG_SH_BIN:-}" ] || { pg__log "resume: PG_SH_DIR/PG_SH_BIN not set"; return 1; }
        pg__as_owner "$PG_SH_BIN/pg_ctl" -D "$PG_SH_DIR/data" -l "$PG_SH_DIR/server.log" -w -t 60 start \
            -o "$(cat "$PG_SH_DIR/options")" >/dev/null
        ;;
    install)
        pg_install
        ;;
    start)
        unset PG_SH_DIR
        pg_start || return 1
        printf 'export DATABASE_URL=%q PG_SH_DIR=%q PG_SH_PORT=%q PG_SH_BIN=%q\n' \
            "$DATABASE_URL" "$PG_SH_DIR" "$PG_SH_PORT" "$PG_SH_BIN"
        ;;
    stop)
        pg_stop "${1:-${PG_SH_DIR:-}}"
        ;;
    run)
        [ "${1:-}" = "--" ] && shift
        if [ $# -eq 0 ]; then
            pg__log "usage: pg.sh run -- <command> [args...]"
            return 2
        fi
        unset PG_SH_DIR
        pg_start || return 1
        trap 'pg_stop' EXIT
        trap 'exit 130' INT TERM
        local rc=0
        "$@" || rc=$?
        pg_stop
        trap - EXIT
        return "$rc"
        ;;
    *)
        pg__log "usage: pg.sh {install|start|stop [dir]|halt|resume|run -- <command>}  (or: source it, then pg_start / pg_stop)"
        return 2
        ;;
    esac
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    pg__main "$@"
    exit $?
fi
