#!/usr/bin/env bash
# One idempotent set-up step: a project-local venv (.venv) with PyPI torch==2.13.0 (the
# libtorch that tch 0.26 needs) and the Python test references, plus `.venv/libtorch`, the link
# torch-sys builds against (see .cargo/config.toml). A second run checks versions and returns.
set -euo pipefail
cd "$(dirname "$0")/.."

TORCH_VERSION=2.13.0
VENV=.venv
PYTHON=${PYTHON:-python3}
start=$(date +%s)

if ! command -v "$PYTHON" >/dev/null; then
  echo "setup: $PYTHON not found; install Python 3.10+ (e.g. apt-get install python3 python3-venv)" >&2
  exit 1
fi
if [ ! -x "$VENV/bin/python" ]; then
  echo "setup: creating $VENV"
  "$PYTHON" -m venv "$VENV"
fi
have=$("$VENV/bin/python" -c 'import torch; print(torch.__version__.split("+")[0])' 2>/dev/null || true)
if [ "$have" != "$TORCH_VERSION" ]; then
  echo "setup: installing torch==$TORCH_VERSION into $VENV (about 4.7 GB, a few minutes)"
  "$VENV/bin/python" -m pip install -q --upgrade pip
  "$VENV/bin/python" -m pip install -q "torch==$TORCH_VERSION"
fi
if ! "$VENV/bin/python" -c 'import numpy, safetensors' 2>/dev/null; then
  echo "setup: installing Python test references (numpy, safetensors)"
  "$VENV/bin/python" -m pip install -q -r scripts/requirements.txt
fi
site=$("$VENV/bin/python" -c 'import os, torch; print(os.path.dirname(torch.__file__))')
if [ "$(readlink "$VENV/libtorch" 2>/dev/null || true)" != "$site" ]; then
  ln -sfn "$site" "$VENV/libtorch"
fi
echo "setup: ok (torch $TORCH_VERSION at $site; $(( $(date +%s) - start ))s)"
