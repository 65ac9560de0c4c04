"""Prints the README table of a `vggnet train` run from its metrics.json, and the time to a
target test accuracy from the periodic evaluations (`--eval-every`).

Usage: python3 scripts/summarize_run.py results/full/metrics.json [--target 99]
"""
import argparse
import json

p = argparse.ArgumentParser()
p.add_argument("metrics")
p.add_argument("--target", type=float, default=99.0)
a = p.parse_args()
m = json.load(open(a.metrics))
print("| epoch | train loss | train accuracy | test accuracy | epoch time | images/s |")
print("|---|---|---|---|---|---|")
for e in m["epochs"]:
    print(f"| {e['epoch']} | {e['train_loss']:.4f} | {e['train_accuracy']:.2f}% | {e['test_accuracy']:.2f}% "
          f"| {e['seconds'] / 60:.1f} min | {e['images_per_sec']:.1f} |")
hit = next((v for v in m.get("evals", []) if v["test_accuracy"] >= a.target), None)
if hit:
    print(f"\nfirst test accuracy >= {a.target}%: {hit['test_accuracy']:.2f}% at step {hit['step']} "
          f"(epoch {hit['epoch']}), after {hit['train_seconds'] / 60:.1f} min of training")
else:
    print(f"\ntest accuracy never reached {a.target}% in the periodic evaluations")
