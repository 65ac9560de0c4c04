"""The PyTorch (Python) side of `make bench`: the article's loop, measured.

One measure per process, printed as one JSON line:
  train  images/s at --batch (default 64) after --warmup steps, over --steps steps, each step as
         the article's train_epoch does it: to(device), zero_grad, forward under autocast,
         CrossEntropyLoss, scaler.scale(loss).backward(), scaler.step, scaler.update,
         loss.item(), (predicted == target).sum().item(). AdamW(lr=1e-3, weight_decay=1e-4).
         With --amp bf16: the same loop under torch.autocast("cpu", dtype=torch.bfloat16), no
         GradScaler (PyTorch's mixed precision on the CPU; the article's autocast() is CUDA's).
  eval   images/s at --batch (default 256) under torch.no_grad(), model.eval(), as the article's
         evaluate_model (argmax + correct count per batch).
  load   seconds to read the four gzipped IDX files and normalize the training set to a float
         tensor ((x/255 - 0.5) / 0.5).
Both sides read the same preloaded, normalized tensors (the article's torchvision DataLoader
would add per-image PIL transforms on top: this reference is the faster, fairer baseline).
Peak resident memory (VmHWM) is reported for every measure.
"""
import argparse
import json
import os
import sys
import time
import warnings

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from article import VGG, normalize, read_idx  # noqa: E402


def peak_rss_mb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def measure_train(args, device):
    images, labels = read_idx(args.mnist, train=True)
    n = (args.warmup + args.steps) * args.batch
    x_all, y_all = normalize(images[:n]), torch.from_numpy(labels[:n].copy())
    torch.manual_seed(0)
    model = VGG().to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.001, weight_decay=1e-4)
    criterion = torch.nn.CrossEntropyLoss()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # GradScaler/autocast warn when CUDA is absent
        scaler = torch.amp.GradScaler("cuda", enabled=device.type == "cuda" and args.amp == "article")
    model.train()
    perm = torch.randperm(n)
    start = None
    for step in range(args.warmup + args.steps):
        if step == args.warmup:
            start = time.perf_counter()
        idx = perm[step * args.batch:(step + 1) * args.batch]
        data, target = x_all[idx].to(device, non_blocking=True), y_all[idx].to(device, non_blocking=True)
        optimizer.zero_grad()
        if args.amp == "bf16":
            autocast = torch.autocast(device_type=device.type, dtype=torch.bfloat16)
        else:
            autocast = torch.autocast(device_type=device.type, enabled=device.type == "cuda")
        with autocast:
            output = model(data)
            loss = criterion(output, target)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        _ = loss.item()
        _, predicted = torch.max(output, 1)
        _ = (predicted == target).sum().item()
    elapsed = time.perf_counter() - start
    return {"images_per_sec": args.steps * args.batch / elapsed, "seconds": elapsed}


def measure_eval(args, device):
    images, labels = read_idx(args.mnist, train=False)
    n = args.steps * args.batch
    x_all, y_all = normalize(images[:n]), torch.from_numpy(labels[:n].copy())
    torch.manual_seed(0)
    model = VGG().to(device)
    model.eval()
    correct = 0
    with torch.no_grad():
        for step in range(args.warmup):
            model(x_all[: args.batch].to(device))
        start = time.perf_counter()
        for step in range(args.steps):
            data = x_all[step * args.batch:(step + 1) * args.batch].to(device)
            target = y_all[step * args.batch:(step + 1) * args.batch].to(device)
            _, predicted = torch.max(model(data), 1)
            correct += (predicted == target).sum().item()
    elapsed = time.perf_counter() - start
    return {"images_per_sec": n / elapsed, "seconds": elapsed}


def measure_load(args, device):
    start = time.perf_counter()
    tr_x, tr_y = read_idx(args.mnist, train=True)
    te_x, te_y = read_idx(args.mnist, train=False)
    x = normalize(tr_x)
    y = torch.from_numpy(tr_y.copy())
    xt = normalize(te_x)
    elapsed = time.perf_counter() - start
    assert x.shape == (60000, 1, 28, 28) and y.shape == (60000,) and xt.shape[0] == 10000
    return {"seconds": elapsed}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("measure", choices=["train", "eval", "load"])
    p.add_argument("--mnist", required=True)
    p.add_argument("--batch", type=int, default=None)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--device", default="cpu")
    p.add_argument("--amp", choices=["article", "bf16"], default="article",
                   help="article: autocast on CUDA only (float32 on the CPU); bf16: bfloat16 autocast")
    args = p.parse_args()
    if args.batch is None:
        args.batch = 64 if args.measure == "train" else 256
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    result = {"train": measure_train, "eval": measure_eval, "load": measure_load}[args.measure](args, device)
    result.update(
        side="python",
        measure=args.measure,
        amp=args.amp,
        batch=args.batch,
        threads=torch.get_num_threads(),
        torch=torch.__version__,
        peak_rss_mb=peak_rss_mb(),
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
