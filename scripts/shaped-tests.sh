#!/usr/bin/env bash
# The tests that measure a shaped link in real time (network namespaces,
# tbf) skip themselves under the race detector; make unit runs them here
# without it, one package at a time. Each must pass by name: a test
# renamed or skipped fails the run rather than vanish from it. A failing
# run gets one more, saying so: they measure a real link in real time,
# and the estimator reads a busy machine's delays as the link's
# (docs/performance.md, "Constrained subscribers").
set -u -o pipefail
GO=${GO:-go}
TESTS=(TestCongestionConstrainedSubscriber TestViewerCongestion TestConstrained)
PKGS=(./sfu ./cmd/parley-bench)
pattern="^($(IFS='|'; echo "${TESTS[*]}"))\$"

run() {
	local out rc=0
	out=$(mktemp)
	"$GO" test -count=1 -p 1 -timeout 10m -run "$pattern" -v "${PKGS[@]}" 2>&1 | tee "$out" || rc=1
	for t in "${TESTS[@]}"; do
		if ! grep -Eq "^--- PASS: $t \(" "$out"; then
			echo "shaped-link tests: $t did not pass"
			rc=1
		fi
	done
	rm -f "$out"
	return $rc
}

run || { echo "shaped-link tests: one more run"; run; }
