#!/usr/bin/env bash
# Debian packages the report tests read their output with, installed when missing:
# poppler-utils (pdftotext, pdftoppm, pdfinfo, pdffonts) and the font the PDF report is set
# in (fonts-dejavu-core). Idempotent; needs root or sudo only when something is missing.
set -euo pipefail

need=()
command -v pdftotext >/dev/null 2>&1 && command -v pdftoppm >/dev/null 2>&1 || need+=(poppler-utils)
[ -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || need+=(fonts-dejavu-core)
[ ${#need[@]} -eq 0 ] && exit 0

sudo=""
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || {
        echo "tools.sh: missing ${need[*]} and not root (no sudo): install them first" >&2
        exit 1
    }
    sudo="sudo"
fi
echo "tools.sh: installing ${need[*]}" >&2
$sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >&2
