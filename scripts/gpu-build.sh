#!/usr/bin/env bash
# Builds, on this CPU machine, what the GPU check (scripts/gpu-check.sh) runs on the GPU machine:
# an H100/H200 with PyTorch 2.11.0+cu130 in its python3, no Rust and no package registry.
#
# tch 0.26 (this crate's) needs libtorch 2.13 and does not compile against 2.11's headers;
# tch 0.24.0 (torch-sys 0.24.0) expects exactly 2.11.0. So this script
#   1. puts PyPI torch==2.11.0 into a separate venv, .venv-gpu (about 4.7 GB, a few minutes;
#      reused when it is there at that version),
#   2. copies the crate into target/gpu/crate with tch and torch-sys pinned to 0.24.0 (the main
#      build and Cargo.lock stay as they are),
#   3. builds its release binaries against that libtorch (none lists libtorch_cuda.so among its
#      NEEDED entries, checked here with readelf: they load it at start where a driver is), and
#   4. builds scripts/cuda-probe, a program linked as a notebook kernel is,
#   5. gathers the bundle the GPU machine gets: target/gpu/bundle (binaries, the Python side,
#      the four gzipped MNIST files, gpu-check.sh, and this machine's C runtime in hostlib/ for
#      a GPU image whose C library is too old for the binaries), well under the 64 MiB a run may
#      carry.
# A second run costs seconds when nothing changed.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
TORCH_VERSION=2.11.0
TCH_VERSION=0.24.0
VENV=.venv-gpu
BUILD=target/gpu
BUNDLE=$BUILD/bundle
MNIST_DIR=${MNIST_DIR:-../shared/data/mnist}
start=$(date +%s)

# shellcheck source=scripts/torch-venv.sh
. scripts/torch-venv.sh
torch_venv "$VENV" "$TORCH_VERSION" gpu-build
site=$("$VENV/bin/python" -c 'import os, torch; print(os.path.dirname(torch.__file__))')
[ -e "$site/lib/libtorch_cuda.so" ] || { echo "gpu-build: $site has no libtorch_cuda.so (a CPU-only torch?)" >&2; exit 1; }

mkdir -p "$BUILD/crate"
cp -p Cargo.toml Cargo.lock build.rs README.md "$BUILD/crate/"
for d in src assets; do rm -rf "${BUILD:?}/crate/$d" && cp -rp "$d" "$BUILD/crate/$d"; done
sed -i -E "s/^tch = \"[^\"]+\"/tch = \"=$TCH_VERSION\"/; s/^torch-sys = \"[^\"]+\"/torch-sys = \"=$TCH_VERSION\"/" "$BUILD/crate/Cargo.toml"
grep -q "^tch = \"=$TCH_VERSION\"" "$BUILD/crate/Cargo.toml" || { echo "gpu-build: could not pin tch in Cargo.toml" >&2; exit 1; }
echo "gpu-build: building against torch $TORCH_VERSION (tch $TCH_VERSION) in $BUILD/crate"
(cd "$BUILD/crate" && LIBTORCH="$site" LIBTORCH_BYPASS_VERSION_CHECK=0 CARGO_TARGET_DIR="$root/$BUILD/target" \
  cargo build --release --bins --quiet)

# A program that only depends on the crate, linked as a notebook kernel is (no NEEDED entry
# for libtorch_cuda.so): vggnet::model::perf::load_cuda_backend must load it at run time.
rm -rf "$BUILD/probe" && cp -rp scripts/cuda-probe "$BUILD/probe"
sed -i 's|path = "../.."|path = "../crate"|' "$BUILD/probe/Cargo.toml"
(cd "$BUILD/probe" && LIBTORCH="$site" CARGO_TARGET_DIR="$root/$BUILD/target" cargo build --release --quiet)

rm -rf "$BUNDLE" && mkdir -p "$BUNDLE/bin" "$BUNDLE/python" "$BUNDLE/mnist"
cp "$BUILD/target/release/cuda-probe" "$BUNDLE/bin/"
if readelf -d "$BUNDLE/bin/cuda-probe" | grep -q 'NEEDED.*\[libtorch_cuda.so\]'; then
  echo "gpu-build: cuda-probe should be linked without libtorch_cuda.so" >&2; exit 1
fi
for b in vggnet gpu_check; do
  cp "$BUILD/target/release/$b" "$BUNDLE/bin/"
  strip "$BUNDLE/bin/$b" 2>/dev/null || true
  if readelf -d "$BUNDLE/bin/$b" | grep -q 'NEEDED.*\[libtorch_cuda.so\]'; then
    echo "gpu-build: $b lists libtorch_cuda.so among its NEEDED entries (it is loaded at run time)" >&2; exit 1
  fi
done
# The GPU machine runs another image. If its C library or libstdc++ is older than this one's
# (the binaries need GLIBC_2.34), they cannot start there; so the bundle also carries this
# machine's loader and C runtime (hostlib/, ~5 MiB), which gpu-check.sh uses only then.
mkdir -p "$BUNDLE/hostlib"
loader=$(readelf -l "$BUNDLE/bin/vggnet" | sed -n 's/.*interpreter: \(.*\)\]/\1/p')
[ -e "$loader" ] || { echo "gpu-build: no program interpreter found for vggnet" >&2; exit 1; }
cp -L "$loader" "$BUNDLE/hostlib/"
# Every system library the binaries load (ldd's "name => path" lines outside torch's folders).
LD_LIBRARY_PATH="$site/lib" ldd "$BUNDLE/bin/vggnet" "$BUNDLE/bin/gpu_check" \
  | awk '$2 == "=>" && $3 ~ /^\// && $3 !~ /site-packages/ {print $3}' | sort -u \
  | while read -r lib; do cp -L "$lib" "$BUNDLE/hostlib/"; done
[ -e "$BUNDLE/hostlib/libc.so.6" ] || { echo "gpu-build: ldd found no libc.so.6 to carry" >&2; exit 1; }
cp python/article.py python/gpu_reference.py "$BUNDLE/python/"
cp scripts/gpu-check.sh "$BUNDLE/"
for f in train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte; do
  cp "$MNIST_DIR/$f.gz" "$BUNDLE/mnist/"
done
size=$(du -sm "$BUNDLE" | cut -f1)
[ "$size" -le 60 ] || { echo "gpu-build: the bundle is ${size} MiB, over the 64 MiB a run carries" >&2; exit 1; }
echo "gpu-build: ok: $BUNDLE (${size} MiB; torch $TORCH_VERSION, tch $TCH_VERSION; $(( $(date +%s) - start ))s)"
