#!/usr/bin/env bash
# The notebooks' Rust kernel ("Rust (vggnet)", registered by scripts/setup-notebooks.sh): evcxr_jupyter
# in a build folder of its own, so that two or more notebooks can run at once.
#
# evcxr keeps a kernel's crate and cargo target in EVCXR_TMPDIR. Two kernels in one folder rewrite
# each other's crate and wait on each other's cargo lock, and then neither finds `vggnet`. So each
# kernel takes the first free build folder ("slot") of the cache: $CACHE/evcxr (slot 0, the one set-up
# warms), $CACHE/evcxr-1, ... up to $SLOTS, each held with an flock on "<slot>.lock" for the kernel's
# life (the lock goes with the process: a crashed kernel frees its slot). A slot that is not warm
# for the current sources (its .vggnet-warm differs from slot 0's) is first made a copy of slot 0,
# taken while slot 0's cargo lock is held (a consistent copy even while a kernel builds there): a
# few seconds once, instead of compiling tch again. Set-up copies slot 1 ahead, so the second
# notebook starts as warm as the first.
#
# Usage (kernel.json's argv): kernel.sh EVCXR_JUPYTER --control_file FILE   (VGGNET_KERNEL_CACHE=$CACHE)
#        kernel.sh --prepare N   (set-up: make slots 1..N-1 copies of slot 0 where free and stale)
# VGGNET_KERNEL_SLOT=K in the environment takes slot K only (set-up warms slot 0 so).
set -uo pipefail
CACHE=${VGGNET_KERNEL_CACHE:?VGGNET_KERNEL_CACHE names the kernel build cache (set in kernel.json)}
SLOTS=${VGGNET_KERNEL_SLOTS:-8}

slot_dir() { if [ "$1" = 0 ]; then echo "$CACHE/evcxr"; else echo "$CACHE/evcxr-$1"; fi; }

# Make slot $1 (whose lock the caller holds) a copy of slot 0, unless it is warm already.
seed_slot() {
  local dir src want
  dir=$(slot_dir "$1")
  src=$(slot_dir 0)
  want=$(cat "$src/.vggnet-warm" 2>/dev/null) || return 0  # slot 0 not warmed yet: nothing to copy
  [ "$(cat "$dir/.vggnet-warm" 2>/dev/null)" = "$want" ] && return 0
  local start=$SECONDS
  rm -rf "$dir.new"
  mkdir -p "$src/target"
  # cargo flocks target/<profile>/.cargo-lock while it builds; holding every one of them keeps the
  # copy consistent (a build in slot 0 waits these seconds). evcxr builds in target/debug.
  mkdir -p "$src/target/debug"
  if ! flock -w 600 "$src/target/debug/.cargo-lock" cp -a --reflink=auto "$src" "$dir.new"; then
    echo "kernel.sh: could not copy the warm build folder $src to $dir.new; this kernel builds from scratch" >&2
    rm -rf "$dir.new"
    return 0
  fi
  rm -rf "$dir" && mv "$dir.new" "$dir"
  echo "kernel.sh: build folder $dir copied from $src in $((SECONDS - start)) s" >&2
}

if [ "${1:-}" = "--prepare" ]; then
  n=${2:-2}
  for ((i = 1; i < n; i++)); do
    dir=$(slot_dir "$i")
    (
      flock -n 9 || { echo "kernel.sh: $dir is in use by a running kernel; left as it is" >&2; exit 0; }
      seed_slot "$i"
    ) 9>"$dir.lock"
  done
  # Slots past n are copies made on demand; stale ones are left for the kernel that takes them.
  exit 0
fi

EVCXR=$1
shift
mkdir -p "$CACHE"
if [ -n "${VGGNET_KERNEL_SLOT:-}" ]; then
  # One slot asked for (set-up warms slot 0): wait a little for it, never take another.
  dir=$(slot_dir "$VGGNET_KERNEL_SLOT")
  exec 9>"$dir.lock"
  if ! flock -w 10 9; then
    echo "kernel.sh: the build folder $dir is in use by a running notebook kernel; shut it down" \
         "(Kernel > Shut Down Kernel, or close Jupyter) and run the set-up again" >&2
    exit 1
  fi
  [ "$VGGNET_KERNEL_SLOT" = 0 ] || seed_slot "$VGGNET_KERNEL_SLOT"
  mkdir -p "$dir"
  export EVCXR_TMPDIR=$dir
  exec "$EVCXR" "$@"
fi
for ((i = 0; i < SLOTS; i++)); do
  dir=$(slot_dir "$i")
  exec 9>"$dir.lock"
  if flock -n 9; then
    [ "$i" = 0 ] || seed_slot "$i"
    mkdir -p "$dir"
    export EVCXR_TMPDIR=$dir
    # fd 9 (the slot's lock) stays open in evcxr and everything it starts, until the kernel ends.
    exec "$EVCXR" "$@"
  fi
  exec 9>&-
done
echo "kernel.sh: all $SLOTS build folders of $CACHE are in use; this kernel builds in a temporary folder" \
     "(its first cell compiles tch: minutes)" >&2
unset EVCXR_TMPDIR
exec "$EVCXR" "$@"
