#!/usr/bin/env bash
# Create (or reuse) the Python venv that the provider validators in
# tests/validators run in, and print its python's path on the last line.
#
#   tests/run-peers-setup.sh            # venv at ${BRIDGE_VENV:-$HOME/.cache/bridge-venv}
#   BRIDGE_PYTHON=$(tests/run-peers-setup.sh | tail -n1) cargo test --test validators
#
# Idempotent: when the venv exists and was built from the same
# requirements.txt (and this script, and the same base python), it only
# prints the path. Otherwise it rebuilds the venv from scratch.
#
# Install: requirements.txt is the complete pinned set, installed with
# --no-deps by uv (pinned, from PyPI; ~10 s for ~100 packages) or, if uv
# cannot be had, by pip (~1.5 min). Needs python3 with the venv module
# (Debian: python3-venv); nothing system-level is installed.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
req="$here/validators/requirements.txt"
req_moto="$here/validators/requirements-moto.txt"   # the AWS driver's peer (moto server)
venv="${BRIDGE_VENV:-$HOME/.cache/bridge-venv}"
base_python="${BRIDGE_BASE_PYTHON:-python3}"
uv_version="0.13.9"

log() { echo "run-peers-setup: $*" >&2; }

command -v "$base_python" >/dev/null || { log "no $base_python on PATH"; exit 1; }
base_version="$("$base_python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
if [ "$base_version" != "3.11" ]; then
    log "warning: requirements.txt was resolved for python 3.11, $base_python is $base_version"
fi

hash="$( { cat "$req" "$req_moto" "${BASH_SOURCE[0]}"; "$base_python" -c 'import sys; print(sys.version)'; } \
    | sha256sum | cut -d' ' -f1)"
stamp="$venv/.bridge-requirements-hash"

if [ -x "$venv/bin/python" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$hash" ]; then
    echo "$venv/bin/python"
    exit 0
fi

log "building $venv (python $base_version)"
start=$(date +%s)
rm -rf "$venv"
mkdir -p "$(dirname "$venv")"
"$base_python" -m venv "$venv"
export PIP_DISABLE_PIP_VERSION_CHECK=1
if "$venv/bin/python" -m pip install --quiet "uv==$uv_version" >&2 && [ -x "$venv/bin/uv" ]; then
    "$venv/bin/uv" pip install --quiet --python "$venv/bin/python" --no-deps \
        --compile-bytecode -r "$req" -r "$req_moto" >&2
else
    log "uv unavailable, installing with pip (slower)"
    "$venv/bin/python" -m pip install --quiet --no-deps -r "$req" -r "$req_moto" >&2
fi

# Smoke test: every validator imports and its data files are where expected.
"$venv/bin/python" -W ignore - "$here/validators" >&2 <<'EOF'
import os, sys
sys.path.insert(0, sys.argv[1])
import ecs_validate, gce_validate
ecs_validate.model()
assert os.path.exists(gce_validate.discovery_path()), gce_validate.discovery_path()
import heat.engine.stack  # noqa: F401  the Heat engine imports
import moto.server  # noqa: F401  the AWS driver's peer
EOF

echo "$hash" > "$stamp"
log "done in $(( $(date +%s) - start ))s"
echo "$venv/bin/python"
