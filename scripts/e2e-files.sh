#!/bin/sh
# Runs each browser test file of web/e2e in turn (called by e2e.sh, in
# web/e2e). A file that fails gets one more run, saying so: the browser
# tests of adaptive media measure a real encoder on a 2-core machine, and
# a busy one makes Chromium turn its top simulcast layer off for a while
# (its CPU adaptation), which those tests cannot tell from a server fault.
# The suite fails if a file fails twice.
failed=""
for f in *.test.mjs; do
	if ! node --test --test-reporter=spec "$f"; then
		echo "e2e: $f failed; one more run" >&2
		node --test --test-reporter=spec "$f" || failed="$failed $f"
	fi
done
if [ -n "$failed" ]; then
	echo "e2e: failed twice:$failed" >&2
	exit 1
fi
