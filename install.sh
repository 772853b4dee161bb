#!/usr/bin/env bash
# Install everything ketch needs on a fresh Debian bookworm machine (run as root):
# system packages, the Python package in its own virtualenv, and the base images.
set -euo pipefail
cd "$(dirname "$0")"

VENV=${KETCH_VENV:-/opt/ketch}
BASE_DIR=${KETCH_BASE_IMAGES:-/var/cache/ketch/base}

export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends \
    python3 python3-venv python3-dev python3-seccomp libseccomp2 \
    python3-nftables nftables busybox-static mmdebstrap iproute2 procps e2fsprogs tini \
    docker-registry apache2-utils python3-cryptography python3-jwt docker-compose \
    >/dev/null  # the last five: a real registry, a token server and docker-compose 1.29
                # (a client the tests run against ketchd)
# the tests start their own registries; the package's service on :5000 is not wanted
systemctl disable --now docker-registry >/dev/null 2>&1 || true

# ketch runs on Debian's python3 so that it can use libseccomp's own binding
# (python3-seccomp). The interpreter is copied into the venv and made immutable:
# a container that re-executes it through /proc/self/exe cannot overwrite it
# (CVE-2019-5736); the runtime checks this and otherwise runs from a sealed copy.
if [ -x "$VENV/bin/python3" ] && ! "$VENV/bin/python3" -c 'import seccomp' 2>/dev/null; then
    chattr -i "$VENV"/bin/python* 2>/dev/null || true
    rm -rf "$VENV"
fi
if [ ! -x "$VENV/bin/python3" ]; then
    /usr/bin/python3 -m venv --copies --system-site-packages "$VENV"
fi
"$VENV/bin/python3" -m pip install -q --disable-pip-version-check -e '.[dev]'
# ketch-runtime starts every container and `ketch` is typed all day: their launchers
# skip `site` (a few ms) and pip's wrapper's `import re`, and put on sys.path only
# what they need (ketch itself, and last libseccomp's binding). ketchd keeps pip's.
"$VENV/bin/python3" - "$VENV/bin" <<'PY'
import os, sys
import ketch, seccomp, zstandard
package = os.path.dirname(os.path.dirname(ketch.__file__))
binding = os.path.dirname(seccomp.__file__)  # last: the standard library comes first
packages = os.path.dirname(os.path.dirname(zstandard.__file__))  # the venv's, for `cp`
for name, module, extra in (("ketch-runtime", "ketch.runtime.cli", []),
                            ("ketch", "ketch.cli.main", [packages])):
    path = os.path.join(sys.argv[1], name)
    with open(path, "w") as f:
        f.write(f"#!{sys.executable} -IS\n"
                "import sys\n"
                f"sys.path.insert(0, {package!r})\n"
                f"sys.path.append({binding!r})\n"
                + "".join(f"sys.path.append({p!r})\n" for p in extra) +
                f"from {module} import main\n"
                "main()\n")
    os.chmod(path, 0o755)
PY
"$VENV/bin/python3" -m compileall -q "$(dirname "$("$VENV/bin/python3" -c 'import ketch; print(ketch.__file__)')")" >/dev/null
for exe in "$VENV"/bin/python*; do
    [ -L "$exe" ] || chattr +i "$exe" 2>/dev/null || echo "install.sh: cannot make $exe immutable; ketch-runtime will run from a sealed copy" >&2
done
for cmd in ketch ketchd ketch-runtime ketch-compose; do
    ln -sf "$VENV/bin/$cmd" "/usr/local/bin/$cmd"
done

# Base images, made offline from Debian's packages (no registry needed).
DATA_ROOT=${KETCH_DATA_ROOT:-/var/lib/ketch}
"$VENV/bin/python3" -m ketch.bootstrap --out "$BASE_DIR" all --import-into "$DATA_ROOT"
echo "ketch installed: $(command -v ketch-runtime)"
