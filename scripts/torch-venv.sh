# Sourced by scripts/setup.sh and scripts/gpu-build.sh: one idempotent step that makes sure
# venv $1 exists and holds PyPI torch==$2 (about 4.7 GB the first time; seconds when it does).
# Uses $PYTHON (default python3) to create the venv; $3 names the caller in messages.
torch_venv() {
  local venv=$1 version=$2 who=$3 python=${PYTHON:-python3} have
  if ! command -v "$python" >/dev/null; then
    echo "$who: $python not found; install Python 3.10+ (e.g. apt-get install python3 python3-venv)" >&2
    return 1
  fi
  if [ ! -x "$venv/bin/python" ]; then
    echo "$who: creating $venv"
    "$python" -m venv "$venv"
  fi
  have=$("$venv/bin/python" -c 'import torch; print(torch.__version__.split("+")[0])' 2>/dev/null || true)
  if [ "$have" != "$version" ]; then
    echo "$who: installing torch==$version into $venv (about 4.7 GB, a few minutes)"
    "$venv/bin/python" -m pip install -q --upgrade pip
    "$venv/bin/python" -m pip install -q "torch==$version"
  fi
}
