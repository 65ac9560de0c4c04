#!/usr/bin/env bash
# Idempotent set-up for the notebooks (after scripts/setup.sh):
#  - Jupyter (Lab, nbclient, nbconvert) and Selenium (the Lab check) from PyPI into the project venv;
#  - evcxr_jupyter (the Rust kernel) from crates.io at a pinned version, reused when present;
#  - a project kernel "vggnet-rust" registered inside the venv, whose environment finds
#    libtorch and keeps evcxr's build folders in a persistent cache outside the source tree
#    (so tch is compiled once, not once per notebook or per kernel start); each running kernel
#    takes a build folder of its own (scripts/kernel.sh), so notebooks can run side by side;
#  - the kernel warmed: evcxr compiles the crate and tch into the first build folder here, once per
#    change of the sources (a stamp records what was compiled), and the second is made a copy of
#    it, so a reader's first cell answers in seconds, in the first notebook and in the next;
#  - Debian's chromium and chromium-driver for the browser checks (when run as root and missing).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
VENV=$ROOT/.venv
EVCXR_VERSION=0.22.0
CACHE=${VGGNET_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/vggnet}
start=$(date +%s)
case "$CACHE" in
  *[[:space:]]*)
    echo "setup-notebooks: the kernel's build cache $CACHE has a space in its path; evcxr $EVCXR_VERSION" \
         "cannot load code from such a folder (dlopen fails). Set VGGNET_CACHE to a folder without spaces." >&2
    exit 1 ;;
esac

if ! "$VENV/bin/python" -c 'import jupyterlab, nbclient, nbconvert, nbformat, selenium' 2>/dev/null; then
  echo "setup-notebooks: installing Jupyter into $VENV"
  "$VENV/bin/python" -m pip install -q -r scripts/requirements-notebooks.txt
fi

EVCXR="${CARGO_HOME:-$HOME/.cargo}/bin/evcxr_jupyter"
# evcxr_jupyter has no --version: ask cargo what it installed.
if [ ! -x "$EVCXR" ] || ! cargo install --list | grep -q "^evcxr_jupyter v$EVCXR_VERSION:"; then
  echo "setup-notebooks: installing evcxr_jupyter $EVCXR_VERSION (about 17 minutes on 2 cores, once)"
  cargo install evcxr_jupyter --version "$EVCXR_VERSION" --locked
fi

mkdir -p "$CACHE/evcxr"
# evcxr loads each cell as a dylib linked to Rust's libstd-*.so (in the toolchain's sysroot)
# and, through vggnet, to libtorch: both go on the kernel's library path.
SYSROOT_LIB="$(rustc --print target-libdir)"
KDIR="$VENV/share/jupyter/kernels/vggnet-rust"
mkdir -p "$KDIR"
cat > "$KDIR/kernel.json.new" <<JSON
{
  "argv": ["/bin/bash", "$ROOT/scripts/kernel.sh", "$EVCXR", "--control_file", "{connection_file}"],
  "display_name": "Rust (vggnet)",
  "language": "rust",
  "interrupt_mode": "message",
  "env": {
    "LIBTORCH": "$VENV/libtorch",
    "LD_LIBRARY_PATH": "$VENV/libtorch/lib:$SYSROOT_LIB",
    "VGGNET_KERNEL_CACHE": "$CACHE",
    "EVCXR_CONFIG_DIR": "$CACHE/evcxr-config",
    "PATH": "${CARGO_HOME:-$HOME/.cargo}/bin:/usr/local/bin:/usr/bin:/bin"
  }
}
JSON
mv "$KDIR/kernel.json.new" "$KDIR/kernel.json"

# evcxr runs `:offline 1` at every kernel start: cargo then resolves the notebooks' `:dep`s from
# the local registry cache (filled by `cargo fetch` below) instead of asking crates.io each
# time (about 10 s per notebook). A notebook that wants a new crate runs `:offline 0` first.
mkdir -p "$CACHE/evcxr-config"
echo ':offline 1' > "$CACHE/evcxr-config/init.evcxr"

# The kernel builds in evcxr's own profile (dev, opt-level 2); cargo also reads the config file
# of a folder above its build folder, and there torch-sys's C++ wrappers get -O1, as in the
# release build (Cargo.toml): they only forward calls into libtorch.
mkdir -p "$CACHE/.cargo"
cat > "$CACHE/.cargo/config.toml.new" <<TOML
# Written by vggnet's scripts/setup-notebooks.sh: the notebook kernel's build settings.
[profile.dev.package.torch-sys]
opt-level = 1
TOML
mv "$CACHE/.cargo/config.toml.new" "$CACHE/.cargo/config.toml"

# The data the notebooks read: MNIST (01-05) and Fashion-MNIST (06). Their kernel builds vggnet
# without its `download` feature (a smaller crate graph, so a faster first cell), so set-up
# fetches what is missing, with the `vggnet` command line (built here when it is not yet).
has_idx() {
  for f in train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte; do
    [ -e "$1/$f" ] || [ -e "$1/$f.gz" ] || return 1
  done
}
MNIST_DATA=${MNIST_DIR:-$ROOT/data/mnist}
FASHION_DATA=${FASHION_MNIST_DIR:-$ROOT/data/fashion-mnist}
if ! has_idx "$MNIST_DATA" || ! has_idx "$FASHION_DATA"; then
  echo "setup-notebooks: downloading the notebooks' data sets (MNIST into $MNIST_DATA, Fashion-MNIST into $FASHION_DATA)"
  cargo build --release --bin vggnet -q
  has_idx "$MNIST_DATA" || target/release/vggnet download --dir "$MNIST_DATA"
  has_idx "$FASHION_DATA" || target/release/vggnet download --dataset fashion-mnist --dir "$FASHION_DATA"
fi

STAMP="$CACHE/evcxr/.vggnet-warm"
rm -f "$CACHE/evcxr-warm.stamp"  # where earlier versions kept it
want=$( (cat Cargo.toml Cargo.lock "$KDIR/kernel.json" "$CACHE/.cargo/config.toml"; find src assets -type f -print0 | LC_ALL=C sort -z | xargs -0 cat; \
         grep -h '":dep ' notebooks/*.ipynb; echo "$EVCXR_VERSION") | sha256sum | cut -d' ' -f1)
if [ "$(cat "$STAMP" 2>/dev/null)" != "$want" ]; then
  echo "setup-notebooks: warming the kernel (compiles the crate and tch into $CACHE/evcxr; about 5 minutes the first time on 2 cores)"
  cargo fetch --locked -q
  rm -f "$STAMP"
  VGGNET_KERNEL_SLOT=0 "$VENV/bin/python" scripts/warm_kernel.py
  echo "$want" > "$STAMP"
fi
# The second build folder: a copy of the warm one (seconds when it is current already).
VGGNET_KERNEL_CACHE=$CACHE bash scripts/kernel.sh --prepare 2

# Debian's chromium (the notebooks' browser check) and its chromedriver (the Lab check,
# scripts/lab_check.py, drives that chromium through it with Selenium: nothing is downloaded).
if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
  if [ "$(id -u)" = 0 ]; then
    echo "setup-notebooks: installing Debian's chromium and chromium-driver (browser checks)"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
  else
    echo "setup-notebooks: chromium or chromedriver is missing; install them (sudo apt-get install chromium chromium-driver)" >&2
    exit 1
  fi
fi
echo "setup-notebooks: ok (kernel vggnet-rust, evcxr_jupyter $EVCXR_VERSION, build cache $CACHE/evcxr; $(( $(date +%s) - start ))s)"
