"""Warms the notebooks' Rust kernel: runs the first code cell of notebooks/01_model.ipynb (the
`:dep vggnet = { path = "..", default-features = false }` cell) and one statement in a fresh "vggnet-rust" kernel, so that
evcxr compiles the crate and tch into its build cache (~/.cache/vggnet/evcxr) now, during set-up,
instead of in a reader's first cell. Prints how long each took: run again on a warm cache, that is
the latency of the first cells a reader runs after starting Jupyter (`make first-cell` does).

Usage: python scripts/warm_kernel.py [--timeout 3600]
"""
import argparse
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--timeout", type=int, default=3600, help="per-cell timeout in seconds")
    args = p.parse_args()
    first = next(c for c in nbformat.read(ROOT / "notebooks" / "01_model.ipynb", as_version=4).cells
                 if c.cell_type == "code")
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(first.source),
                nbformat.v4.new_code_cell('let config = VggConfig::default();\nconfig.num_parameters()')]
    client = NotebookClient(nb, timeout=args.timeout, kernel_name="vggnet-rust", allow_errors=True,
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


if __name__ == "__main__":
    main()
