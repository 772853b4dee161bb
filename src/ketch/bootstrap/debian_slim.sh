#!/bin/sh
# mmdebstrap hooks that make a minbase chroot look like Docker's debian:*-slim images.
# Usage (by ketch.bootstrap.debian): sh debian_slim.sh extract|customize CHROOT
set -eu
phase="$1"
root="$2"

case "$phase" in
extract)
	# Services must not start in a build step (nor while bootstrapping): invoke-rc.d
	# asks this script and obeys "101 = action forbidden". mmdebstrap's own copy is
	# skipped because it deletes it at the end; Docker's images keep it.
	cat > "$root/usr/sbin/policy-rc.d" <<'END'
#!/bin/sh

# For most Docker users, "apt-get install" only happens during "docker build",
# where starting services doesn't work and often fails in humorous ways. This
# prevents those failures by stopping the services from attempting to start.

exit 101
END
	chmod 0755 "$root/usr/sbin/policy-rc.d"
	;;
customize)
	# Docker's slim images keep their dpkg path filters under this name (Dockerfiles
	# delete it to get man pages back); mmdebstrap wrote ours as 99mmdebstrap.
	mv "$root/etc/dpkg/dpkg.cfg.d/99mmdebstrap" "$root/etc/dpkg/dpkg.cfg.d/docker"

	# Package installs happen in throw-away build steps: skip dpkg's fsyncs.
	echo force-unsafe-io > "$root/etc/dpkg/dpkg.cfg.d/docker-apt-speedup"

	# The apt configuration below must not be active while mmdebstrap still runs apt
	# from the host: its Post-Invoke commands would hit the host's /var/cache/apt. So
	# mmdebstrap's apt cleanup is skipped and done here, as Docker's images have it.
	rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*

	conf="$root/etc/apt/apt.conf.d"
	echo 'Apt::AutoRemove::SuggestsImportant "false";' > "$conf/docker-autoremove-suggests"
	clean='"rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true";'
	cat > "$conf/docker-clean" <<END
# Each build step is a layer: apt's caches would only bloat it.
DPkg::Post-Invoke { $clean };
APT::Update::Post-Invoke { $clean };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
END
	echo 'Acquire::GzipIndexes "true";' > "$conf/docker-gzip-indexes"
	echo 'Acquire::Languages "none";' > "$conf/docker-no-languages"
	chmod 0644 "$root/etc/dpkg/dpkg.cfg.d/docker" "$root/etc/dpkg/dpkg.cfg.d/docker-apt-speedup" \
		"$conf/docker-autoremove-suggests" "$conf/docker-clean" \
		"$conf/docker-gzip-indexes" "$conf/docker-no-languages"

	# mmdebstrap copies these from the host; the engine provides them per container.
	rm -f "$root/etc/resolv.conf" "$root/etc/hostname"
	;;
*)
	echo "debian_slim.sh: unknown phase $phase" >&2
	exit 2
	;;
esac
