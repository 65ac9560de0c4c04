"""Notebook 01 the way a teacher runs it: through Jupyter Lab's own UI, in a real browser.

`make start` (and `make lab`) open the notebooks in Jupyter Lab with the "Rust (vggnet)" kernel.
This check does what a person does there, in Debian's chromium driven headless by Selenium
through Debian's chromedriver (both paths given to Selenium, so Selenium Manager never looks for
or downloads a browser or a driver):
  - copies notebooks/01_model.ipynb, its outputs cleared, into a fresh temporary folder (what
    appears must come from this run, and Lab's autosave never touches notebooks/); the one
    relative path in it, `:dep vggnet = { path = ".." }`, becomes the repository's absolute path
    (evcxr makes it absolute the same way, so the kernel's warm build cache is used);
  - starts `.venv/bin/jupyter lab --no-browser` on that folder on a free 127.0.0.1 port with a
    random token, its settings and workspaces in the temporary folder too (a teacher's saved
    layout can neither change the check nor be changed by it);
  - opens the notebook's Lab URL, picks "Rust (vggnet)" in the kernel dialog when Lab asks
    (01's metadata names the kernel, so it usually does not), checks the toolbar names that kernel;
  - clicks Run > Run All Cells in Lab's menu bar, then waits (bounded, --timeout) until the
    kernel is idle and every code cell shows an execution count;
  - asserts in the page: no error or stderr output and no panic or rustc error text, the
    printed model's lines (the text tests/model.rs compares with PyTorch's print(model)), and at
    least one inline <img> in an output area, loaded, at least 100x100 px and not blank;
  - saves a screenshot of the whole notebook to out/lab/01_lab.png (also on failure), Lab's log to
    out/lab/lab.log, and prints the time taken.
Lab, its kernel and the browser are always stopped, also on failure. A missing chromium or
chromedriver fails the check (scripts/setup-notebooks.sh installs both as root).

Usage: python scripts/lab_check.py [--timeout 600] [--out out/lab] [--ask-kernel] [--keep]
"""
import argparse
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "notebooks" / "01_model.ipynb"
KERNEL_NAME, KERNEL_DISPLAY = "vggnet-rust", "Rust (vggnet)"
# Lines of 01's printed model (`println!("{model}")`): the text tests/model.rs holds equal to
# PyTorch's print(model) of the article's VGG, so they only change with the article's network.
EXPECTED_TEXT = [
    "(features): Sequential(",
    "(0): Conv2d(1, 64, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))",
    "(6): Linear(in_features=4096, out_features=10, bias=True)",
    "trainable parameters",
]
# What evcxr prints for a panic or a compile error (as scripts/run_notebooks.py checks).
BAD = re.compile(r"panicked at|error\[E\d+\]|^Error:|^error:", re.MULTILINE)


class CheckFailed(Exception):
    pass


def log(msg):
    print(f"lab check: {msg}", flush=True)


def find_binary(names, what):
    for name in names:
        path = shutil.which(name)
        if path:
            return path
    raise CheckFailed(f"{what} not found (looked for {', '.join(names)} on PATH): run `make setup-notebooks` as "
                      f"root, or `sudo apt-get install chromium chromium-driver`")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def prepare_notebook(dest, ask_kernel=False):
    """01 with every output and execution count cleared and its relative `:dep` path made absolute
    (with ask_kernel, without the kernel named in its metadata, so that Lab asks for one)."""
    nb = json.loads(NOTEBOOK.read_text())
    if ask_kernel:
        nb.get("metadata", {}).pop("kernelspec", None)
    if nb.get("metadata", {}).get("kernelspec", {}).get("name") not in (None, KERNEL_NAME):
        log(f"note: 01's metadata names the kernel {nb['metadata']['kernelspec'].get('name')!r}")
    rewritten = 0
    for cell in nb["cells"]:
        if cell["cell_type"] != "code":
            continue
        cell["outputs"], cell["execution_count"] = [], None
        src = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        new = re.sub(r'path\s*=\s*"\.\."', f'path = {json.dumps(str(ROOT))}', src)
        rewritten += new != src
        cell["source"] = new
    dest.write_text(json.dumps(nb, indent=1))
    return sum(c["cell_type"] == "code" for c in nb["cells"]), rewritten


def api(base, token, path, method="GET", timeout=10):
    req = urllib.request.Request(f"{base}{path}", method=method, headers={"Authorization": f"token {token}"},
                                 data=b"" if method == "POST" else None)
    with urllib.request.urlopen(req, timeout=timeout) as r:
        body = r.read()
        return json.loads(body) if body else None


def start_lab(tmp, port, token, log_file):
    """`jupyter lab` as `make lab` runs it, on tmp/work, with everything it writes kept in tmp."""
    env = dict(os.environ)
    # As the Makefile exports it (so `python scripts/lab_check.py` alone finds MNIST too).
    if "MNIST_DIR" not in env:
        shared = ROOT.parent / "shared" / "data" / "mnist"
        env["MNIST_DIR"] = str(shared if (shared / "train-images-idx3-ubyte.gz").exists() else ROOT / "data" / "mnist")
    env["JUPYTER_RUNTIME_DIR"] = str(tmp / "runtime")  # connection files: the kernel is found by them
    env.pop("JUPYTER_CONFIG_DIR", None)
    settings = tmp / "settings"
    # No news or update toasts over the page (they would ask for a click and hide cells).
    note = settings / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
    note.parent.mkdir(parents=True)
    note.write_text(json.dumps({"fetchNews": "false", "checkForUpdates": False}))
    cmd = [str(ROOT / ".venv" / "bin" / "jupyter"), "lab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
           "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}",
           f"--ServerApp.root_dir={tmp / 'work'}", f"--LabApp.user_settings_dir={settings}",
           f"--LabApp.workspaces_dir={tmp / 'workspaces'}"]
    if os.geteuid() == 0:  # CI and this project's machines run as root; Lab refuses that without the flag
        cmd.append("--allow-root")
    return subprocess.Popen(cmd, cwd=tmp / "work", env=env, stdout=log_file, stderr=subprocess.STDOUT,
                            start_new_session=True)


def wait_for_server(lab, base, token, deadline):
    while time.time() < deadline:
        if lab.poll() is not None:
            raise CheckFailed(f"jupyter lab exited with status {lab.returncode} before it answered (see its log)")
        try:
            api(base, token, "/api/status", timeout=5)
            return
        except (urllib.error.URLError, OSError):
            time.sleep(0.5)
    raise CheckFailed("jupyter lab did not answer on its port within 120 s")


def stop_lab(lab, base, token, tmp):
    """Kernels and server shut down through the API, then the server's process group and any kernel
    still holding one of this run's connection files are ended by pid."""
    if lab is None:
        return
    if lab.poll() is None:
        try:
            api(base, token, "/api/shutdown", method="POST", timeout=20)
        except Exception:
            pass
        try:
            lab.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(lab.pid, signal.SIGTERM)
            try:
                lab.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(lab.pid, signal.SIGKILL)
                lab.wait()
    runtime = str(tmp / "runtime")
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if runtime in cmdline and "evcxr" in cmdline:
            log(f"note: the kernel (pid {proc.name}) outlived Lab's shutdown; ending it")
            try:
                os.killpg(int(proc.name), signal.SIGKILL)
            except OSError:
                try:
                    os.kill(int(proc.name), signal.SIGKILL)
                except OSError:
                    pass


def start_browser(chromium, chromedriver, tmp):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = chromium
    for flag in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--window-size=1400,1000", f"--user-data-dir={tmp / 'chromium-profile'}"]:
        opts.add_argument(flag)
    service = Service(executable_path=chromedriver, log_output=str(tmp / "chromedriver.log"))
    driver = webdriver.Chrome(service=service, options=opts)
    driver.set_script_timeout(60)
    return driver


def wait_until(what, fn, timeout, interval=1.0):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        last = fn()
        if last:
            return last
        time.sleep(interval)
    raise CheckFailed(f"timed out after {timeout:.0f} s waiting for {what}")


# Everything the page shows about the notebook, read in one script.
PAGE_STATE = """
const nb = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook');
if (!nb) return null;
const prompts = Array.from(nb.querySelectorAll('.jp-CodeCell .jp-InputArea-prompt'))
    .map(p => p.textContent.trim());
const dialog = document.querySelector('.jp-Dialog');
const kernel = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Toolbar-kernelName');
return {prompts: prompts,
        dialog: dialog ? dialog.textContent.trim().slice(0, 300) : null,
        kernel: kernel ? kernel.textContent.trim() : null};
"""

# The outputs: text, error/stderr outputs, and each output image (loaded, size, blank or not).
OUTPUTS = """
const nb = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook');
const outs = Array.from(nb.querySelectorAll('.jp-OutputArea-output'));
const errors = outs.filter(o => o.getAttribute('data-mime-type') === 'application/vnd.jupyter.stderr'
                             || o.classList.contains('jp-mod-error'))
                   .map(o => o.textContent.slice(0, 500));
const images = Array.from(nb.querySelectorAll('.jp-OutputArea-output img')).map(img => {
  let drawn = -1;
  if (img.complete && img.naturalWidth) {
    const c = document.createElement('canvas'); c.width = img.naturalWidth; c.height = img.naturalHeight;
    const g = c.getContext('2d'); g.drawImage(img, 0, 0);
    const d = g.getImageData(0, 0, c.width, c.height).data; drawn = 0;
    for (let p = 0; p < d.length; p += 4)
      if (Math.abs(d[p] - d[0]) > 24 || Math.abs(d[p + 1] - d[1]) > 24 || Math.abs(d[p + 2] - d[2]) > 24) drawn++;
    drawn = drawn / (c.width * c.height);
  }
  return {complete: img.complete, w: img.naturalWidth, h: img.naturalHeight, drawn: drawn,
          shownW: img.getBoundingClientRect().width};
});
return {text: outs.map(o => o.textContent).join('\\n'), errors: errors, images: images, count: outs.length};
"""


def pick_kernel_if_asked(driver):
    """Lab's "Select Kernel" dialog: choose Rust (vggnet) and accept. Returns True when it was shown."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    dialogs = driver.find_elements(By.CSS_SELECTOR, ".jp-Dialog")
    if not dialogs:
        return False
    selects = dialogs[0].find_elements(By.CSS_SELECTOR, "select")
    if not selects:
        raise CheckFailed(f"Lab showed a dialog that is not the kernel choice: {dialogs[0].text[:300]!r}")
    sel = Select(selects[0])
    names = [o.text.strip() for o in sel.options]
    if KERNEL_DISPLAY not in names:
        raise CheckFailed(f"the kernel dialog offers no {KERNEL_DISPLAY!r} (it offers {names}): "
                          "run `make setup-notebooks` (it registers the kernel in .venv)")
    sel.select_by_visible_text(KERNEL_DISPLAY)
    dialogs[0].find_element(By.CSS_SELECTOR, ".jp-Dialog-button.jp-mod-accept").click()
    log(f"picked {KERNEL_DISPLAY!r} in Lab's kernel dialog")
    return True


def click_menu(driver, menu, item):
    """Opens `menu` in Lab's menu bar and clicks `item`, as a person does."""
    from selenium.webdriver.common.by import By

    labels = [e for e in driver.find_elements(By.CSS_SELECTOR, ".lm-MenuBar-itemLabel") if e.text.strip() == menu]
    if not labels:
        raise CheckFailed(f"Lab's menu bar has no {menu!r} menu")
    labels[0].click()
    entry = wait_until(f"{item!r} in the {menu} menu", lambda: [
        e for e in driver.find_elements(By.CSS_SELECTOR, ".lm-Menu .lm-Menu-itemLabel") if e.text.strip() == item], 10)
    entry[0].click()


def screenshot(driver, path):
    """The whole notebook from its top: the window is made as tall as the notebook's content first."""
    scroller = ("const n = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-WindowedPanel-outer')"
                " || document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook');")
    try:
        height = driver.execute_script(scroller + "return n ? n.scrollHeight : 1000;")
        driver.set_window_size(1400, min(int(height) + 300, 12000))
        time.sleep(1)
        driver.execute_script(scroller + "if (n) n.scrollTop = 0;")
        time.sleep(2)
    except Exception as e:  # the screenshot still comes, at the window's size
        log(f"note: could not size the window to the notebook ({e})")
    driver.save_screenshot(str(path))
    return path


def run_check(args, tmp, out_dir, times):
    chromium = find_binary(["chromium", "chromium-browser"], "Debian's chromium")
    chromedriver = find_binary(["chromedriver"], "Debian's chromedriver (package chromium-driver)")
    try:
        import selenium
    except ImportError:
        raise CheckFailed("selenium is not installed in .venv: run `make setup-notebooks`")
    (tmp / "work").mkdir()
    n_code, rewritten = prepare_notebook(tmp / "work" / NOTEBOOK.name, args.ask_kernel)
    log(f"01 copied to {tmp / 'work'} ({n_code} code cells, outputs cleared, {rewritten} `:dep` path made absolute); "
        f"selenium {selenium.__version__}, {chromium}, {chromedriver}")

    port, token = free_port(), secrets.token_hex(16)
    base = f"http://127.0.0.1:{port}"
    state = {"lab": None, "driver": None, "base": base, "token": token}
    lab_log = open(out_dir / "lab.log", "w")
    try:
        state["lab"] = start_lab(tmp, port, token, lab_log)
        wait_for_server(state["lab"], base, token, time.time() + 120)
        times["lab started"] = time.time() - times["t0"]
        log(f"jupyter lab answers on {base} ({times['lab started']:.0f} s)")

        driver = state["driver"] = start_browser(chromium, chromedriver, tmp)
        driver.get(f"{base}/lab/tree/{NOTEBOOK.name}?token={token}")
        asked = False

        def opened():
            nonlocal asked
            s = driver.execute_script(PAGE_STATE)
            if s and s["dialog"]:
                asked = pick_kernel_if_asked(driver) or asked
                return None
            return s if s and s["kernel"] == KERNEL_DISPLAY and len(s["prompts"]) == n_code else None

        try:
            wait_until(f"Lab to open 01 with the {KERNEL_DISPLAY!r} kernel", opened, 180)
        except CheckFailed:
            s = driver.execute_script(PAGE_STATE)
            raise CheckFailed(f"Lab did not open 01 with the {KERNEL_DISPLAY!r} kernel within 180 s "
                              f"(toolbar names {s and s['kernel']!r}, {s and len(s['prompts'])} of {n_code} code cells "
                              f"shown, dialog: {s and s['dialog']!r})")
        sessions = api(base, token, "/api/sessions")
        names = [x["kernel"]["name"] for x in sessions]
        if names != [KERNEL_NAME]:
            raise CheckFailed(f"the server runs the kernels {names}, expected [{KERNEL_NAME!r}]")
        times["notebook open"] = time.time() - times["t0"]
        log(f"01 open in Lab with the {KERNEL_DISPLAY!r} kernel"
            f"{' (chosen in the kernel dialog)' if asked else ' (named by its metadata, no dialog)'}")

        def kernel_state():
            return api(base, token, f"/api/kernels/{sessions[0]['kernel']['id']}")["execution_state"]

        wait_until("the kernel to start (idle)", lambda: kernel_state() == "idle", 300)
        times["kernel idle"] = time.time() - times["t0"]
        log(f"kernel started ({times['kernel idle']:.0f} s)")

        run_start = time.time()
        click_menu(driver, "Run", "Run All Cells")
        log("clicked Run > Run All Cells")

        idle_since = [None]

        def finished():
            s = driver.execute_script(PAGE_STATE)
            if s and s["dialog"]:
                raise CheckFailed(f"Lab showed a dialog while running: {s['dialog']!r}")
            prompts = s["prompts"] if s else []
            counted = len(prompts) == n_code and all(re.fullmatch(r"\[\d+\]:", p) for p in prompts)
            idle = kernel_state() == "idle"
            if counted and idle:
                return True
            # A cell that fails makes Lab drop the cells queued after it: the kernel then idles with
            # cells never run. Said at once rather than after the whole timeout.
            if idle and not any("*" in p for p in prompts):
                idle_since[0] = idle_since[0] or time.time()
                if time.time() - idle_since[0] > 20:
                    outs = driver.execute_script(OUTPUTS)
                    raise CheckFailed(f"the kernel is idle but not every cell ran (prompts {prompts}); "
                                      f"error outputs: {outs['errors']}")
            else:
                idle_since[0] = None
            return False

        try:
            wait_until("every code cell to run", finished, args.timeout, interval=2)
        except CheckFailed:
            s = driver.execute_script(PAGE_STATE)
            raise CheckFailed(f"the cells did not all run within {args.timeout} s: prompts {s and s['prompts']}, "
                              f"kernel {kernel_state()}")
        times["run all"] = time.time() - run_start
        log(f"all {n_code} code cells ran through the UI in {times['run all']:.0f} s")
        time.sleep(1)  # the last image decodes

        outs = driver.execute_script(OUTPUTS)
        problems = [f"error/stderr output in the page: {e!r}" for e in outs["errors"]]
        if BAD.search(outs["text"]):
            problems.append(f"panic or rustc error text in the outputs: {BAD.search(outs['text']).group(0)!r}")
        problems += [f"the page does not show {t!r}" for t in EXPECTED_TEXT if t not in outs["text"]]
        good = [i for i in outs["images"] if i["complete"] and i["w"] >= 100 and i["h"] >= 100 and i["drawn"] > 0.002]
        if not good:
            problems.append(f"no inline plot in an output area (images: {outs['images']})")
        log(f"page: {outs['count']} outputs, {len(outs['errors'])} error outputs, "
            f"{len(EXPECTED_TEXT) - sum(t not in outs['text'] for t in EXPECTED_TEXT)}/{len(EXPECTED_TEXT)} "
            f"model lines, images {[(i['w'], i['h'], round(i['drawn'], 3)) for i in outs['images']]}")
        shot = state["shot"] = screenshot(driver, out_dir / "01_lab.png")
        log(f"screenshot {shot}")
        if problems:
            raise CheckFailed("; ".join(problems))
    except Exception:
        if state["driver"] is not None and "shot" not in state:
            try:
                log(f"screenshot of the failure: {screenshot(state['driver'], out_dir / '01_lab.png')}")
            except Exception:
                pass
        raise
    finally:
        if state["driver"] is not None:
            try:
                state["driver"].quit()
            except Exception as e:
                log(f"note: the browser did not quit cleanly ({e})")
        stop_lab(state["lab"], base, token, tmp)
        lab_log.close()


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--timeout", type=int, default=600, help="seconds for Run All Cells to finish")
    p.add_argument("--out", default=str(ROOT / "out" / "lab"))
    p.add_argument("--ask-kernel", action="store_true",
                   help="drop the kernel named in 01's metadata from the copy: Lab then asks, and the check "
                        "picks Rust (vggnet) in the dialog")
    p.add_argument("--keep", action="store_true", help="keep the temporary folder (its path is printed)")
    args = p.parse_args()
    out_dir = Path(args.out).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "01_lab.png").unlink(missing_ok=True)
    times = {"t0": time.time()}
    tmp = Path(tempfile.mkdtemp(prefix="vggnet-lab-"))
    try:
        run_check(args, tmp, out_dir, times)
    except Exception as e:  # CheckFailed, and what Selenium or Lab raised
        what = "" if isinstance(e, CheckFailed) else f"{type(e).__name__}: "
        log(f"FAILED after {time.time() - times['t0']:.0f} s: {what}{e}")
        lab_log = out_dir / "lab.log"
        if lab_log.exists():
            tail = lab_log.read_text(errors="replace").splitlines()[-15:]
            log(f"the end of Lab's log ({lab_log}):\n  " + "\n  ".join(tail))
        sys.exit(1)
    finally:
        if args.keep:
            log(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    total = time.time() - times["t0"]
    log(f"timings: Lab answering {times['lab started']:.0f} s, 01 open {times['notebook open']:.0f} s, "
        f"kernel idle {times['kernel idle']:.0f} s, Run All Cells {times['run all']:.0f} s")
    log(f"01 ran through Jupyter Lab in {total:.0f} s")


if __name__ == "__main__":
    main()
