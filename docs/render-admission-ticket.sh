#!/usr/bin/env bash
# Renders the sample admission ticket (the core's `render_samples` example: the core's own
# renderer, a demonstration signing key) and rasterises its page to docs/admission-ticket.png for
# the README. Needs `pdftoppm` (Debian's poppler-utils), installed here when it is missing.
#
#   docs/render-admission-ticket.sh [DPI]      # default 80 dpi
set -euo pipefail
cd "$(dirname "$0")/.."
dpi="${1:-80}"

if ! command -v pdftoppm >/dev/null; then
    echo "pdftoppm is missing: installing poppler-utils" >&2
    if [ "$(id -u)" -eq 0 ]; then
        apt-get update && apt-get install -y poppler-utils
    else
        sudo apt-get update && sudo apt-get install -y poppler-utils
    fi
fi

out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
cargo run --quiet -p baoming-core --features documents --example render_samples -- "$out"
pdftoppm -png -r "$dpi" -singlefile "$out/ticket.pdf" docs/admission-ticket
echo "wrote docs/admission-ticket.png"
