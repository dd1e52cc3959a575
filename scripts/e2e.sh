#!/usr/bin/env bash
# Runs the browser end-to-end tests (web/e2e: every *.test.mjs, in headless
# Chromium and in headless Firefox, which plays its sound to a PulseAudio
# daemon of the test's own) against bin/parley. When the machine allows it,
# server and browsers run in a network namespace of their own with only a
# loopback interface, so that no packet can leave the host. Without
# firefox-esr or pulseaudio the Firefox tests are skipped, saying so; with
# CI set they fail.
set -euo pipefail
cd "$(dirname "$0")/.."

# PARLEY_E2E_NETNS tells the tests that they may add interfaces to the
# namespace (adaptive.test.mjs's shaped link).
run='ip link set lo up && export PARLEY_E2E_NETNS=1 && cd web/e2e && exec ../../scripts/e2e-files.sh'
if unshare -n true 2>/dev/null; then
	exec unshare -n sh -c "$run"
elif unshare -rn true 2>/dev/null; then
	exec unshare -rn sh -c "$run"
fi
echo "e2e: cannot make a network namespace here; running on 127.0.0.1 in the host's network" >&2
cd web/e2e
exec ../../scripts/e2e-files.sh
