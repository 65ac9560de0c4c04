#!/usr/bin/env bash
# The GPU check (issue #12), one prepared script. On the GPU machine it runs inside the bundle
# that scripts/gpu-build.sh makes (bin/, python/, mnist/ beside this script) against the
# machine's own python3 and its torch 2.11 libraries; here it runs as a dry run on the CPU:
#   bash scripts/gpu-check.sh --device cpu --quick --out /tmp/gpu-dry
# What it writes under --out (each piece as soon as it is done, so a run cut short keeps them):
#   info_rust.json, info_torch.json       (a) CUDA as libtorch and PyTorch see it
#   scaler/                               (b) GradScaler trajectory, Rust against PyTorch
#   runs/rust-amp-s<S>/, torch-gpu-s<S>.json, torch-dataloader-s1.json, runs/rust-fp32-s1/
#                                         (c), (d) 5-epoch runs, our binary and PyTorch's loop
#   gpu_memory.csv, runs.tsv              GPU memory samples (nvidia-smi), each run's start and end
#   binaries_started_with.txt             "direct", or the bundle's loader when hostlib/ was needed
#   summary.json, summary.md              everything above in one table
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
device=cuda; epochs=5; seeds="1 2"; limit=""; out=""
bin=""; py=""; mnist=""
while [ $# -gt 0 ]; do
  case $1 in
    --device) device=$2; shift 2;;
    --out) out=$2; shift 2;;
    --bin) bin=$2; shift 2;;
    --mnist) mnist=$2; shift 2;;
    --epochs) epochs=$2; shift 2;;
    --seeds) seeds=$2; shift 2;;
    --quick) epochs=1; limit=640; shift;;
    *) echo "gpu-check: unknown argument $1" >&2; exit 2;;
  esac
done
# In the bundle: bin/, python/ and mnist/ lie beside this script; in the repository: scripts/.
# Python: the machine's python3 in the bundle, the project venv's in the repository.
if [ -d "$here/bin" ]; then
  bin=${bin:-$here/bin}; py=$here/python; mnist=${mnist:-$here/mnist}; PY=${PYTHON:-python3}
else
  bin=${bin:-$here/../target/release}; py=$here/../python; mnist=${mnist:-${MNIST_DIR:-$here/../../shared/data/mnist}}
  PY=${PYTHON:-$here/../.venv/bin/python}
fi
out=${out:-${OUT:-$PWD/gpu-check-out}}
mkdir -p "$out/runs"
torch_lib=$("$PY" -c 'import os, torch; print(os.path.join(os.path.dirname(torch.__file__), "lib"))')
export LD_LIBRARY_PATH="$torch_lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
lim_rust=(); lim_py=()
if [ -n "$limit" ]; then lim_rust=(--train-limit "$limit" --test-limit 1000); lim_py=(--train-limit "$limit"); fi
log() { echo "gpu-check $(date +%T): $*"; }
start=$(date +%s)

# The binaries were built on another machine's image. If they cannot start with this machine's
# libraries (a C library older than GLIBC_2.34, say), run them through the loader and C runtime
# the bundle carries in hostlib/. GPU_CHECK_HOSTLIB=1 takes that path anyway (to test it).
rbin=(); hostlib=$here/hostlib
if [ -d "$hostlib" ]; then
  if [ -n "${GPU_CHECK_HOSTLIB:-}" ] || ! "$bin/vggnet" --help > /dev/null 2> "$out/start_check.log"; then
    log "the binaries do not start with this machine's libraries ($(head -c 400 "$out/start_check.log" 2> /dev/null | tr '\n' ' ')): running them with the bundle's hostlib/"
    loader=$(find "$hostlib" -maxdepth 1 -name 'ld-linux*' | head -n 1)
    rbin=("$loader" --library-path "$hostlib:$LD_LIBRARY_PATH")
    "${rbin[@]}" "$bin/vggnet" --help > /dev/null || { log "nor with hostlib/: stopping"; exit 1; }
  fi
fi
echo "${rbin[*]:-direct}" > "$out/binaries_started_with.txt"

log "(a) what libtorch and PyTorch see (device $device)"
"${rbin[@]}" "$bin/gpu_check" info | tee "$out/info_rust.json"
"$PY" "$py/gpu_reference.py" info | tee "$out/info_torch.json"
# Linked without libtorch_cuda.so, as a notebook kernel is: the crate loads it at run time.
if [ -x "$bin/cuda-probe" ]; then "${rbin[@]}" "$bin/cuda-probe" | tee "$out/info_probe.json"; fi
if [ "$device" != cpu ]; then
  grep -q '"cuda_available":true' "$out/info_rust.json" \
    || { log "the Rust binary does not see CUDA: stopping"; exit 1; }
  command -v nvidia-smi >/dev/null && nvidia-smi -L | tee "$out/nvidia-smi.txt"
fi

# GPU memory in use, sampled every ~0.2 s with a time stamp (ms); each run's peak is the
# largest sample between its start and end (the runs take turns, so it is that run's).
sampler=""
if [ "$device" != cpu ] && command -v nvidia-smi >/dev/null; then
  while :; do
    printf '%s,%s\n' "$(date +%s%3N)" "$(nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits | head -n 1)"
    sleep 0.2
  done > "$out/gpu_memory.csv" 2>/dev/null &
  sampler=$!
fi
trap '[ -n "$sampler" ] && kill $sampler 2>/dev/null || true' EXIT
: > "$out/runs.tsv"; failed=""
# run NAME CMD...: runs CMD with its output in $out/NAME.log and its start and end in runs.tsv.
run() {
  local name=$1; shift
  log "$name"
  "$@" > "$out/$name.log" 2>&1 &
  local pid=$! t0=$(date +%s%3N)
  if ! wait "$pid"; then log "$name FAILED:"; tail -n 20 "$out/$name.log"; failed="$failed $name"; return 0; fi
  printf '%s\t%s\t%s\n' "$name" "$t0" "$(date +%s%3N)" >> "$out/runs.tsv"  # start, end (ms)
  tail -n 2 "$out/$name.log"
}

log "(b) GradScaler: Rust against torch.amp.GradScaler"
run scaler-rust "${rbin[@]}" "$bin/gpu_check" scaler --device "$device" --mnist "$mnist" --out "$out/scaler"
run scaler-torch "$PY" "$py/gpu_reference.py" scaler --dir "$out/scaler" --mnist "$mnist" --device "$device"
"$PY" "$py/gpu_reference.py" compare-scaler --dir "$out/scaler" \
  || { log "GradScaler comparison FAILED (see scaler/scaler_compare.json)"; failed="$failed scaler-compare"; }

rust_train() { # NAME SEED AMP
  run "$1" "${rbin[@]}" "$bin/vggnet" train --device "$device" --amp "$3" --epochs "$epochs" --seed "$2" \
    --data-dir "$mnist" --offline --no-plots --out "$out/runs/$1" "${lim_rust[@]}"
}
torch_train() { # NAME SEED DATA
  run "$1" "$PY" "$py/gpu_reference.py" train --device "$device" --data "$3" --epochs "$epochs" \
    --seed "$2" --mnist "$mnist" --work "$out" --out "$out/$1.json" "${lim_py[@]}"
}
amp=on; [ "$device" = cpu ] && amp=off
log "(c) the article's run, $epochs epochs, batch 64: our binary against PyTorch's loop, both with the dataset on the device"
first=${seeds%% *}
for s in $seeds; do
  rust_train "rust-amp-s$s" "$s" "$amp"
  torch_train "torch-gpu-s$s" "$s" gpu
  if [ "$s" = "$first" ]; then
    log "(d) our float32 run beside it"
    rust_train "rust-fp32-s$s" "$s" off
  fi
done
log "(c) once more with the article's own DataLoader (PyTorch)"
torch_train "torch-dataloader-s$first" "$first" dataloader

[ -n "$sampler" ] && kill "$sampler" 2>/dev/null || true
sampler=""
"$PY" "$py/gpu_reference.py" summarize --dir "$out"
log "done in $(( $(date +%s) - start ))s; results in $out"
if [ -n "$failed" ]; then log "failed:$failed"; exit 1; fi
