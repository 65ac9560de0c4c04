"""Prints the README table of a `vggnet train` run from its metrics.json, the time to a target
test accuracy from the periodic evaluations (`--eval-every`), and, with --reference, the same
figures for PyTorch's run of the article's loop (`python/article.py train`) side by side.

Usage: python3 scripts/summarize_run.py results/full/metrics.json [--target 99]
           [--reference results/full/pytorch.json]
"""
import argparse
import json


def first_at(evals, target):
    return next((v for v in evals if v["test_accuracy"] >= target), None)


def describe_hit(hit, target):
    if hit is None:
        return f"never reached {target}% in the periodic evaluations"
    return (f"{hit['test_accuracy']:.2f}% at step {hit['step']} (epoch {hit['epoch']}), "
            f"after {hit['train_seconds'] / 60:.1f} min of training")


p = argparse.ArgumentParser()
p.add_argument("metrics")
p.add_argument("--target", type=float, default=99.0)
p.add_argument("--reference", help="JSON written by python/article.py train")
a = p.parse_args()
m = json.load(open(a.metrics))
print("| epoch | train loss | train accuracy | test accuracy | epoch time | images/s |")
print("|---|---|---|---|---|---|")
for e in m["epochs"]:
    print(f"| {e['epoch']} | {e['train_loss']:.4f} | {e['train_accuracy']:.2f}% | {e['test_accuracy']:.2f}% "
          f"| {e['seconds'] / 60:.1f} min | {e['images_per_sec']:.1f} |")
evals = m.get("evals", [])
print(f"\nfirst test accuracy >= {a.target}%: {describe_hit(first_at(evals, a.target), a.target)}")
if evals:
    last_epoch = [v["test_accuracy"] for v in evals if v["epoch"] == m["epochs"][-1]["epoch"]]
    if last_epoch:
        print(f"periodic evaluations in the last epoch: {min(last_epoch):.2f}-{max(last_epoch):.2f}%, "
              f"best of the run {max(v['test_accuracy'] for v in evals):.2f}%")

if a.reference:
    r = json.load(open(a.reference))
    print(f"\nPyTorch {r['torch_version']} ({r['device']}, {r['threads']} threads), same settings:")
    print("| epoch | train loss (vggnet / PyTorch) | train accuracy | test accuracy |")
    print("|---|---|---|---|")
    for ours, theirs in zip(m["epochs"], r["epochs"]):
        print(f"| {ours['epoch']} | {ours['train_loss']:.4f} / {theirs['train_loss']:.4f} "
              f"| {ours['train_accuracy']:.2f}% / {theirs['train_accuracy']:.2f}% "
              f"| {ours['test_accuracy']:.2f}% / {theirs['test_accuracy']:.2f}% |")
    print(f"PyTorch first >= {a.target}%: {describe_hit(first_at(r['evals'], a.target), a.target)}")
    if r["evals"]:
        print(f"PyTorch best periodic evaluation: {max(v['test_accuracy'] for v in r['evals']):.2f}%")
