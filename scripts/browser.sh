#!/usr/bin/env bash
# Headless Chromium for the browser tests (no download of a browser build of its own).
#
# Installs Debian's `chromium` and `chromium-driver` when either is missing, the way
# scripts/pg.sh installs PostgreSQL. The tests start chromedriver themselves, on a free
# 127.0.0.1 port, with a fresh profile each; they find the binaries on PATH or through
# CHROMEDRIVER / CHROMIUM (exported by `browser_env`).
#
#   # 1. sourced (functions only; nothing runs at source time)
#   source scripts/browser.sh
#   browser_install || exit 1
#   browser_env                    # exports CHROMIUM and CHROMEDRIVER
#
#   # 2. as a command
#   scripts/browser.sh install     # install the packages if missing
#   scripts/browser.sh run -- cargo test -p audit-dashboard --test browser

browser__log() { printf 'browser.sh: %s\n' "$*" >&2; }

browser__chromium() {
    local c
    for c in "${CHROMIUM:-}" /usr/bin/chromium "$(command -v chromium 2>/dev/null)"; do
        if [ -n "$c" ] && [ -x "$c" ]; then
            printf '%s\n' "$c"
            return 0
        fi
    done
    return 1
}

browser__driver() {
    local c
    for c in "${CHROMEDRIVER:-}" /usr/bin/chromedriver "$(command -v chromedriver 2>/dev/null)"; do
        if [ -n "$c" ] && [ -x "$c" ]; then
            printf '%s\n' "$c"
            return 0
        fi
    done
    return 1
}

# Install Debian's chromium and chromium-driver if either is missing. Idempotent.
browser_install() {
    if browser__chromium >/dev/null && browser__driver >/dev/null; then
        return 0
    fi
    local sudo=""
    if [ "$(id -u)" -ne 0 ]; then
        if command -v sudo >/dev/null 2>&1; then
            sudo="sudo"
        else
            browser__log "chromium is not installed and this is not root (no sudo): install 'chromium chromium-driver' first"
            return 1
        fi
    fi
    browser__log "installing Debian's chromium and chromium-driver packages"
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2 || return 1
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >&2 || return 1
    browser__chromium >/dev/null && browser__driver >/dev/null || {
        browser__log "packages installed but chromium/chromedriver not found"
        return 1
    }
}

# Export CHROMIUM and CHROMEDRIVER (absolute paths) for the tests.
browser_env() {
    local chromium driver
    chromium="$(browser__chromium)" || return 1
    driver="$(browser__driver)" || return 1
    export CHROMIUM="$chromium" CHROMEDRIVER="$driver"
    browser__log "$("$chromium" --version 2>/dev/null | head -n1), $("$driver" --version 2>/dev/null | head -n1 | cut -d' ' -f1-2)"
}

browser__main() {
    local cmd="${1:-}"
    shift || true
    case "$cmd" in
    install)
        browser_install
        ;;
    run)
        [ "${1:-}" = "--" ] && shift
        if [ $# -eq 0 ]; then
            browser__log "usage: browser.sh run -- <command> [args...]"
            return 2
        fi
        browser_install || return 1
        browser_env || return 1
        "$@"
        ;;
    *)
        browser__log "usage: browser.sh {install|run -- <command>}  (or: source it, then browser_install / browser_env)"
        return 2
        ;;
    esac
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    browser__main "$@"
    exit $?
fi
