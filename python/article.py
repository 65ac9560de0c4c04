"""The article's PyTorch reference, written out for parity tests and the benchmark.

The network and the loop follow the article (VGG for MNIST, AdamW 1e-3 / 1e-4, cross-entropy,
autocast + GradScaler on CUDA). MNIST is read straight from the IDX files (no torchvision
download), normalized as the article's ToTensor() + Normalize((0.5,), (0.5,)).

Commands (run with the project venv's python). --batch-norm (export, logits, steps) uses the
optional variant with a BatchNorm2d after every convolution (torchvision's vgg*_bn layout).
  export   --out DIR  --mnist DIR [--seed S] [--n N] [--batch-norm]
      builds the model with seed S, saves state_dict() with torch.save to DIR/vggnet_mnist.pth
      exactly as the article's save_model does, and writes DIR/reference.json with the first N
      test digits' normalized pixels and the model's eval-mode logits. With --batch-norm,
      three train-mode passes over 64 training digits first give the running statistics values.
  logits   --weights FILE.safetensors --mnist DIR [--n N] [--batch-norm]
      loads weights saved by the Rust crate into the article's model (strictly: every key)
      and prints its logits for the first N test digits as JSON.
  adamw    --input IN.safetensors --output OUT.safetensors [--steps S]
      runs torch.optim.AdamW(lr=1e-3, weight_decay=1e-4) on given params and gradients.
  steps    --out DIR --mnist DIR [--seed S] [--steps K] [--batch-size B] [--batch-norm]
           [--lr LR]
      builds the model with seed S and dropout off (p = 0), saves its initial state_dict to
      DIR/init.pth, then takes K AdamW steps (the article's optimizer and loss) in train mode
      on the first K*B training digits in order, and writes DIR/steps.json with each step's
      loss, the first 8 test digits' final eval-mode logits and the batch-norm buffers.
  print    [--batch-norm]
      prints the model as the article's print(model) would (the module tree with arguments).
  train    --data DIR --out FILE.json [--epochs 5] [--seed 42] [--eval-every N]
           [--train-limit N] [--test-limit N] [--threads T]
      the article's training run (its train_epoch loop: shuffled DataLoader of batch 64,
      AdamW, cross-entropy, autocast + GradScaler, enabled on CUDA only) with the test set
      evaluated every N steps and at each epoch end; FILE.json is rewritten after each
      evaluation (per-epoch train loss/accuracy, test accuracy, training seconds). DIR holds
      the four IDX files of MNIST or of Fashion-MNIST (same names and format; --mnist is the
      older spelling). After each epoch FILE.json.ckpt keeps the model, optimizer, scaler and
      random state: the same command run again continues after the last finished epoch with
      the same shuffles and dropout masks, and the checkpoint is removed when the run ends.
      --stop-after K ends the process after epoch K with the checkpoint kept, as a session
      that ends would (tests use it).
"""
import argparse
import gzip
import json
import os
import sys

import numpy as np
import torch
import torch.nn as nn


class VGG(nn.Module):
    """The article's network: 4 conv blocks (64/128/256/512) and a 3-layer classifier."""

    def __init__(self, num_classes=10, input_channels=1, batch_norm=False, dropout=0.5):
        """batch_norm=True (not the article's): BatchNorm2d after each conv, laid out as
        torchvision's vgg*_bn (conv, bn, relu)."""
        super().__init__()
        layers = []
        cin = input_channels
        for cout in (64, 128, 256, 512):
            for c in (cin, cout):
                layers.append(nn.Conv2d(c, cout, kernel_size=3, padding=1))
                if batch_norm:
                    layers.append(nn.BatchNorm2d(cout))
                layers.append(nn.ReLU(inplace=True))
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
            cin = cout
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(
            nn.Linear(512 * 1 * 1, 4096),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(4096, 4096),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(4096, num_classes),
        )

    def forward(self, x):
        x = self.features(x)
        x = x.view(x.size(0), -1)
        return self.classifier(x)


def _open(path):
    if os.path.exists(path):
        return open(path, "rb")
    return gzip.open(path + ".gz", "rb")


def read_idx(mnist_dir, train):
    """(images uint8 (N, 28, 28), labels int64 (N,)) from the IDX files."""
    prefix = "train" if train else "t10k"
    with _open(os.path.join(mnist_dir, f"{prefix}-images-idx3-ubyte")) as f:
        raw = f.read()
    images = np.frombuffer(raw, dtype=np.uint8, offset=16).reshape(-1, 28, 28)
    with _open(os.path.join(mnist_dir, f"{prefix}-labels-idx1-ubyte")) as f:
        raw = f.read()
    labels = np.frombuffer(raw, dtype=np.uint8, offset=8).astype(np.int64)
    return images, labels


def normalize(images):
    """ToTensor() then Normalize((0.5,), (0.5,)): (N, 28, 28) uint8 -> (N, 1, 28, 28) float."""
    x = torch.from_numpy(images.copy()).float().div(255.0).unsqueeze(1)
    return (x - 0.5) / 0.5


def cmd_export(args):
    torch.manual_seed(args.seed)
    model = VGG(batch_norm=args.batch_norm)
    if args.batch_norm:
        # Running statistics worth comparing: three train-mode passes over training digits.
        train_images, _ = read_idx(args.mnist, train=True)
        model.train()
        with torch.no_grad():
            for k in range(3):
                model(normalize(train_images[k * 64 : (k + 1) * 64]))
    model.eval()
    images, labels = read_idx(args.mnist, train=False)
    x = normalize(images[: args.n])
    with torch.no_grad():
        logits = model(x)
    os.makedirs(args.out, exist_ok=True)
    torch.save(model.state_dict(), os.path.join(args.out, "vggnet_mnist.pth"))
    ref = {
        "torch_version": torch.__version__,
        "seed": args.seed,
        "labels": labels[: args.n].tolist(),
        "inputs": x.reshape(args.n, -1).tolist(),
        "logits": logits.tolist(),
        "keys": list(model.state_dict().keys()),
        "num_parameters": sum(p.numel() for p in model.parameters()),
    }
    with open(os.path.join(args.out, "reference.json"), "w") as f:
        json.dump(ref, f)


def cmd_logits(args):
    from safetensors.torch import load_file

    model = VGG(batch_norm=args.batch_norm)
    model.load_state_dict(load_file(args.weights))  # strict: every key, buffers included
    model.eval()
    images, _ = read_idx(args.mnist, train=False)
    with torch.no_grad(), _autocast(args):
        logits = model(normalize(images[: args.n])).float()
    json.dump({"logits": logits.tolist()}, sys.stdout)


def _autocast(args):
    """`--autocast bf16`: PyTorch's mixed precision on the CPU; `none`: float32."""
    return torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.autocast == "bf16")


def cmd_adamw(args):
    """Runs torch.optim.AdamW (the article's settings) over params p.<i> with gradients
    g<step>.<i> from a safetensors file; writes the params after each step as p<step>.<i>."""
    from safetensors.torch import load_file, save_file

    data = load_file(args.input)
    n = len([k for k in data if k.startswith("p.")])
    params = [torch.nn.Parameter(data[f"p.{i}"].clone()) for i in range(n)]
    opt = torch.optim.AdamW(params, lr=args.lr, weight_decay=args.weight_decay)
    out = {}
    for step in range(args.steps):
        opt.zero_grad()
        for i, p in enumerate(params):
            p.grad = data[f"g{step}.{i}"].clone()
        opt.step()
        for i, p in enumerate(params):
            out[f"p{step}.{i}"] = p.detach().clone().contiguous()
    save_file(out, args.output)


def cmd_steps(args):
    torch.manual_seed(args.seed)
    model = VGG(batch_norm=args.batch_norm, dropout=0.0)
    os.makedirs(args.out, exist_ok=True)
    torch.save(model.state_dict(), os.path.join(args.out, "init.pth"))
    # Dropout off (p = 0), so both sides see the same network on the same batches; train
    # mode, so batch norm (when on) normalizes with batch statistics and updates its buffers.
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-4)
    criterion = nn.CrossEntropyLoss()
    images, labels = read_idx(args.mnist, train=True)
    losses = []
    for k in range(args.steps):
        lo, hi = k * args.batch_size, (k + 1) * args.batch_size
        optimizer.zero_grad()
        with _autocast(args):
            loss = criterion(model(normalize(images[lo:hi])), torch.from_numpy(labels[lo:hi]))
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    test_images, _ = read_idx(args.mnist, train=False)
    model.eval()
    with torch.no_grad():
        logits = model(normalize(test_images[:8]))
    buffers = {k: v.tolist() for k, v in model.state_dict().items() if "running" in k or "num_batches" in k}
    _write_json(os.path.join(args.out, "steps.json"), {"losses": losses, "logits": logits.tolist(), "buffers": buffers})


def cmd_print(args):
    print(VGG(batch_norm=args.batch_norm))


def replace_atomically(path, write):
    """Writes `path` whole or not at all: write(tmp) fills a temporary file beside it, which is
    flushed to disk and then renamed over `path` (and the rename itself synced)."""
    tmp = path + ".tmp"
    write(tmp)
    with open(tmp, "rb") as f:
        os.fsync(f.fileno())
    os.replace(tmp, path)
    folder = os.open(os.path.dirname(os.path.abspath(path)), os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)


def _write_json(path, value):
    def write(tmp):
        with open(tmp, "w") as f:
            json.dump(value, f, indent=1)

    replace_atomically(path, write)


def _test_accuracy(model, x, y, device, batch=256):
    """The article's evaluate_model: eval mode, no_grad, argmax, percent correct."""
    model.eval()
    correct = 0
    with torch.no_grad():
        for i in range(0, len(y), batch):
            out = model(x[i : i + batch].to(device))
            correct += (out.argmax(1).cpu() == y[i : i + batch]).sum().item()
    model.train()
    return 100.0 * correct / len(y)


def train_step(model, optimizer, criterion, scaler, data, target, amp):
    """One step of the article's train_epoch: zero_grad, forward and loss under autocast
    (float16 on CUDA when amp), scaled backward, scaler.step and update. Returns the loss and
    the number of correct predictions, read back as the article does (.item())."""
    optimizer.zero_grad()
    with torch.autocast(device_type=data.device.type, enabled=amp):
        output = model(data)
        loss = criterion(output, target)
    scaler.scale(loss).backward()
    scaler.step(optimizer)
    scaler.update()
    return loss.item(), (output.argmax(1) == target).sum().item()


def cmd_train(args):
    import time

    from torch.utils.data import DataLoader, TensorDataset

    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    cuda = device.type == "cuda"
    torch.manual_seed(args.seed)
    images, labels = read_idx(args.data, train=True)
    test_images, test_labels = read_idx(args.data, train=False)
    train_set = TensorDataset(normalize(images[: args.train_limit]), torch.from_numpy(labels[: args.train_limit]))
    test_x = normalize(test_images[: args.test_limit])
    test_y = torch.from_numpy(test_labels[: args.test_limit])
    loader = DataLoader(train_set, batch_size=args.batch_size, shuffle=True)
    model = VGG().to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    criterion = nn.CrossEntropyLoss()
    scaler = torch.amp.GradScaler("cuda", enabled=cuda)
    result = {
        "torch_version": torch.__version__,
        "device": str(device),
        "threads": torch.get_num_threads(),
        "config": {k: v for k, v in vars(args).items() if k not in ("cmd", "out", "data", "stop_after")},
        "data": os.path.basename(os.path.realpath(args.data)),
        "train_images": len(train_set),
        "test_images": len(test_y),
        "epochs": [],
        "evals": [],
    }
    step, train_seconds, first_epoch = 0, 0.0, 1
    checkpoint = args.out + ".ckpt"
    if os.path.exists(checkpoint):
        saved = torch.load(checkpoint, weights_only=False)
        if saved["result"]["config"] != result["config"] or saved["result"]["data"] != result["data"]:
            sys.exit(f"{checkpoint}: written by a run with other settings or data; remove it to start afresh")
        model.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        scaler.load_state_dict(saved["scaler"])
        torch.set_rng_state(saved["rng"])
        result, step, train_seconds = saved["result"], saved["step"], saved["train_seconds"]
        first_epoch = saved["epoch"] + 1
        print(f"continuing {checkpoint} after epoch {saved['epoch']} (step {step})", flush=True)
    for epoch in range(first_epoch, args.epochs + 1):
        model.train()
        running_loss, correct, total = 0.0, 0, 0
        started = time.perf_counter()
        for data, target in loader:
            data, target = data.to(device), target.to(device)
            loss_value, right = train_step(model, optimizer, criterion, scaler, data, target, cuda)
            running_loss += loss_value
            correct += right
            total += target.size(0)
            step += 1
            if args.eval_every and step % args.eval_every == 0:
                train_seconds += time.perf_counter() - started
                acc = _test_accuracy(model, test_x, test_y, device)
                result["evals"].append({"step": step, "epoch": epoch, "test_accuracy": acc, "train_seconds": train_seconds})
                print(f"step {step}: test accuracy {acc:.2f}% after {train_seconds:.0f}s", flush=True)
                _write_json(args.out, result)
                started = time.perf_counter()
        train_seconds += time.perf_counter() - started
        acc = _test_accuracy(model, test_x, test_y, device)
        record = {
            "epoch": epoch,
            "train_loss": running_loss / len(loader),
            "train_accuracy": 100.0 * correct / total,
            "test_accuracy": acc,
            "train_seconds": train_seconds,
            "step": step,
        }
        result["epochs"].append(record)
        print(
            f"epoch {epoch}: train loss {record['train_loss']:.4f}, train accuracy {record['train_accuracy']:.2f}%, "
            f"test accuracy {acc:.2f}%",
            flush=True,
        )
        _write_json(args.out, result)
        if epoch < args.epochs:
            # The evaluation above draws no random numbers, so this is the state the next
            # epoch's shuffle and dropout start from, as in an uninterrupted run.
            state = {"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                     "scaler": scaler.state_dict(), "rng": torch.get_rng_state(), "result": result,
                     "step": step, "train_seconds": train_seconds, "epoch": epoch}
            replace_atomically(checkpoint, lambda tmp: torch.save(state, tmp))
            if epoch == args.stop_after:
                print(f"stopped after epoch {epoch}; run the same command again to continue", flush=True)
                return
    if os.path.exists(checkpoint):
        os.remove(checkpoint)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    e = sub.add_parser("export")
    e.add_argument("--out", required=True)
    e.add_argument("--mnist", required=True)
    e.add_argument("--seed", type=int, default=0)
    e.add_argument("--n", type=int, default=8)
    e.add_argument("--batch-norm", action="store_true")
    l = sub.add_parser("logits")
    l.add_argument("--weights", required=True)
    l.add_argument("--mnist", required=True)
    l.add_argument("--n", type=int, default=8)
    l.add_argument("--batch-norm", action="store_true")
    l.add_argument("--autocast", choices=["none", "bf16"], default="none")
    a = sub.add_parser("adamw")
    a.add_argument("--input", required=True)
    a.add_argument("--output", required=True)
    a.add_argument("--steps", type=int, default=3)
    a.add_argument("--lr", type=float, default=1e-3)
    a.add_argument("--weight-decay", type=float, default=1e-4)
    st = sub.add_parser("steps")
    st.add_argument("--out", required=True)
    st.add_argument("--mnist", required=True)
    st.add_argument("--seed", type=int, default=0)
    st.add_argument("--steps", type=int, default=20)
    st.add_argument("--batch-size", type=int, default=32)
    st.add_argument("--batch-norm", action="store_true")
    st.add_argument("--lr", type=float, default=1e-3)
    st.add_argument("--autocast", choices=["none", "bf16"], default="none")
    pr = sub.add_parser("print")
    pr.add_argument("--batch-norm", action="store_true")
    t = sub.add_parser("train")
    t.add_argument("--data", "--mnist", dest="data", required=True)
    t.add_argument("--out", required=True)
    t.add_argument("--epochs", type=int, default=5)
    t.add_argument("--batch-size", type=int, default=64)
    t.add_argument("--lr", type=float, default=1e-3)
    t.add_argument("--weight-decay", type=float, default=1e-4)
    t.add_argument("--seed", type=int, default=42)
    t.add_argument("--eval-every", type=int, default=0)
    t.add_argument("--train-limit", type=int, default=None)
    t.add_argument("--test-limit", type=int, default=None)
    t.add_argument("--threads", type=int, default=0)
    t.add_argument("--stop-after", type=int, default=None)
    args = p.parse_args()
    {"export": cmd_export, "logits": cmd_logits, "adamw": cmd_adamw, "steps": cmd_steps, "print": cmd_print,
     "train": cmd_train}[args.cmd](args)


if __name__ == "__main__":
    main()
