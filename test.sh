#!/usr/bin/env bash
# Run every check: lint, types, unit tests, then integration tests (root, real kernel).
set -euo pipefail
cd "$(dirname "$0")"
VENV=${KETCH_VENV:-/opt/ketch}
export PATH="$VENV/bin:$PATH"

"$VENV/bin/ruff" check src tests bench
"$VENV/bin/mypy"
"$VENV/bin/python3" -m compileall -q src/ketch >/dev/null
"$VENV/bin/pytest" -q -m "not integration" tests "$@"
if [ "$(id -u)" = 0 ]; then
    "$VENV/bin/pytest" -q -m integration tests "$@"
else
    echo "test.sh: not root: integration tests skipped" >&2
fi
