#!/usr/bin/env bash
# Renders the mobile demo's screens into docs/mobile-demo.png, headless (no display needed):
# replays the scripted journey against a local server with the Swing panels attached and
# paints them, with the CJK font the repository ships (core/assets/fonts).
set -euo pipefail
source "$(dirname "$0")/build.sh"
out="${1:-$repo/docs/mobile-demo.png}"
demo_progress "rendering the screens into $out"
DEMO_JAVA_OPTS="-Djava.awt.headless=true" \
  demo_java org.baoming.demo.ui.ScreenshotsKt --server-bin "$server_bin" --repo "$repo" --out "$out"
