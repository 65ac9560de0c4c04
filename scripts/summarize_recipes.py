"""The README's side-by-side table of training recipes from recorded runs (metrics.json of
`vggnet train --eval-every N`, full test set): per group of runs that differ only in their seed
(files named GROUP-seedN.metrics.json), the time to 99.0% and 99.5% test accuracy (training
time, evaluation excluded; the first periodic evaluation at or above the target), the epochs
that took, and the final and best accuracy, as mean +- standard deviation over the seeds.

Usage: python3 scripts/summarize_recipes.py [--targets 99.0,99.5] results/recipes/*-seed*.metrics.json
(--targets: the two accuracies to time; Fashion-MNIST's table uses 90,92.)
"""
import json
import re
import statistics
import sys
from collections import defaultdict


def mean_sd(xs, fmt):
    if not xs:
        return "-"
    if len(xs) == 1:
        return fmt.format(xs[0])
    return f"{fmt.format(statistics.mean(xs))} +- {fmt.format(statistics.stdev(xs))}"


def first_at(evals, target):
    return next((e for e in evals if e["test_accuracy"] >= target), None)


def run_figures(path):
    m = json.load(open(path))
    cfg, evals, epochs = m["config"], m["evals"], m["epochs"]
    if not evals:
        sys.exit(f"{path}: no periodic evaluations (train with --eval-every)")
    steps_per_epoch = None
    if m.get("run", {}).get("train_limit") in (None, 60000):
        steps_per_epoch = -(-60000 // cfg["batch_size"])
    out = {"seed": cfg["seed"], "epochs": len(epochs), "planned": cfg["epochs"],
           "final": epochs[-1]["test_accuracy"] if epochs else None,
           "best": max(e["test_accuracy"] for e in evals)}
    for t in TARGETS:
        hit = first_at(evals, t)
        out[t] = None if hit is None else (hit["train_seconds"] / 60, hit["step"] / steps_per_epoch)
    return out


args = sys.argv[1:]
TARGETS = (99.0, 99.5)
if args[:1] == ["--targets"]:
    TARGETS = tuple(float(t) for t in args[1].split(","))
    args = args[2:]
    if len(TARGETS) != 2:
        sys.exit("--targets takes two accuracies, e.g. 90,92")
groups = defaultdict(list)
for path in args:
    name = re.sub(r"\.metrics\.json$", "", path.split("/")[-1])
    group = re.sub(r"-seed\d+$", "", name)
    groups[group].append(run_figures(path))

print(f"| runs (seeds) | epochs | time to {TARGETS[0]:.1f}% | time to {TARGETS[1]:.1f}% | final test accuracy | best periodic |")
print("|---|---|---|---|---|---|")
for group, runs in groups.items():
    seeds = ", ".join(str(r["seed"]) for r in runs)
    cells = []
    for t in TARGETS:
        hits = [r[t] for r in runs if r[t] is not None]
        if not hits:
            cells.append(f"not reached (0/{len(runs)})")
            continue
        c = (f"{mean_sd([h[0] for h in hits], '{:.1f}')} min "
             f"({mean_sd([h[1] for h in hits], '{:.2f}')} epochs)")
        if len(hits) < len(runs):
            c += f", reached by {len(hits)}/{len(runs)}"
        cells.append(c)
    finals = [r["final"] for r in runs if r["final"] is not None and r["epochs"] == r["planned"]]
    epochs = sorted({r["planned"] for r in runs})
    print(f"| {group} ({seeds}) | {'/'.join(map(str, epochs))} | {cells[0]} | {cells[1]} | "
          f"{mean_sd(finals, '{:.2f}')}% | {mean_sd([r['best'] for r in runs], '{:.2f}')}% |")
