"""PyTorch's side of the GPU check (scripts/gpu-check.sh), beside the Rust binaries.

Runs with any python3 that has torch (on the GPU machine: its preinstalled 2.11.0+cu130),
numpy and safetensors (both there too); reads MNIST from the gzipped IDX files through
article.py (no torchvision download).

  info
      torch version, CUDA/cuDNN availability and the device name, as one JSON line.
  scaler   --dir DIR --mnist DIR [--device cuda] (settings as scaler_rust.json says)
      the Rust side's `gpu_check scaler` in PyTorch: the article's VGG with dropout off, loaded
      from DIR/init.safetensors (written by the Rust side) and kept in the Rust side's memory
      layout (settings.channels_last), AdamW(1e-3, 1e-4), CrossEntropyLoss,
      autocast(float16) + torch.amp.GradScaler(init_scale, growth_interval) on the same batches,
      the loss multiplied by the same factor at the same steps. Writes DIR/scaler_torch.json,
      DIR/grads_torch.safetensors (the first step's unscaled gradients) and final_torch.safetensors.
  compare-scaler --dir DIR [--grad-tol 0.02]
      the two trajectories (scale before and after every step, skipped steps) must be equal and
      every gradient tensor of the first step within grad-tol of PyTorch's (max |difference|
      over max |value|); writes DIR/scaler_compare.json and exits 1 when they are not.
  train    --mnist DIR --out FILE.json --data {gpu,host,dataloader} [--epochs 5] [--seed S]
           [--amp/--no-amp] [--train-limit N] [--device cuda]
      the article's training run (its train_epoch: batch 64, AdamW, cross-entropy, autocast +
      GradScaler) with the test set evaluated after each epoch. --data says where batches come
      from: gpu: the normalized dataset held on the device, shuffled by index there (what the
      Rust binary does on a GPU); host: a DataLoader over a TensorDataset of normalized tensors
      in host memory, copied each step; dataloader: the article's own pipeline, a DataLoader over
      torchvision's MNIST with ToTensor() + Normalize((0.5,), (0.5,)) per image (when torchvision
      is missing: the same per-image transform written out, which the JSON says).
      Per epoch: images/s, training seconds, train loss/accuracy, test accuracy; and the peak
      of torch.cuda.max_memory_allocated / max_memory_reserved.
  summarize --dir DIR
      gathers what gpu-check.sh wrote into DIR/summary.json and DIR/summary.md: per run the
      images/s of each epoch, wall time, test accuracy per epoch, peak GPU memory (the largest
      nvidia-smi sample of the GPU's memory in use during the run, both sides measured alike); then the speed ratios and the
      accuracy mean and spread over seeds.
"""
import argparse
import json
import os
import sys
import time

import torch
import torch.nn as nn
from safetensors.torch import load_file, save_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from article import VGG, normalize, read_idx, replace_atomically, train_step, _test_accuracy, _write_json  # noqa: E402


def cmd_info(args):
    cuda = torch.cuda.is_available()
    print(json.dumps({
        "torch_version": torch.__version__,
        "cuda_available": cuda,
        "cuda_version": torch.version.cuda,
        "cudnn_version": torch.backends.cudnn.version() if cuda else None,
        "device_name": torch.cuda.get_device_name(0) if cuda else None,
    }))


def _save_safetensors(tensors, path):
    """safetensors.torch.save_file, atomically (temporary file + rename)."""
    tensors = {n: t.detach().float().cpu().contiguous() for n, t in tensors.items()}
    replace_atomically(path, lambda tmp: save_file(tensors, tmp))


def cmd_scaler(args):
    with open(os.path.join(args.dir, "scaler_rust.json")) as f:
        rust = json.load(f)
    s = rust["settings"]
    device = torch.device(args.device)
    cuda = device.type == "cuda"
    model = VGG(dropout=0.0)
    model.load_state_dict(load_file(os.path.join(args.dir, "init.safetensors")))
    # The same memory layout as the Rust side (channels-last by default), so that the comparison
    # sees the scaler and autocast, not the layout: PyTorch's own NCHW and channels-last first-step
    # gradients differ by up to 9.5e-3 of a tensor's largest value in float32 on the CPU.
    channels_last = s.get("channels_last", False)
    layout = torch.channels_last if channels_last else torch.contiguous_format
    model.to(device, memory_format=layout).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-4)
    criterion = nn.CrossEntropyLoss()
    scaler = torch.amp.GradScaler(device.type, init_scale=s["init_scale"], growth_interval=s["growth_interval"])
    images, labels = read_idx(args.mnist, train=True)
    batch, steps = s["batch"], len(rust["steps"])
    records = []
    for k in range(steps):
        x = normalize(images[k * batch:(k + 1) * batch]).to(device).contiguous(memory_format=layout)
        y = torch.from_numpy(labels[k * batch:(k + 1) * batch].copy()).to(device)
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast(device_type=device.type, dtype=torch.float16, enabled=cuda):
            loss = criterion(model(x), y)
        forced = k in s["overflow"]
        scaled_loss = loss * s["force"] if forced else loss
        before = scaler.get_scale()
        scaler.scale(scaled_loss).backward()
        scaler.unscale_(optimizer)
        if k == 0:  # the first step's unscaled gradients: both sides start from the same weights
            grads = {n: p.grad.detach().clone() for n, p in model.named_parameters()}
        scaler.step(optimizer)
        scaler.update()
        after = scaler.get_scale()
        records.append({"step": k, "loss": loss.item(), "forced": forced, "scale_before": before,
                        "scale_after": after, "skipped": after < before})
    _save_safetensors(grads, os.path.join(args.dir, "grads_torch.safetensors"))
    _save_safetensors(dict(model.state_dict()), os.path.join(args.dir, "final_torch.safetensors"))
    result = {"side": "torch", "torch_version": torch.__version__, "device": str(device),
              "channels_last": channels_last, "steps": records, "skipped_steps": sum(r["skipped"] for r in records)}
    _write_json(os.path.join(args.dir, "scaler_torch.json"), result)
    print(json.dumps(result))


def cmd_compare_scaler(args):
    load = lambda name: json.load(open(os.path.join(args.dir, name)))  # noqa: E731
    rust, ref = load("scaler_rust.json"), load("scaler_torch.json")
    keys = ("scale_before", "scale_after", "skipped")
    trajectory_equal = [{k: r[k] for k in keys} for r in rust["steps"]] == [{k: r[k] for k in keys} for r in ref["steps"]]
    loss_diff = max(abs(a["loss"] - b["loss"]) / max(abs(b["loss"]), 1e-12) for a, b in zip(rust["steps"], ref["steps"]))
    gr = load_file(os.path.join(args.dir, "grads_rust.safetensors"))
    gt = load_file(os.path.join(args.dir, "grads_torch.safetensors"))
    per_tensor = {}
    for name, t in gt.items():
        r = gr[name].reshape(t.shape)
        per_tensor[name] = float((r - t).abs().max() / t.abs().max().clamp_min(1e-30))
    worst = max(per_tensor.values())
    wr = load_file(os.path.join(args.dir, "final_rust.safetensors"))
    wt = load_file(os.path.join(args.dir, "final_torch.safetensors"))
    weight_diff = max(float((wr[n].reshape(t.shape) - t).abs().max()) for n, t in wt.items())
    ok = trajectory_equal and worst <= args.grad_tol and len(gr) == len(gt)
    result = {
        "ok": ok,
        "trajectory_equal": trajectory_equal,
        "channels_last": [rust["settings"].get("channels_last"), ref.get("channels_last")],
        "skipped_rust": rust["skipped_steps"],
        "skipped_torch": ref["skipped_steps"],
        "scales_rust": [r["scale_after"] for r in rust["steps"]],
        "scales_torch": [r["scale_after"] for r in ref["steps"]],
        "max_relative_loss_difference": loss_diff,
        "grad_tolerance": args.grad_tol,
        "max_relative_grad_difference": worst,
        "relative_grad_difference_per_tensor": per_tensor,
        "max_abs_final_weight_difference": weight_diff,
    }
    _write_json(os.path.join(args.dir, "scaler_compare.json"), result)
    print(json.dumps({k: v for k, v in result.items() if k != "relative_grad_difference_per_tensor"}))
    sys.exit(0 if ok else 1)


class _ArticleMnist(torch.utils.data.Dataset):
    """torchvision's MNIST + ToTensor() + Normalize((0.5,), (0.5,)), per image, written out:
    uint8 (28, 28) -> float (1, 28, 28) in [0, 1] -> (x - 0.5) / 0.5."""

    def __init__(self, images, labels):
        self.images, self.labels = images, labels

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        x = torch.from_numpy(self.images[i].copy()).unsqueeze(0).float().div(255.0)
        return (x - 0.5) / 0.5, int(self.labels[i])


def _loader(args, images, labels, device):
    """Batches of the training set, reshuffled each epoch, as (x, y) on the device."""
    from torch.utils.data import DataLoader, TensorDataset

    if args.data == "gpu":
        x_all = normalize(images).to(device)
        y_all = torch.from_numpy(labels.copy()).to(device)
        n = len(y_all)

        def batches():
            perm = torch.randperm(n, device=device)
            for i in range(0, n, args.batch_size):
                idx = perm[i:i + args.batch_size]
                yield x_all[idx], y_all[idx]
        return batches, "dataset held on the GPU, batches gathered there"
    if args.data == "host":
        loader = DataLoader(TensorDataset(normalize(images), torch.from_numpy(labels.copy())),
                            batch_size=args.batch_size, shuffle=True)
        return (lambda: ((x.to(device), y.to(device)) for x, y in loader)), "TensorDataset in host memory, copied each step"
    try:
        from torchvision import datasets, transforms

        root = os.path.join(args.work, "torchvision")
        _torchvision_layout(args.mnist, root)
        tf = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.5,), (0.5,))])
        ds = datasets.MNIST(root, train=True, download=False, transform=tf)
        if args.train_limit:
            ds = torch.utils.data.Subset(ds, range(args.train_limit))
        how = "the article's DataLoader: torchvision MNIST, ToTensor + Normalize per image"
    except ImportError:
        ds = _ArticleMnist(images, labels)
        how = "the article's DataLoader with its per-image ToTensor + Normalize written out (no torchvision here)"
    loader = DataLoader(ds, batch_size=args.batch_size, shuffle=True)
    return (lambda: ((x.to(device), y.to(device)) for x, y in loader)), how


def _torchvision_layout(mnist, root):
    """torchvision's MNIST reads the uncompressed files from <root>/MNIST/raw/."""
    import gzip
    import shutil

    raw = os.path.join(root, "MNIST", "raw")
    os.makedirs(raw, exist_ok=True)
    for f in os.listdir(mnist):
        dst = os.path.join(raw, f[:-3])
        if f.endswith(".gz") and not os.path.exists(dst):
            def unpack(tmp, gz=os.path.join(mnist, f)):
                with gzip.open(gz) as src, open(tmp, "wb") as out:
                    shutil.copyfileobj(src, out)

            replace_atomically(dst, unpack)


def cmd_train(args):
    device = torch.device(args.device)
    cuda = device.type == "cuda"
    torch.manual_seed(args.seed)
    images, labels = read_idx(args.mnist, train=True)
    images, labels = images[:args.train_limit], labels[:args.train_limit]
    test_images, test_labels = read_idx(args.mnist, train=False)
    test_x, test_y = normalize(test_images), torch.from_numpy(test_labels.copy())
    batches, how = _loader(args, images, labels, device)
    model = VGG().to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-4)
    criterion = nn.CrossEntropyLoss()
    amp = cuda and args.amp
    scaler = torch.amp.GradScaler("cuda", enabled=amp)
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    result = {"side": "torch", "torch_version": torch.__version__, "device": str(device), "amp": amp,
              "data": args.data, "data_handling": how, "seed": args.seed, "train_images": len(labels),
              "batch_size": args.batch_size, "epochs": []}
    wall = time.perf_counter()
    for epoch in range(1, args.epochs + 1):
        model.train()
        running_loss, correct, total, steps = 0.0, 0, 0, 0
        if cuda:
            torch.cuda.synchronize()
        started = time.perf_counter()
        for data, target in batches():
            loss_value, right = train_step(model, optimizer, criterion, scaler, data, target, amp)
            running_loss += loss_value
            correct += right
            total += target.size(0)
            steps += 1
        if cuda:
            torch.cuda.synchronize()
        seconds = time.perf_counter() - started
        acc = _test_accuracy(model, test_x, test_y, device)
        result["epochs"].append({"epoch": epoch, "train_seconds": seconds, "images_per_sec": total / seconds,
                                 "train_loss": running_loss / steps, "train_accuracy": 100.0 * correct / total,
                                 "test_accuracy": acc})
        print(f"torch {args.data} seed {args.seed} epoch {epoch}: {total / seconds:.0f} images/s, "
              f"test accuracy {acc:.2f}%", flush=True)
    result["wall_seconds"] = time.perf_counter() - wall
    result["final_test_accuracy"] = result["epochs"][-1]["test_accuracy"]
    if cuda:
        result["peak_memory_allocated_mb"] = torch.cuda.max_memory_allocated() / 2**20
        result["peak_memory_reserved_mb"] = torch.cuda.max_memory_reserved() / 2**20
    _write_json(args.out, result)


def _read_tsv(path):
    if not os.path.exists(path):
        return []
    return [line.rstrip("\n").split("\t") for line in open(path) if line.strip()]


def cmd_summarize(args):
    d = args.dir
    samples = []  # (ms, MiB in use on the GPU)
    if os.path.exists(os.path.join(d, "gpu_memory.csv")):
        for line in open(os.path.join(d, "gpu_memory.csv")):
            parts = [x.strip() for x in line.split(",")]
            if len(parts) == 2 and parts[0].isdigit() and parts[1].isdigit():
                samples.append((int(parts[0]), int(parts[1])))
    spans = {name: (int(t0), int(t1)) for name, t0, t1 in _read_tsv(os.path.join(d, "runs.tsv"))}
    wall = {name: (t1 - t0) / 1000.0 for name, (t0, t1) in spans.items()}
    peak = {name: max((mb for t, mb in samples if t0 <= t <= t1), default=None) for name, (t0, t1) in spans.items()}
    runs = []
    for name in sorted(wall):
        if name.startswith("rust-"):
            m = json.load(open(os.path.join(d, "runs", name, "metrics.json")))
            epochs = [{"images_per_sec": e["images_per_sec"], "train_seconds": e["seconds"],
                       "test_accuracy": e["test_accuracy"]} for e in m["epochs"]]
            run = {"side": "rust", "amp": m["config"]["amp"], "data": "dataset held on the device",
                   "seed": m["config"]["seed"]}
        elif name.startswith("torch-"):
            m = json.load(open(os.path.join(d, name + ".json")))
            epochs = m["epochs"]
            run = {"side": "torch", "amp": m["amp"], "data": m["data_handling"], "seed": m["seed"],
                   "torch_peak_allocated_mb": m.get("peak_memory_allocated_mb")}
        else:
            continue
        ips = [e["images_per_sec"] for e in epochs]
        run.update({"name": name, "wall_seconds": wall[name], "images_per_sec": ips,
                    "mean_images_per_sec": sum(ips) / len(ips),
                    "train_seconds": sum(e["train_seconds"] for e in epochs),
                    "test_accuracy": [e["test_accuracy"] for e in epochs],
                    "final_test_accuracy": epochs[-1]["test_accuracy"],
                    "peak_gpu_memory_mb": peak.get(name)})
        runs.append(run)

    def group(prefix):
        return [r for r in runs if r["name"].startswith(prefix)]

    def mean_sd(xs):
        if not xs:
            return None
        mu = sum(xs) / len(xs)
        sd = (sum((x - mu) ** 2 for x in xs) / (len(xs) - 1)) ** 0.5 if len(xs) > 1 else 0.0
        return {"mean": mu, "sd": sd, "n": len(xs)}

    rust_amp, torch_gpu, rust_fp32 = group("rust-amp-"), group("torch-gpu-"), group("rust-fp32-")
    speed = lambda rs: sum(r["mean_images_per_sec"] for r in rs) / len(rs) if rs else None  # noqa: E731
    ratios = {}
    if rust_amp and torch_gpu:
        ratios["rust_amp_over_torch_gpu"] = speed(rust_amp) / speed(torch_gpu)
    if rust_amp and rust_fp32:
        ratios["rust_amp_over_rust_fp32"] = speed(rust_amp) / speed(rust_fp32)
    for r in group("torch-dataloader-"):
        if rust_amp:
            ratios["rust_amp_over_torch_dataloader"] = speed(rust_amp) / r["mean_images_per_sec"]
    summary = {
        "info_rust": _maybe_json(os.path.join(d, "info_rust.json")),
        "info_torch": _maybe_json(os.path.join(d, "info_torch.json")),
        "scaler": _maybe_json(os.path.join(d, "scaler", "scaler_compare.json")),
        "runs": runs,
        "ratios": ratios,
        "final_accuracy": {"rust_amp": mean_sd([r["final_test_accuracy"] for r in rust_amp]),
                           "torch_gpu": mean_sd([r["final_test_accuracy"] for r in torch_gpu])},
    }
    _write_json(os.path.join(d, "summary.json"), summary)
    lines = ["| run | data | AMP | images/s per epoch | mean | wall s | test accuracy per epoch | final | peak GPU MB |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in runs:
        lines.append(f"| {r['name']} | {r['data']} | {'on' if r['amp'] else 'off'} | "
                     f"{' '.join(f'{x:.0f}' for x in r['images_per_sec'])} | {r['mean_images_per_sec']:.0f} | "
                     f"{r['wall_seconds']:.1f} | {' '.join(f'{x:.2f}' for x in r['test_accuracy'])} | "
                     f"{r['final_test_accuracy']:.2f} | {r['peak_gpu_memory_mb'] or '-'} |")
    lines.append("")
    lines += [f"- {k}: {v:.2f}x" for k, v in ratios.items()]
    for k, v in summary["final_accuracy"].items():
        if v:
            lines.append(f"- final test accuracy {k}: {v['mean']:.2f} +- {v['sd']:.2f} % over {v['n']} seeds")
    sc = summary["scaler"]
    if sc:
        lines.append(f"- GradScaler: trajectory equal {sc['trajectory_equal']}, skipped {sc['skipped_rust']} "
                     f"(Rust) / {sc['skipped_torch']} (PyTorch), largest gradient difference "
                     f"{sc['max_relative_grad_difference']:.2e} of the tensor's largest value (tolerance {sc['grad_tolerance']})")
    text = "\n".join(lines) + "\n"
    with open(os.path.join(d, "summary.md"), "w") as f:
        f.write(text)
    print(text)


def _maybe_json(path):
    try:
        return json.load(open(path))
    except (OSError, ValueError):
        return None


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    sub.add_parser("info")
    s = sub.add_parser("scaler")
    s.add_argument("--dir", required=True)
    s.add_argument("--mnist", required=True)
    s.add_argument("--device", default="cuda")
    c = sub.add_parser("compare-scaler")
    c.add_argument("--dir", required=True)
    c.add_argument("--grad-tol", type=float, default=0.02)
    t = sub.add_parser("train")
    t.add_argument("--mnist", required=True)
    t.add_argument("--out", required=True)
    t.add_argument("--work", default=".")
    t.add_argument("--data", choices=["gpu", "host", "dataloader"], required=True)
    t.add_argument("--device", default="cuda")
    t.add_argument("--epochs", type=int, default=5)
    t.add_argument("--batch-size", type=int, default=64)
    t.add_argument("--seed", type=int, default=1)
    t.add_argument("--train-limit", type=int, default=None)
    t.add_argument("--amp", action=argparse.BooleanOptionalAction, default=True)
    m = sub.add_parser("summarize")
    m.add_argument("--dir", required=True)
    args = p.parse_args()
    {"summarize": cmd_summarize, "info": cmd_info, "scaler": cmd_scaler, "compare-scaler": cmd_compare_scaler, "train": cmd_train}[args.cmd](args)


if __name__ == "__main__":
    main()
