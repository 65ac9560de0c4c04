"""Warms the notebooks' Rust kernel: runs the first code cell of notebooks/01_model.ipynb (the
`:dep vggnet = { path = "..", default-features = false }` cell) and one statement in a fresh "vggnet-rust" kernel, so that
evcxr compiles the crate and tch into its build cache (~/.cache/vggnet/evcxr) now, during set-up,
instead of in a reader's first cell; then, in a fresh kernel each, every other notebook's `:dep vggnet`
line that differs from 01's (04 names the `digits` feature: another build of the crate). Prints how long each took: run again on a warm cache, that is
the latency of the first cells a reader runs after starting Jupyter.

With --table (`make first-cell`) it then runs five typical cells and prints a table: kernel start,
the `:dep` cell, the first `let`, each typical cell, and the time from starting the kernel to the
first printed value.

Usage: python scripts/warm_kernel.py [--timeout 3600] [--table] [--kernel-name vggnet-rust]
"""
import argparse
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent


# Five cells of the kind a reader runs next, with what each stands for.
TYPICAL = [
    ("a config (the fast recipe's settings)",
     "let settings = vggnet::recipe::Recipe::Fast.config();\nsettings.batch_size"),
    ("building the model", "let model = Vgg::new(config.clone(), vggnet::tch::Device::Cpu)?;"),
    ("a forward pass on one picture",
     "let x = vggnet::tch::Tensor::zeros([1, 1, 28, 28], (vggnet::tch::Kind::Float, vggnet::tch::Device::Cpu));\n"
     "model.forward_t(&x, false)?.size()"),
    ("printing the model", "println!(\"{model}\");"),
    ("arithmetic on a variable", "config.feature_size() * 2"),
]


def dep_line(source):
    """The `:dep vggnet = ...` line of a cell (what decides which build of the crate it loads)."""
    return next((l.strip() for l in source.splitlines() if l.startswith(":dep vggnet")), "")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--timeout", type=int, default=3600, help="per-cell timeout in seconds")
    p.add_argument("--table", action="store_true", help="also time five typical cells and print the table")
    p.add_argument("--kernel-name", default="vggnet-rust",
                   help="the kernel to time (another registered kernel, for a before/after comparison)")
    args = p.parse_args()
    first = next(c for c in nbformat.read(ROOT / "notebooks" / "01_model.ipynb", as_version=4).cells
                 if c.cell_type == "code")
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(first.source),
                nbformat.v4.new_code_cell('let config = VggConfig::default();\nconfig.num_parameters()')]
    if args.table:
        nb.cells += [nbformat.v4.new_code_cell(src) for _, src in TYPICAL]
    client = NotebookClient(nb, timeout=args.timeout, kernel_name=args.kernel_name, allow_errors=True,
                            resources={"metadata": {"path": str(ROOT / "notebooks")}})
    start = time.time()
    with client.setup_kernel():
        started = time.time() - start
        times = []
        for i, cell in enumerate(nb.cells):
            t = time.time()
            client.execute_cell(cell, i)
            times.append(time.time() - t)
            for out in cell.outputs:
                if out.get("output_type") == "error" or "error" in str(out.get("text", "")).lower():
                    sys.exit(f"warm-up cell {i} failed: {out}")
    value = "".join(str(o.get("data", {}).get("text/plain", "")) for o in nb.cells[1].outputs)
    if "23607754" not in value:
        sys.exit(f"warm-up: unexpected result {value!r}")
    print(f"kernel: started in {started:.1f}s; first cell of 01_model (:dep vggnet) {times[0]:.1f}s, "
          f"next cell {times[1]:.1f}s")
    warmed = {dep_line(first.source)}
    for path in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        cell = next(c for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code")
        if dep_line(cell.source) in warmed:
            continue
        warmed.add(dep_line(cell.source))
        other = nbformat.v4.new_notebook()
        other.cells = [nbformat.v4.new_code_cell(cell.source)]
        t = time.time()
        NotebookClient(other, timeout=args.timeout, kernel_name=args.kernel_name, allow_errors=True,
                       resources={"metadata": {"path": str(ROOT / "notebooks")}}).execute()
        for out in other.cells[0].outputs:
            if out.get("output_type") == "error" or "error" in str(out.get("text", "")).lower():
                sys.exit(f"warm-up of {path.name}'s first cell failed: {out}")
        print(f"kernel: first cell of {path.name} ({dep_line(cell.source)}) {time.time() - t:.1f}s")
    if args.table:
        rows = [("kernel start", started), (":dep vggnet (01's first cell)", times[0]),
                ("first let: a config and its parameter count", times[1])]
        rows += [(name, t) for (name, _), t in zip(TYPICAL, times[2:])]
        print("| cell | seconds |\n|---|---|")
        for name, t in rows:
            print(f"| {name} | {t:.1f} |")
        print(f"| **kernel start to the first printed value** | **{started + times[0] + times[1]:.1f}** |")


if __name__ == "__main__":
    main()
