"""Two notebooks at once, as Jupyter Lab runs them: two "Rust (vggnet)" kernels started at the same
moment, each sent notebook 01's `:dep` cell at the same moment, then a few cells that define values and
use them, in both at once. Fails on any error output, on a value that is not what the cell computes, on
two kernels sharing one build folder (scripts/kernel.sh gives each its own), and on a kernel whose
`:dep` cell is far slower than a warm one (a kernel that compiled tch again). Prints each kernel's
times. In `make test` (target `two-kernels`).

Usage: python scripts/two_kernels.py [--kernels 2] [--timeout 900]
"""
import argparse
import queue
import re
import sys
import threading
import time
from pathlib import Path

import nbformat
from jupyter_client.manager import KernelManager

ROOT = Path(__file__).resolve().parent.parent
ERROR = re.compile(r"error(\[E\d+\])?:|panicked at|cannot find|Blocking waiting for file lock|"
                   r"Subprocess terminated", re.I)

# Cells that define values and use them (the kinds a notebook runs next); the last is the build folder.
CELLS = [
    ("a config", "let config = VggConfig::default();"),
    ("a value from it", "let n = config.num_parameters();"),
    ("a model", "let model = Vgg::new(config.clone(), Device::Cpu)?;"),
    ("a forward pass", "let x = tch::Tensor::zeros([2, 1, 28, 28], (tch::Kind::Float, Device::Cpu));\n"
                       "let y = tch::no_grad(|| model.forward_t(&x, false))?;\n"
                       "println!(\"logits {:?}, parameters {}\", y.size(), n);"),
    ("the build folder", "println!(\"build folder {}\", std::env::var(\"EVCXR_TMPDIR\").unwrap_or_default());"),
]
# A warm kernel's `:dep` cell takes seconds (make first-cell); one that compiles tch takes minutes.
WARM_BAR_S = 120.0


def run_cell(km, kc, code, timeout):
    """(text printed, errors) of one cell; a kernel that dies or hangs is an error, said at once."""
    msg_id = kc.execute(code)
    text, errors = [], []
    deadline = time.time() + timeout
    while True:
        try:
            msg = kc.get_iopub_msg(timeout=5)
        except queue.Empty:
            if not km.is_alive():
                return "".join(text), errors + ["the kernel died"]
            if time.time() > deadline:
                return "".join(text), errors + [f"no answer in {timeout}s"]
            continue
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        kind, content = msg["msg_type"], msg["content"]
        if kind == "stream":
            text.append(content["text"])
            if content["name"] == "stderr" and ERROR.search(content["text"]):
                errors.append(content["text"].strip()[:400])
        elif kind in ("execute_result", "display_data"):
            text.append(content["data"].get("text/plain", ""))
        elif kind == "error":
            errors.append((content.get("ename", "") + ": " + content.get("evalue", "")).strip()[:400])
        elif kind == "status" and content["execution_state"] == "idle":
            return "".join(text), errors


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--kernels", type=int, default=2)
    p.add_argument("--kernel-name", default="vggnet-rust", help="the kernel spec (another, to try a defect)")
    p.add_argument("--timeout", type=int, default=900, help="seconds per cell")
    args = p.parse_args()
    dep = next(c for c in nbformat.read(ROOT / "notebooks" / "01_model.ipynb", as_version=4).cells
               if c.cell_type == "code").source
    managers = [KernelManager(kernel_name=args.kernel_name) for _ in range(args.kernels)]
    results = [dict(problems=[], times={}, text="") for _ in managers]
    start = threading.Barrier(args.kernels)

    def drive(k):
        r, km = results[k], managers[k]
        t = time.time()
        km.start_kernel(cwd=str(ROOT / "notebooks"))
        kc = km.client()
        kc.start_channels()
        try:
            kc.wait_for_ready(timeout=120)
            r["times"]["kernel start"] = time.time() - t
            start.wait(timeout=300)  # every kernel gets its `:dep` cell at the same moment
            for name, code in [(":dep vggnet (01's first cell)", dep)] + CELLS:
                t = time.time()
                text, errors = run_cell(km, kc, code, args.timeout)
                r["times"][name] = time.time() - t
                r["text"] += text
                r["problems"] += [f"kernel {k + 1}, {name}: {e}" for e in errors]
                if not km.is_alive():
                    break
        except Exception as e:  # a kernel that died or hung
            start.abort()  # the others do not wait for this one at the start line
            r["problems"].append(f"kernel {k + 1}: {type(e).__name__}: {e}" +
                                 ("" if km.is_alive() else " (the kernel died)"))
        finally:
            kc.stop_channels()

    threads = [threading.Thread(target=drive, args=(k,)) for k in range(args.kernels)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for km in managers:
        km.shutdown_kernel(now=True)

    problems = [pr for r in results for pr in r["problems"]]
    folders = []
    for k, r in enumerate(results):
        print(f"kernel {k + 1}: " + ", ".join(f"{name} {s:.1f}s" for name, s in r["times"].items()), flush=True)
        m = re.search(r"logits \[2, 10\], parameters (\d+)", r["text"])
        if not m or int(m.group(1)) != 23607754:
            problems.append(f"kernel {k + 1}: the forward-pass cell did not print logits [2, 10] and 23607754 "
                            f"parameters: {r['text'][-300:]!r}")
        folder = re.search(r"build folder (\S*)", r["text"])
        folders.append(folder.group(1) if folder else "")
        dep_s = r["times"].get(":dep vggnet (01's first cell)")
        if dep_s is not None and dep_s > WARM_BAR_S:
            problems.append(f"kernel {k + 1}: the :dep cell took {dep_s:.0f}s (a warm one takes seconds): it built "
                            "from scratch")
    print("build folders: " + ", ".join(folders))
    if len(set(folders)) != len(folders) or "" in folders:
        problems.append(f"the kernels do not each have a build folder of their own: {folders}")
    for pr in problems:
        print("PROBLEM:", pr)
    print(f"two-kernels: {args.kernels} kernels at once, {len(problems)} problems")
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
