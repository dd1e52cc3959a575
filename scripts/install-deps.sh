#!/usr/bin/env bash
# Installs what parley's tests need on a fresh Debian machine. Safe to run
# again: it installs only what is missing. Run as root, or with sudo
# available.
set -euo pipefail

# Debian packages the tests use, with the command each provides.
# (The lists grow as tests use more tools: ffmpeg, mkvtoolnix, coturn,
# chromium, firefox-esr with pulseaudio as its audio output.)
declare -A APT_COMMANDS=(
	[ffmpeg]=ffmpeg
	[ffprobe]=ffmpeg
	[mkvmerge]=mkvtoolnix
	[mkvinfo]=mkvtoolnix
	[turnutils_uclient]=coturn
	[chromium]=chromium
	[firefox-esr]=firefox-esr
	[pulseaudio]=pulseaudio
	[setpriv]=util-linux
	[node]=nodejs
	[npm]=npm
	[unshare]=util-linux
	[ip]=iproute2
	[openssl]=openssl
	[systemd-analyze]=systemd
	[redis-server]=redis-server
)

need_go() {
	if ! command -v go >/dev/null 2>&1; then
		echo "install-deps: Go is not installed; get Go 1.26 or newer from https://go.dev/dl/" >&2
		exit 1
	fi
}

apt_install() {
	local missing=()
	for cmd in "${!APT_COMMANDS[@]}"; do
		command -v "$cmd" >/dev/null 2>&1 || missing+=("${APT_COMMANDS[$cmd]}")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	local sudo=""
	[ "$(id -u)" -ne 0 ] && sudo="sudo"
	# Each package once, in a stable order.
	mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
	echo "install-deps: installing ${missing[*]}"
	# apt prints a line per package unpacked: keep it for a failure only.
	local log
	log=$(mktemp)
	if ! { $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"; } >"$log" 2>&1; then
		cat "$log" >&2
		rm -f "$log"
		echo "install-deps: apt-get failed" >&2
		exit 1
	fi
	rm -f "$log"
	for pkg in "${missing[@]}"; do
		case $pkg in
		coturn | redis-server) keep_daemon_off "$sudo" "$pkg" ;;
		esac
	done
}

# coturn is installed for its test client, turnutils_uclient, only, and
# redis-server for the cluster tests, which start their own. On a
# machine run by systemd each package enables and starts its daemon
# (coturn's TURNSERVER_ENABLED in /etc/default/coturn is read only by the
# SysV init script), which would hold its port (3478, 6379): stop it and
# keep it off. Only called right after this script installed the package,
# so an operator's own daemon is left alone.
keep_daemon_off() {
	local sudo=$1 unit=$2
	if [ -d /run/systemd/system ] && systemctl list-unit-files "$unit.service" >/dev/null 2>&1; then
		echo "install-deps: stopping and disabling the $unit daemon (the tests start their own)"
		$sudo systemctl disable --now "$unit.service"
	fi
}

# The browser tests' npm packages, exactly as locked: playwright-core
# drives the Debian chromium above, puppeteer-core the Debian firefox-esr
# (over WebDriver BiDi); neither downloads a browser.
npm_install() {
	local dir=web/e2e
	if [ -f "$dir/node_modules/.package-lock.json" ] && cmp -s "$dir/package-lock.json" "$dir/node_modules/.lock-installed"; then
		return 0
	fi
	echo "install-deps: npm ci in $dir"
	(cd "$dir" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 PUPPETEER_SKIP_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error)
	cp "$dir/package-lock.json" "$dir/node_modules/.lock-installed"
}

# Go programs the tests run, built from their modules into bin/tools
# (git-ignored), where the tests look for them besides PATH: versitygw, a
# real S3-compatible server (its POSIX backend) for package objstore's
# tests (internal/s3test). A binary of the wanted module version is kept;
# go version -m reads the version built in, without running it.
declare -A GO_TOOLS=(
	[versitygw]=github.com/versity/versitygw/cmd/versitygw@v1.8.0
)

go_tools_install() {
	local bin=$PWD/bin/tools name pkg path version
	for name in "${!GO_TOOLS[@]}"; do
		pkg=${GO_TOOLS[$name]}
		version=${pkg##*@}
		path=${pkg%@*}
		if [ -x "$bin/$name" ] && go version -m "$bin/$name" 2>/dev/null | grep -qE "^[[:space:]]+path[[:space:]]+$path\$" &&
			go version -m "$bin/$name" | grep -qE "^[[:space:]]+mod[[:space:]].*[[:space:]]$version([[:space:]]|\$)"; then
			continue
		fi
		echo "install-deps: go install $pkg into bin/tools"
		GOBIN=$bin go install "$pkg"
	done
}

cd "$(dirname "$0")/.."
need_go
apt_install
npm_install
go_tools_install
echo "install-deps: ok"
