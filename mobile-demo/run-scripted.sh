#!/usr/bin/env bash
# The mobile demo's test: builds everything (see build.sh), starts a real baoming-server with
# the demo catalog open and a demo candidate, and runs the headless scripted journey through
# the view-models: login, announcements, agreement, form with an inline validation error,
# center and subjects with live seats, photo, submit, status with the deadline, payment on
# the sandbox platform's page, the registration form PDF; then a headless check of the Swing
# front end's wiring (typing and clicking on the panels). Exits non-zero on any failure.
set -euo pipefail
source "$(dirname "$0")/build.sh"
demo_progress "scripted journey (headless, view-models only)"
demo_java org.baoming.demo.script.ScriptedJourneyKt --server-bin "$server_bin" --repo "$repo"
demo_progress "the Swing front end's wiring (headless: typing and clicking on the panels)"
DEMO_JAVA_OPTS="-Djava.awt.headless=true" \
  demo_java org.baoming.demo.ui.UiCheckKt --server-bin "$server_bin" --repo "$repo"
