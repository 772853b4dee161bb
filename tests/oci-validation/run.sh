#!/usr/bin/env bash
# Runs the OCI runtime-tools validation suite (validation/*, TAP programs that
# drive a runc-compatible CLI given as RUNTIME) against one runtime, offline.
#
#   tests/oci-validation/run.sh RUNTIME_PATH [TEST...]
#
# The suite's source comes from Debian's runtime-tools *source* package (the
# -dev binary package lacks validation/, cmd/runtimetest and the rootfs
# tarball); its Go imports from Debian -dev packages, built in GOPATH mode.
# Everything is cached under $OCI_VALIDATION_CACHE; nothing third-party lives
# in the repo except our own stand-in for the tiny mndrix/tap-go library,
# which Debian does not package.
#
# Environment:
#   OCI_VALIDATION_CACHE    cache dir (default /var/cache/ketch/oci-validation)
#   OCI_VALIDATION_TIMEOUT  seconds per program (default 120)
#   OCI_VALIDATION_LOGDIR   where failing programs' TAP goes
#                           (default $CACHE/logs/<runtime name>)
#   OCI_VALIDATION_HIDE_UNIFIED=1  run each program in a private mount
#                           namespace without the hybrid cgroup2 mount
#                           /sys/fs/cgroup/unified (crun 1.8 refuses hybrid
#                           hosts whose cgroup2 has a controller); the host's
#                           mounts are untouched
#   OCI_RUNTIME_TOOLS_ORIG  path to a runtime-tools orig tarball to use instead
#                           of fetching the source package
# Exit status: 0 all passed, 1 some failed, 2 setup error.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CACHE=${OCI_VALIDATION_CACHE:-/var/cache/ketch/oci-validation}
TIMEOUT=${OCI_VALIDATION_TIMEOUT:-120}
# Debian source package and the version pinned for reproducible counts. It is
# the trixie version: bookworm's orig tarball is not served by our mirror.
SRC_PKG=golang-github-opencontainers-runtime-tools
SRC_VER=0.9.0.109.ge931285-1
SRC_SUITE=trixie
GO_PKGS=(golang-go golang-github-opencontainers-runtime-tools-dev
	golang-github-google-uuid-dev golang-github-blang-semver-dev
	golang-github-mrunalp-fileutils-dev golang-github-hashicorp-go-multierror-dev
	golang-gocapability-dev golang-github-urfave-cli-dev golang-github-sirupsen-logrus-dev
	golang-github-opencontainers-specs-dev golang-github-opencontainers-selinux-dev
	golang-github-xeipuuv-gojsonschema-dev golang-golang-x-sys-dev
	tar xz-utils coreutils)

die() { echo "oci-validation: $*" >&2; exit 2; }
note() { echo "oci-validation: $*" >&2; }

[ $# -ge 1 ] || die "usage: $0 RUNTIME_PATH [TEST...]"
RUNTIME=$1; shift
case $RUNTIME in */*) ;; *) RUNTIME=$(command -v "$RUNTIME" || echo "$RUNTIME") ;; esac
if [ ! -f "$RUNTIME" ] || [ ! -x "$RUNTIME" ]; then die "runtime not executable: $RUNTIME"; fi
RUNTIME=$(cd "$(dirname "$RUNTIME")" && pwd)/$(basename "$RUNTIME")
[ "$(id -u)" = 0 ] || die "must run as root (the suite creates containers)"

ensure_packages() {
	local missing=() p
	for p in "${GO_PKGS[@]}"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	note "installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get install -y -q "${missing[@]}" >/dev/null 2>&1 || {
		apt-get update -q >/dev/null && apt-get install -y -q "${missing[@]}" >/dev/null
	} || die "apt-get install failed: ${missing[*]}"
}

# A private apt setup (own lists dir) with deb-src entries derived from the
# system's Debian entries, so the system's apt config is left untouched.
APT_DIR=$CACHE/apt
APT_OPTS=(-o "Dir::Etc::SourceList=$APT_DIR/sources.list" -o "Dir::Etc::SourceParts=$APT_DIR/none"
	-o "Dir::State::Lists=$APT_DIR/lists" -o "Dir::Cache::pkgcache=" -o "Dir::Cache::srcpkgcache=")

write_src_list() {
	local uri=
	mkdir -p "$APT_DIR/lists/partial" "$APT_DIR/none"
	# deb822 files first, then one-line sources.list; first Debian archive URI wins.
	uri=$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null |
		awk '/^URIs:/ {for (i = 2; i <= NF; i++) if ($i ~ /\/debian\/?$/) {print $i; exit}}')
	[ -n "$uri" ] || uri=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
		awk '$1 == "deb" {for (i = 2; i <= NF; i++) if ($i ~ /\/debian\/?$/) {print $i; exit}}')
	[ -n "$uri" ] || die "no Debian archive found in the apt sources"
	echo "deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $uri $SRC_SUITE main" \
		>"$APT_DIR/sources.list"
}

fetch_source() {
	local dl=$CACHE/src orig want got
	mkdir -p "$dl"
	orig=$(ls "$dl"/"${SRC_PKG}"_*.orig.tar.* 2>/dev/null | head -1 || true)
	if [ -n "${OCI_RUNTIME_TOOLS_ORIG:-}" ]; then
		orig=$OCI_RUNTIME_TOOLS_ORIG
	elif [ -z "$orig" ]; then
		write_src_list
		note "fetching Debian source package $SRC_PKG $SRC_VER ($SRC_SUITE)"
		apt-get "${APT_OPTS[@]}" update -q >"$dl/apt-update.log" 2>&1 || die "apt-get update (deb-src) failed, see $dl/apt-update.log"
		# The .dsc may be missing on the mirror (apt then exits 1); the orig
		# tarball is all we need and apt has checked its hash.
		(cd "$dl" && apt-get "${APT_OPTS[@]}" source --download-only "$SRC_PKG=$SRC_VER" >"$dl/apt-source.log" 2>&1) || true
		orig=$(ls "$dl"/"${SRC_PKG}"_*.orig.tar.* 2>/dev/null | head -1 || true)
		[ -n "$orig" ] || die "could not fetch the orig tarball of $SRC_PKG, see $dl/apt-source.log"
		want=$(apt-cache "${APT_OPTS[@]}" showsrc "$SRC_PKG" | awk -v v="$SRC_VER" -v f="$(basename "$orig")" '
			/^Version:/ {ok = ($2 == v)} /^Checksums-Sha256:/ {s = 1; next} /^[^ ]/ {s = 0}
			ok && s && $3 == f {print $1; exit}')
		got=$(sha256sum "$orig" | cut -d' ' -f1)
		if [ -z "$want" ] || [ "$want" != "$got" ]; then rm -f "$orig"; die "sha256 mismatch for $orig"; fi
	fi
	echo "$orig"
}

GOPATH_DIR=$CACHE/gopath
RT_DIR=$GOPATH_DIR/src/github.com/opencontainers/runtime-tools
BIN=$CACHE/bin

build() {
	local orig stamp want
	orig=$(fetch_source)
	want="$(basename "$orig") $(sha256sum "$HERE/tap-go/tap.go" | cut -c1-16) $(go version 2>/dev/null)"
	stamp=$BIN/.stamp
	if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then return 0; fi
	note "building runtimetest and the validation programs (one-off)"
	rm -rf "$RT_DIR" "$BIN"
	mkdir -p "$RT_DIR" "$GOPATH_DIR/src/github.com/mndrix/tap-go" "$BIN/tests"
	tar -xf "$orig" -C "$RT_DIR" --strip-components=1
	cp "$HERE/tap-go/tap.go" "$GOPATH_DIR/src/github.com/mndrix/tap-go/tap.go"
	# GOPATH mode: our extracted tree shadows Debian's older runtime-tools copy in
	# /usr/share/gocode; every other import comes from Debian's -dev packages.
	export GO111MODULE=off GOPATH=$GOPATH_DIR:/usr/share/gocode GOFLAGS='' GOCACHE=$CACHE/gocache GOPROXY=off
	(cd "$RT_DIR" &&
		CGO_ENABLED=0 go build -tags 'netgo osusergo' -o "$BIN/runtimetest" ./cmd/runtimetest &&
		go build -o "$BIN/tests/" ./validation/...) >"$CACHE/build.log" 2>&1 ||
		die "build failed, see $CACHE/build.log"
	local arch
	arch=$(go env GOARCH)
	if [ -f "$RT_DIR/rootfs-$arch.tar.gz" ]; then
		cp "$RT_DIR/rootfs-$arch.tar.gz" "$BIN/"
	else
		make_busybox_rootfs "$BIN/rootfs-$arch.tar.gz"
	fi
	echo "$want" >"$stamp"
}

# Fallback for architectures the source package ships no rootfs for.
make_busybox_rootfs() {
	local out=$1 root
	dpkg-query -W -f='${Status}' busybox-static 2>/dev/null | grep -q 'ok installed' ||
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q busybox-static >/dev/null
	root=$(mktemp -d)
	mkdir -p "$root"/{bin,dev,etc,proc,sys,tmp,root}
	cp /bin/busybox "$root/bin/busybox"
	local a
	for a in $("$root/bin/busybox" --list); do ln -sf busybox "$root/bin/$a"; done
	printf 'root:x:0:0:root:/root:/bin/sh\n' >"$root/etc/passwd"
	printf 'root:x:0:\n' >"$root/etc/group"
	tar -czf "$out" -C "$root" .
	rm -rf "$root"
}

# Container ids the runtime lists (empty if it has no usable 'list').
list_ids() { "$RUNTIME" list -q 2>/dev/null | sort || true; }

# Mounts left under our bundle dir: programs that share the host's mount
# namespace (linux_ns_itype) leave the rootfs mounts in it.
umount_leftovers() {
	local m
	for m in $(awk -v p="$RUN_TMP/" 'index($5, p) == 1 {print $5}' /proc/self/mountinfo | sort -r); do
		umount -l "$m" 2>/dev/null || true
	done
}

# Cgroups the suite asks for (cgroups.AbsCgroupPath /cgrouptest and the
# relative testdir/cgrouptest/container); runtimes leave the parents behind.
cgroup_candidates() {
	local m p
	for m in /sys/fs/cgroup/*/; do
		echo "${m}cgrouptest"
		echo "${m}testdir"
		for p in $(cut -d: -f3 /proc/self/cgroup | sort -u); do
			[ "$p" = / ] || echo "${m%/}$p/testdir"
		done
	done | sort -u
}
existing_cgroups() { local d; for d in $(cgroup_candidates); do [ -d "$d" ] && echo "$d"; done; true; }

ensure_packages
build

if [ $# -eq 0 ]; then
	mapfile -t TESTS < <(ls "$BIN/tests" | sort)
else
	TESTS=("$@")
fi
NAME=$(basename "$RUNTIME")
LOGDIR=${OCI_VALIDATION_LOGDIR:-$CACHE/logs/$NAME}
mkdir -p "$LOGDIR"
rm -f "$LOGDIR"/*.tap
# Bundles go under /tmp in a world-readable dir, as upstream's default TMPDIR:
# a 0700 parent breaks bind-mounting the rootfs from inside a user namespace.
RUN_TMP=$(mktemp -d /tmp/ketch-oci-validation.XXXXXX)
chmod 755 "$RUN_TMP"
CGROUPS_BEFORE=$(existing_cgroups)
cleanup() {
	umount_leftovers
	rm -rf --one-file-system "$RUN_TMP" 2>/dev/null || true
	# rmdir only: a cgroup that still has processes or was there before stays.
	local d
	for d in $(comm -13 <(echo "$CGROUPS_BEFORE") <(existing_cgroups)); do
		find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null || true
	done
}
trap cleanup EXIT

WRAP=()
if [ "${OCI_VALIDATION_HIDE_UNIFIED:-0}" = 1 ]; then
	WRAP=(unshare -m --propagation private sh -c 'umount -l /sys/fs/cgroup/unified 2>/dev/null; exec "$@"' sh)
fi

passed=0 failed=0 n=0
echo "# runtime-tools validation ($SRC_VER) with $RUNTIME, ${#TESTS[@]} programs${WRAP:+, cgroup2 mount hidden}"
for t in "${TESTS[@]}"; do
	n=$((n + 1))
	t=${t%.t}
	out=$LOGDIR/.current.tap
	before=$(list_ids)
	rc=0
	if [ -x "$BIN/tests/$t" ]; then
		# cwd must hold runtimetest and rootfs-<arch>.tar.gz (util.PrepareBundle).
		(cd "$BIN" && RUNTIME=$RUNTIME TMPDIR=$RUN_TMP \
			timeout -k 10 "$TIMEOUT" "${WRAP[@]}" "$BIN/tests/$t" </dev/null >"$out" 2>&1) || rc=$?
	else
		echo "no such validation program: $t" >"$out"; rc=127
	fi
	# Remove only containers this program left behind (timeouts, failed deletes).
	for id in $(comm -13 <(echo "$before") <(list_ids)); do
		"$RUNTIME" kill "$id" KILL >/dev/null 2>&1 || true
		"$RUNTIME" delete -f "$id" >/dev/null 2>&1 || "$RUNTIME" delete "$id" >/dev/null 2>&1 || true
	done
	umount_leftovers
	# Judged like prove: exit 0, a plan, as many results as planned, none "not ok"
	# (TODO results do not count as failures).
	plan=$(grep -m1 -oE '^1\.\.[0-9]+' "$out" | cut -d. -f3 || true)
	results=$(grep -cE '^(not )?ok [0-9]+' "$out" || true)
	notok=$(grep -E '^not ok [0-9]+' "$out" | grep -cv '# TODO' || true)
	why=
	if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then why="timeout after ${TIMEOUT}s"
	elif [ $rc -ne 0 ]; then why="exit $rc"
	elif [ -z "$plan" ]; then why="no plan"
	elif [ "$notok" -gt 0 ]; then why="$notok of $results failed"
	elif [ "$results" -ne "$plan" ]; then why="$results of $plan planned results"
	fi
	if [ -z "$why" ]; then
		passed=$((passed + 1))
		echo "ok $n - $t"
	else
		failed=$((failed + 1))
		[ "$rc" -ne 0 ] && [ "$notok" -gt 0 ] && why="$why, $notok not ok"
		echo "not ok $n - $t ($why)"
		mv "$out" "$LOGDIR/$t.tap"
	fi
done
rm -f "$LOGDIR/.current.tap"
echo "1..$n"
[ $failed -eq 0 ] || echo "# TAP of failing programs: $LOGDIR"
echo "runtime-tools: $passed passed, $failed failed"
[ $failed -eq 0 ]
