#!/usr/bin/env bash
# Runs the mobile demo's phone-sized window.
#   mobile-demo/run.sh                      starts a local server (demo catalog, demo candidate)
#   mobile-demo/run.sh https://server:port  uses a running server
# Needs a display (on a machine without one, see screenshot.sh).
set -euo pipefail
source "$(dirname "$0")/build.sh"
if [ $# -ge 1 ]; then
  demo_java org.baoming.demo.MainKt --server "$1" --repo "$repo"
else
  demo_java org.baoming.demo.MainKt --server-bin "$server_bin" --repo "$repo"
fi
