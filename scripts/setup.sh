#!/usr/bin/env bash
# One idempotent set-up step: a project-local venv (.venv) with PyPI torch==2.13.0 (the
# libtorch that tch 0.26 needs) and the Python test references, plus `.venv/libtorch`, the link
# torch-sys builds against (see .cargo/config.toml). A second run checks versions and returns.
set -euo pipefail
cd "$(dirname "$0")/.."

TORCH_VERSION=2.13.0
VENV=.venv
start=$(date +%s)

# shellcheck source=scripts/torch-venv.sh
. scripts/torch-venv.sh
torch_venv "$VENV" "$TORCH_VERSION" setup
if ! "$VENV/bin/python" -c 'import numpy, safetensors' 2>/dev/null; then
  echo "setup: installing Python test references (numpy, safetensors)"
  "$VENV/bin/python" -m pip install -q -r scripts/requirements.txt
fi
site=$("$VENV/bin/python" -c 'import os, torch; print(os.path.dirname(torch.__file__))')
if [ "$(readlink "$VENV/libtorch" 2>/dev/null || true)" != "$site" ]; then
  ln -sfn "$site" "$VENV/libtorch"
fi
echo "setup: ok (torch $TORCH_VERSION at $site; $(( $(date +%s) - start ))s)"
