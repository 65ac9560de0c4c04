#!/usr/bin/env bash
# One recorded recipe run for results/recipes (issue #14): trains with `vggnet train ARGS...`
# into runs/recipes/NAME, then copies its metrics.json and log to results/recipes/NAME.* and
# appends the exact command to results/recipes/commands.txt.
# Usage: bash scripts/recipe_run.sh NAME [vggnet train flags...]
# VGGNET_BIN (default target/release/vggnet) runs another build, e.g. a copy kept while the
# tree is rebuilt during a series of runs.
set -euo pipefail
cd "$(dirname "$0")/.."
name=$1; shift
out=results/recipes
mkdir -p "$out" runs/recipes
cmd=("${VGGNET_BIN:-target/release/vggnet}" train --out "runs/recipes/$name" --no-plots --offline "$@")
printf '%s\t%s\t%s\n' "$name" "$(date -u +%FT%TZ)" "${cmd[*]}" >> "$out/commands.txt"
"${cmd[@]}" 2>&1 | tee "$out/$name.log"
cp "runs/recipes/$name/metrics.json" "$out/$name.metrics.json"
