#!/usr/bin/env bash
# One recorded recipe run for results/recipes (issue #14): trains with `vggnet train ARGS...`
# into runs/recipes/NAME, then copies its metrics.json and log to results/recipes/NAME.* and
# appends the exact command to results/recipes/commands.txt.
# Usage: bash scripts/recipe_run.sh NAME [vggnet train flags...]
# Run again with the same NAME after an interruption: it resumes the run (flags ignored).
# VGGNET_BIN (default target/release/vggnet) runs another build, e.g. a copy kept while the
# tree is rebuilt during a series of runs.
set -euo pipefail
cd "$(dirname "$0")/.."
name=$1; shift
out=results/recipes
mkdir -p "$out" runs/recipes
bin="${VGGNET_BIN:-target/release/vggnet}"
if [ -d "runs/recipes/$name/state" ] && [ ! -f "$out/$name.metrics.json" ]; then
  # Stopped earlier (Ctrl-C, or a session that ended): continue it exactly, log appended.
  cmd=("$bin" train --resume "runs/recipes/$name" --offline)
  tee_flags=(-a)
else
  cmd=("$bin" train --out "runs/recipes/$name" --no-plots --offline "$@")
  tee_flags=()
fi
printf '%s\t%s\t%s\n' "$name" "$(date -u +%FT%TZ)" "${cmd[*]}" >> "$out/commands.txt"
"${cmd[@]}" 2>&1 | tee "${tee_flags[@]}" "$out/$name.log"
# eval.json is written only when every epoch is done: a paused run is not recorded yet.
if [ -f "runs/recipes/$name/eval.json" ]; then
  cp "runs/recipes/$name/metrics.json" "$out/$name.metrics.json"
else
  echo "recipe_run: $name is not finished; run the same command again to continue it" >&2
fi
