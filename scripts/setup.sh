#!/usr/bin/env bash
# Prepare a Debian 12 machine for hauld: packages, CRIU 4.2.1 with libcriu,
# and the kernel settings post-copy needs. Idempotent: a second run only checks.
#
#   scripts/setup.sh            install what is missing
#   scripts/setup.sh --check    exit 1 when something is missing, change nothing
set -euo pipefail

CRIU_VERSION=4.2.1
PREFIX=/usr/local
HERE=$(cd "$(dirname "$0")" && pwd)
# Fixes of ours to CRIU, applied before it is built (each says why in its header);
# the stamp names the version and the patches an installed CRIU was built with.
PATCHES=("$HERE"/criu-patches/*.patch)
STAMP=$PREFIX/share/hauld/criu-build
want_stamp() {
	printf '%s %s\n' "$CRIU_VERSION" "$(cat "${PATCHES[@]}" 2>/dev/null | sha256sum | cut -d' ' -f1)"
}
CACHE=${HAULD_CACHE:-/var/cache/hauld}
check_only=0
[ "${1:-}" = "--check" ] && check_only=1

say() { printf 'setup: %s\n' "$*" >&2; }

PKGS=(build-essential pkg-config git patch
      libmicrohttpd-dev libjansson-dev libsqlite3-dev sqlite3 check libssl-dev uuid-dev
      libcurl4-openssl-dev
      # the peer protocol's compression (src/zframe.c)
      libzstd-dev
      # the fuzzers (make fuzz): clang and its libFuzzer and sanitizer runtimes
      clang libclang-rt-14-dev
      iproute2 iptables curl jq procps util-linux valgrind wrk
      # the benchmarks' CLI pipelines copy their files across the link with nc
      netcat-openbsd
      # programs the integration tests migrate
      redis-server redis-tools python3
      # the tests' Prometheus text parser
      python3-prometheus-client
      # container engines (the tests start their own), and the test image's binaries
      docker.io podman runc busybox-static
      # CRIU's build and run-time dependencies
      libprotobuf-dev libprotobuf-c-dev protobuf-c-compiler protobuf-compiler
      python3-protobuf libnl-3-dev libcap-dev libnet1-dev libbsd-dev
      libgnutls28-dev libnftables-dev xz-utils)

missing=()
for p in "${PKGS[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	if [ $check_only = 1 ]; then say "missing packages: ${missing[*]}"; exit 1; fi
	say "installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The OpenAPI check (tests/openapi, test_28) runs on Node.js: Debian's nodejs and npm
# when the machine has no node or npm, and never over a node installed otherwise
# (Debian's npm would replace it).
node_missing=()
command -v node >/dev/null 2>&1 || node_missing+=(nodejs)
command -v npm >/dev/null 2>&1 || node_missing+=(npm)
if [ ${#node_missing[@]} -gt 0 ]; then
	if [ $check_only = 1 ]; then say "missing: ${node_missing[*]}"; exit 1; fi
	say "installing ${node_missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${node_missing[@]}" >/dev/null
fi
# Each Node.js package set is that of its lock file: the OpenAPI check (tests/openapi,
# test_28), the dashboard's chart library (www/vendor, served by hauld and installed
# by make install) and the browser tests' driver (tests/browser, test_39).
for dir in tests/openapi www/vendor tests/browser; do
	d=$(cd "$HERE/../$dir" && pwd)
	if [ ! -d "$d/node_modules" ] || [ "$d/package-lock.json" -nt "$d/node_modules" ]; then
		if [ $check_only = 1 ]; then say "the packages of $dir are missing or older than its package-lock.json"; exit 1; fi
		say "installing the packages of $dir (npm ci)"
		(cd "$d" && npm ci --no-audit --no-fund --loglevel=error >/dev/null) ||
			{ say "npm ci in $d failed"; exit 1; }
		touch "$d/node_modules"
	fi
done
# The browser tests drive Debian's Chromium (playwright-core brings no browser).
if ! command -v chromium >/dev/null 2>&1; then
	if [ $check_only = 1 ]; then say "missing: chromium"; exit 1; fi
	say "installing chromium"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends chromium >/dev/null
fi

criu_ok() {
	local bin=$PREFIX/sbin/criu
	[ -x "$bin" ] || bin=$(command -v criu 2>/dev/null) || return 1
	# The exact version: 4.1.1 cannot dump a TCP or UDP socket on kernels from 6.16
	# (it asks every socket for SO_PASSCRED), so an older 4.x is upgraded too.
	"$bin" --version 2>/dev/null | grep -qx "Version: $CRIU_VERSION" || return 1
	"$bin" check >/dev/null 2>&1 || return 1
	[ "$(cat "$STAMP" 2>/dev/null)" = "$(want_stamp)" ] || return 1
	PKG_CONFIG_PATH=$PREFIX/lib/pkgconfig:$PREFIX/lib/x86_64-linux-gnu/pkgconfig:${PKG_CONFIG_PATH:-} \
		pkg-config --exact-version="$CRIU_VERSION" criu 2>/dev/null || return 1
}

fetch_criu_source() {
	# Debian unstable ships CRIU 4.2.1. Its source comes through apt from a temporary
	# deb-src entry derived from this machine's own sources, so no registry host is
	# named here.
	local src=/etc/apt/sources.list.d/debian.sources
	local tmp=/etc/apt/sources.list.d/hauld-criu-src.sources
	[ -f "$src" ] || { say "no $src to derive a deb-src entry from"; return 1; }
	awk 'BEGIN{RS="";ORS="\n\n"} /Suites:[^\n]*bookworm([ \n]|$)/ && !/security/ {
		gsub(/Types:[^\n]*/, "Types: deb-src"); gsub(/Suites:[^\n]*/, "Suites: sid"); print; exit }' \
		"$src" > "$tmp"
	[ -s "$tmp" ] || { rm -f "$tmp"; say "could not derive a deb-src entry"; return 1; }
	apt-get update -qq >/dev/null 2>&1 || true
	# The .dsc may be refused while the .orig.tar.xz arrives; apt still checks the
	# tarball's hash against the signed index, so only the tarball is required.
	mkdir -p "$CACHE" && ( cd "$CACHE" && apt-get source --download-only criu/sid \
		>/dev/null 2>&1 || true )
	rm -f "$tmp"
	apt-get update -qq >/dev/null 2>&1 || true
	ls "$CACHE"/criu_"$CRIU_VERSION".orig.tar.* >/dev/null 2>&1
}

if ! criu_ok; then
	if [ $check_only = 1 ]; then say "CRIU $CRIU_VERSION with libcriu is not installed or fails 'criu check'"; exit 1; fi
	if ! ls "$CACHE"/criu_"$CRIU_VERSION".orig.tar.* >/dev/null 2>&1; then
		say "fetching the CRIU $CRIU_VERSION source package"
		fetch_criu_source || { say "could not fetch CRIU $CRIU_VERSION source"; exit 1; }
	fi
	say "building CRIU $CRIU_VERSION (about a minute)"
	build=$CACHE/build
	rm -rf "$build" && mkdir -p "$build"
	tar -C "$build" -xf "$CACHE"/criu_"$CRIU_VERSION".orig.tar.*
	dir=$(find "$build" -mindepth 1 -maxdepth 1 -type d | head -n 1)
	for p in "${PATCHES[@]}"; do
		[ -f "$p" ] || continue
		patch -d "$dir" -p1 --forward --quiet <"$p" ||
			{ say "cannot apply $(basename "$p") to CRIU $CRIU_VERSION"; exit 1; }
	done
	make -C "$dir" -j"$(nproc)" criu lib >"$build/build.log" 2>&1 ||
		{ tail -n 30 "$build/build.log" >&2; exit 1; }
	make -C "$dir" install-criu install-lib PREFIX=$PREFIX SKIP_PIP_INSTALL=1 \
		>>"$build/build.log" 2>&1 || { tail -n 30 "$build/build.log" >&2; exit 1; }
	ldconfig
	mkdir -p "$(dirname "$STAMP")" && want_stamp >"$STAMP"
	criu_ok || { say "CRIU $CRIU_VERSION installed but 'criu check' fails"; $PREFIX/sbin/criu check >&2 || true; exit 1; }
fi

# The engines checkpoint with the CRIU above (/usr/local/sbin comes first on their
# PATH). Docker restores checkpoints only in experimental mode, and Debian's crun,
# podman's default runtime, has no CRIU: a machine without its own settings gets
# both. Existing settings are left alone.
if [ $check_only = 0 ]; then
	if [ ! -e /etc/docker/daemon.json ]; then
		mkdir -p /etc/docker
		printf '{\n  "experimental": true\n}\n' >/etc/docker/daemon.json
		say "wrote /etc/docker/daemon.json (experimental: Docker checkpoints only so)"
	fi
	if [ ! -e /etc/containers/containers.conf.d/50-hauld.conf ] &&
		! grep -qs '^[[:space:]]*runtime[[:space:]]*=' /etc/containers/containers.conf; then
		mkdir -p /etc/containers/containers.conf.d
		printf '# hauld: podman checkpoints through runc (crun here has no CRIU)\n[engine]\nruntime = "runc"\n' \
			>/etc/containers/containers.conf.d/50-hauld.conf
		say "wrote /etc/containers/containers.conf.d/50-hauld.conf (podman runs runc)"
	fi
fi

# Post-copy: CRIU asks for a 4 MiB pipe, and without CAP_SYS_RESOURCE the kernel
# refuses pipes above fs.pipe-max-size (1 MiB by default).
if [ "$(cat /proc/sys/fs/pipe-max-size)" -lt 4194304 ] && [ $check_only = 0 ]; then
	sysctl -q -w fs.pipe-max-size=4194304 || say "could not raise fs.pipe-max-size (lazy mode will be refused)"
fi
say "ready: $($PREFIX/sbin/criu --version | head -n 1), $(uname -r)"
