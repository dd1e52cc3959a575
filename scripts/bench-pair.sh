#!/bin/sh
# Compares two builds of the server under the same load at the same time.
#
# usage: scripts/bench-pair.sh OLD NEW N [parley-bench flags...]
#   e.g. scripts/bench-pair.sh /tmp/parley-old bin/parley 6 -recorders 50 -publishers 0 -subscribers 0 -duration 15s
#
# Runs of one build on a shared or virtual machine spread by ±30%, and the
# spread follows the machine over minutes, so runs one after the other
# cannot tell a step of 10% from the noise. Here both builds run at once,
# N times: each server on CPU 0, each load generator (bin/parley-bench) on
# CPU 1, so that whatever slows the machine slows both. It prints each
# pair's packets per server CPU-second and CPU per wake-up, and the median
# of NEW's figure as a percentage of OLD's. Compare builds under loads
# that leave the generators' shared CPU room (50-200 recorders, small
# rooms): at 1,000 subscribers two generators saturate it.
set -eu
if [ $# -lt 3 ]; then
	sed -n '4,5p' "$0" >&2
	exit 2
fi
old=$1 new=$2 n=$3
shift 3
bench=${PARLEY_BENCH:-bin/parley-bench}
for b in "$old" "$new" "$bench"; do
	[ -x "$b" ] || { echo "bench-pair: $b is not an executable (make build makes bin/parley and bin/parley-bench)" >&2; exit 2; }
done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
field() { grep '^{' "$1" | grep -o "\"$2\":[0-9.e+-]*" | head -1 | cut -d: -f2; }
i=1
while [ "$i" -le "$n" ]; do
	# Alternate which starts first.
	if [ $((i % 2)) = 1 ]; then first=old; else first=new; fi
	for which in $first $([ $first = old ] && echo new || echo old); do
		if [ $which = old ]; then bin=$old; else bin=$new; fi
		taskset -c 1 "$bench" -server "$bin" -server-cpus 0 "$@" >"$tmp/$which" 2>&1 &
		eval "pid_$which=\$!"
	done
	# shellcheck disable=SC2154
	wait "$pid_old" || { cat "$tmp/old" >&2; exit 1; }
	wait "$pid_new" || { cat "$tmp/new" >&2; exit 1; }
	o=$(field "$tmp/old" packets_per_server_cpu_second)
	w=$(field "$tmp/new" packets_per_server_cpu_second)
	ou=$(field "$tmp/old" server_cpu_us_per_wakeup)
	wu=$(field "$tmp/new" server_cpu_us_per_wakeup)
	echo "$o $w $ou $wu" | awk -v i="$i" '{ printf "pair %d: old %.0f, new %.0f packets per server CPU-s (%.1f%%); CPU per wake-up %.1f and %.1f us\n", i, $1, $2, 100 * $2 / $1, $3, $4 }'
	echo "$o $w" | awk '{ print 100 * $2 / $1 }' >>"$tmp/ratios"
	i=$((i + 1))
done
sort -n "$tmp/ratios" | awk '{ r[NR] = $1 } END { m = (NR % 2) ? r[(NR + 1) / 2] : (r[NR / 2] + r[NR / 2 + 1]) / 2; printf "new / old: median %.1f%%, from %.1f%% to %.1f%% over %d pairs\n", m, r[1], r[NR], NR }'
