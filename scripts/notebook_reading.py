"""What a learner reads, checked: run by scripts/run_notebooks.py on every executed notebook.

  - repeated cells: two cells of a notebook with the same non-empty source (a section pasted
    twice reads as a mistake, and a repeated code cell does its work twice);
  - unbacked figures: a markdown cell that quotes a measured figure (a percentage with
    decimals, a duration, images per second, or a step count said of a result: "about 170
    steps", "after 80 steps") that no output of the notebook prints and whose paragraph cites
    no recorded source (a path under results/ or docs/). Such sentences were written for one
    run and drift from the outputs beside them; print the figure from the value instead, or
    cite where it was recorded;
  - long cells without warning: a code cell that ran longer than LONG_CELL seconds when the
    notebook was published (its `vggnet_seconds` metadata, written by `--publish`) must say so in
    the markdown cell above it, as "takes about N seconds" or "takes about N minutes" (on the
    machine that published it), within a factor of 2 of the time recorded;
  - figures a person cannot read, on every image output: wider than a notebook shows without
    scaling (MAX_WIDTH px); a title wider than its panel (measured: the crate's figures record each
    title's rendered width and its panel's width in a `vggnet-layout` PNG text chunk,
    vggnet::plot::Layout); pictures of one source size drawn at different sizes, or not in their
    source's aspect (a heatmap squeezed under its digit); a curve of fewer than 5 points; an
    image without the layout chunk (not drawn by the crate, so unchecked);
  - links: a relative link that leads to no file, and a project path (`src/...`, `tests/...`,
    `docs/...`, `results/...`) named in backticks without a link to it;
  - code lines over 100 columns in the notebooks whose code is the lesson (NARROW);
  - blank charts and empty bands: measured in the browser check (run_notebooks.py), where every
    image is drawn onto a canvas; an image whose pixels nearly all share one colour is reported,
    and so is one with an empty band (rows or columns of background only) over a tenth of its
    height or width. BLANK_PROBE is that script and blank_control_page() a page with a blank, a
    drawn and a banded image on which the probe must flag exactly the blank and the banded one,
    so the check is shown to work on every run.

`python scripts/notebook_reading.py` checks the committed notebooks' text and figures (no
execution) and runs the self-test; `--figures DIR` checks the PNG files in DIR (tests/figures.rs).
"""
import base64
import json
import re
import struct
import sys
import zlib
from pathlib import Path


# A number as written ("99.14", "1,000", "2.7"), then what makes it a measurement.
NUMBER = r"(\d[\d,]*(?:\.\d+)?)"
MEASURED = [
    re.compile(NUMBER + r"\s*%", re.I),  # percentages: only those with decimals count, below
    re.compile(NUMBER + r"\s*(?:s|ms|sec|seconds?|min|minutes?|hours?)\b"),
    re.compile(NUMBER + r"\s*images/s\b"),
    re.compile(r"(?:about|~|after|within|by|needs|takes|took|reaches|reached)\s+(?:step\s+)?"
               + NUMBER + r"(?:\s*steps\b)?", re.I),
]
CITATION = re.compile(r"results/|docs/")
LONG_CELL = 30  # seconds
DURATION_NOTE = re.compile(r"takes about (\d+(?:\.\d+)?) (seconds|minutes?)")


def _texts(nb):
    out = []
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        for o in cell.get("outputs", []):
            if o.get("output_type") == "stream":
                out.append(o.get("text", ""))
            elif o.get("output_type") in ("execute_result", "display_data"):
                plain = o.get("data", {}).get("text/plain", "")
                out.append(plain if isinstance(plain, str) else "".join(plain))
        out.append(cell.source)  # a value set in the code (a setting) is not a measured claim
    return "\n".join(out)


def _paragraphs(markdown):
    """Paragraphs and list items: a figure is backed by a citation in its own one."""
    parts = []
    for block in re.split(r"\n\s*\n", markdown):
        item = []
        for line in block.splitlines():
            if re.match(r"\s*([*-]|\d+\.)\s", line) and item:
                parts.append("\n".join(item))
                item = []
            item.append(line)
        if item:
            parts.append("\n".join(item))
    return parts


def _figures(paragraph):
    """The measured figures quoted in a paragraph, as (number, the words around it)."""
    text = re.sub(r"`[^`]*`", "", paragraph)  # code spans name settings and APIs, not results
    found = []
    for k, pattern in enumerate(MEASURED):
        for m in pattern.finditer(text):
            number = m.group(1)
            if k == 0 and "." not in number:
                continue  # 10%, 97%: shares and bars, not measurements
            if k == 3 and not re.search(r"steps\b|step\s+\d", m.group(0)):
                continue
            found.append((number, m.group(0).strip()))
    return found


def _printed(number, texts):
    """True when the number appears in the outputs as a number of its own (not inside another)."""
    plain = number.replace(",", "")
    for n in {number, plain}:
        if re.search(r"(?<![\d.])" + re.escape(n) + r"(?![\d])", texts):
            return True
    return False


MAX_WIDTH = 1000  # px: vggnet::plot::MAX_WIDTH
MIN_CURVE_POINTS = 5


def png_layout(png):
    """(width, height, layout or None) of a PNG: its IHDR and its `vggnet-layout` tEXt chunk."""
    if png[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG")
    pos, width, height, layout = 8, 0, 0, None
    while pos + 8 <= len(png):
        length, kind = struct.unpack(">I4s", png[pos:pos + 8])
        data = png[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height = struct.unpack(">II", data[:8])
        elif kind == b"tEXt":
            key, _, text = data.partition(b"\x00")
            if key == b"vggnet-layout":
                layout = json.loads(text.decode("latin-1"))
        pos += 12 + length
    return width, height, layout


def figure_problems(png, where):
    """What makes the figure `png` hard to read (see the module's doc)."""
    width, height, layout = png_layout(png)
    problems = []
    if width > MAX_WIDTH:
        problems.append(f"{where}: {width} px wide, more than the {MAX_WIDTH} px a notebook shows unscaled")
    if layout is None:
        return problems + [f"{where}: no vggnet-layout chunk (not drawn by vggnet::plot; nothing checked)"]
    for t in layout["titles"]:
        if t["width"] > t["panel"]:
            problems.append(f"{where}: title \"{t['text']}\" is {t['width']} px wide in a {t['panel']} px panel")
    drawn = {}
    for p in layout["pictures"]:
        (sw, sh), (dw, dh) = p["source"], p["drawn"]
        if abs(dw * sh - dh * sw) > max(sw, sh):
            problems.append(f"{where}: a {sw}x{sh} picture drawn {dw}x{dh}: not in its aspect")
        drawn.setdefault((sw, sh), set()).add((dw, dh))
    for (sw, sh), sizes in drawn.items():
        if len(sizes) > 1:
            problems.append(f"{where}: {sw}x{sh} pictures drawn at {len(sizes)} sizes {sorted(sizes)}: not at one scale")
    for c in layout["series"]:
        if c["curve"] and c["points"] < MIN_CURVE_POINTS:
            problems.append(f"{where}: the curve \"{c['name']}\" has {c['points']} point(s), fewer than {MIN_CURVE_POINTS}")
    return problems


def image_outputs(nb):
    """(cell index, output index, PNG bytes) of every PNG output of a notebook."""
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        for k, out in enumerate(cell.get("outputs", [])):
            data = out.get("data", {})
            if "image/png" in data:
                b64 = data["image/png"]
                yield i, k, base64.b64decode(b64 if isinstance(b64, str) else "".join(b64))


def duration_problems(nb, name):
    """Cells that ran longer than LONG_CELL s when published, without a true duration note above them."""
    problems = []
    for i, cell in enumerate(nb.cells):
        seconds = cell.get("metadata", {}).get("vggnet_seconds")
        if cell.cell_type != "code" or seconds is None or seconds <= LONG_CELL:
            continue
        above = next((c for c in reversed(nb.cells[:i]) if c.cell_type == "markdown"), None)
        m = DURATION_NOTE.search(above.source) if above is not None else None
        if not m:
            problems.append(f"{name} cell {i}: ran {seconds:.0f} s when published, and the cell above does not say "
                            "how long it takes (\"takes about N seconds/minutes\")")
            continue
        said = float(m.group(1)) * (60 if m.group(2).startswith("minute") else 1)
        if not seconds / 2 <= said <= seconds * 2:
            problems.append(f"{name} cell {i}: the cell above says it \"{m.group(0)}\", it ran {seconds:.0f} s when published")
    return problems


ROOT = Path(__file__).resolve().parent.parent
# A markdown link to a file of the project, and a file of the project named in backticks without one.
LINK = re.compile(r"\]\((?!https?://|#)([^)\s]+)\)")
UNLINKED_PATH = re.compile(r"(?<!\[)`((?:src|tests|docs|results|python|scripts)/[\w./-]*)`(?!\]\()")
# Code within 100 columns, in the notebooks whose code is the lesson (02 writes the article's loop out).
NARROW = ("02_", "04_", "07_")
COLUMNS = 100


def link_problems(nb, name, notebook_dir):
    """Every relative link resolves to a file or folder of the project, and every project path in a
    markdown cell's backticks is a link a reader can click."""
    problems = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "markdown":
            continue
        text = re.sub(r"```.*?```", "", cell.source, flags=re.S)
        for target in LINK.findall(text):
            if not (notebook_dir / target.split("#")[0]).exists():
                problems.append(f"{name} cell {i}: the link ({target}) leads to no file")
        for path in UNLINKED_PATH.findall(text):
            problems.append(f"{name} cell {i}: `{path}` is named without a link ([`{path}`](../{path}))")
    return problems


def column_problems(nb, name):
    if not name.startswith(NARROW):
        return []
    return [f"{name} cell {i}: a code line of {len(line)} columns, more than {COLUMNS}: {line[:50]}..."
            for i, cell in enumerate(nb.cells) if cell.cell_type == "code"
            for line in cell.source.splitlines() if len(line) > COLUMNS]


def reading_problems(nb, name, notebook_dir=ROOT / "notebooks"):
    problems = duration_problems(nb, name) + link_problems(nb, name, notebook_dir) + column_problems(nb, name)
    seen = {}
    for i, cell in enumerate(nb.cells):
        key = (cell.cell_type, cell.source.strip())
        if not key[1]:
            continue
        if key in seen:
            problems.append(f"{name} cell {i}: repeats cell {seen[key]} ({cell.cell_type})")
        else:
            seen[key] = i
    for i, k, png in image_outputs(nb):
        problems += figure_problems(png, f"{name} cell {i} image {k}")
    texts = _texts(nb)
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "markdown":
            continue
        for paragraph in _paragraphs(cell.source):
            if CITATION.search(paragraph) or DURATION_NOTE.search(paragraph):
                continue  # cited, or a long cell's duration note (checked in duration_problems)
            for number, words in _figures(paragraph):
                if not _printed(number, texts):
                    problems.append(f"{name} cell {i}: quotes \"{words}\", which no output of the notebook "
                                    "prints and no recorded result is cited for")
    return problems


# The browser half: each image is drawn onto a canvas; an image is blank when fewer than 0.2% of
# its pixels differ (by more than 24 in a channel) from its top-left pixel, the background.
BLANK_PROBE = (
    "var blank = [], bands = [];"
    "Array.from(document.images).forEach(function (img, k) {"
    "  if (!img.complete || !img.naturalWidth) return;"
    "  var c = document.createElement('canvas'); c.width = img.naturalWidth; c.height = img.naturalHeight;"
    "  var g = c.getContext('2d'); g.drawImage(img, 0, 0);"
    "  var d = g.getImageData(0, 0, c.width, c.height).data, n = 0;"
    "  for (var p = 0; p < d.length; p += 4) {"
    "    if (Math.abs(d[p] - d[0]) > 24 || Math.abs(d[p + 1] - d[1]) > 24 || Math.abs(d[p + 2] - d[2]) > 24) n++;"
    "  }"
    "  if (n < 0.002 * c.width * c.height) { blank.push(k); return; }"
    "  var W = c.width, H = c.height, row = new Uint8Array(H), col = new Uint8Array(W);"
    "  for (var y = 0; y < H; y++) for (var x = 0; x < W; x++) { var q = 4 * (y * W + x);"
    "    if (Math.abs(d[q] - d[0]) > 24 || Math.abs(d[q + 1] - d[1]) > 24 || Math.abs(d[q + 2] - d[2]) > 24) {"
    "      row[y] = 1; col[x] = 1; } }"
    "  var longest = function (a) { var best = 0, run = 0;"
    "    for (var i = 0; i < a.length; i++) { run = a[i] ? 0 : run + 1; best = Math.max(best, run); } return best; };"
    "  var r = longest(row) / H, s = longest(col) / W;"
    "  if (r > 0.1 || s > 0.1) bands.push(k + ':' + Math.round(100 * Math.max(r, s)) + '%');"
    "});"
    "var b = document.createElement('div'); b.textContent = 'BLANK=[' + blank.join(',') + ']';"
    "document.body.appendChild(b);"
    "var e = document.createElement('div'); e.textContent = 'BANDS=[' + bands.join(',') + ']';"
    "document.body.appendChild(e);"
)


def _png(width, height, pixel, layout=None):
    """A grey-level PNG, pixel(x, y) -> 0..255, with `layout` as its vggnet-layout chunk."""
    raw = b"".join(b"\x00" + bytes(pixel(x, y) for x in range(width)) for y in range(height))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    text = b"" if layout is None else chunk(b"tEXt", b"vggnet-layout\x00" + json.dumps(layout).encode())
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + text + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def blank_control_page():
    """An HTML page with a blank image (index 0), a drawn one (index 1: a diagonal line) and one
    drawn only in its top two thirds (index 2: an empty band of a third of its height)."""
    white = _png(200, 100, lambda x, y: 255)
    line = _png(200, 100, lambda x, y: 0 if abs(2 * y - x) < 3 else 255)
    banded = _png(200, 100, lambda x, y: 0 if 2 <= y < 66 and abs(3 * y - x) < 3 else 255)
    imgs = "".join(f'<img src="data:image/png;base64,{base64.b64encode(p).decode()}">' for p in (white, line, banded))
    return f"<html><body>{imgs}</body></html>"


def self_test():
    """The text checks flag what they are for and pass what they are not for."""
    import nbformat
    nb = nbformat.v4.new_notebook()
    code = nbformat.v4.new_code_cell("let acc = train();")
    code.outputs = [nbformat.v4.new_output("stream", text="test accuracy 66.70% after 120 steps (41.2 s)\n")]
    nb.cells = [
        nbformat.v4.new_markdown_cell("The run printed 66.70% after 120 steps, in 41.2 s; chance is 10%."),
        code,
        nbformat.v4.new_markdown_cell("The smaller rate leaves the plateau after about 170 steps, at 57.2%."),
        nbformat.v4.new_markdown_cell("Recorded: 99.14 +- 0.08% in 182-206 s (results/recipes/)."),
        nbformat.v4.new_markdown_cell("The run printed 66.70% after 120 steps, in 41.2 s; chance is 10%."),
    ]
    got = reading_problems(nb, "t")
    want = ['cell 2: quotes "about 170 steps"', 'cell 2: quotes "57.2%"', "cell 4: repeats cell 0"]
    for w in want:
        assert any(w in g for g in got), f"notebook_reading self-test: expected {w!r} in {got}"
    assert len(got) == len(want), f"notebook_reading self-test: unexpected problems {got}"
    long = nbformat.v4.new_code_cell("train();")
    long.metadata["vggnet_seconds"] = 300.0
    nb.cells = [nbformat.v4.new_markdown_cell("The training."), long,
                nbformat.v4.new_markdown_cell("This cell takes about 20 seconds."), nbformat.v4.new_code_cell("a();"),
                nbformat.v4.new_markdown_cell("This cell takes about 5 minutes on the machine that published it."),
                nbformat.v4.new_code_cell("b();")]
    nb.cells[3].metadata["vggnet_seconds"] = 300.0
    nb.cells[5].metadata["vggnet_seconds"] = 290.0
    got = duration_problems(nb, "t")
    assert len(got) == 2 and "cell 1: ran 300 s" in got[0] and "takes about 20 seconds" in got[1], got
    nb.cells = [nbformat.v4.new_markdown_cell("See [`src/lib.rs`](../src/lib.rs), [the book](https://x.org/b), "
                                              "[gone](../src/gone.rs) and `src/run/mod.rs`.\n```\n`src/a.rs`\n```"),
                nbformat.v4.new_code_cell("let x = 1; // " + "x" * 100)]
    got = link_problems(nb, "t", ROOT / "notebooks")
    assert len(got) == 2 and "(../src/gone.rs)" in got[0] and "`src/run/mod.rs` is named" in got[1], got
    assert len(column_problems(nb, "02_t")) == 1 and column_problems(nb, "03_t") == [], "column check"
    figure_self_test()


def figure_self_test():
    """The figure checks pass a readable figure and flag each defect they are for."""
    good = {"titles": [{"text": "True: 7, Pred: 7", "width": 120, "panel": 160}],
            "pictures": [{"source": [28, 28], "drawn": [140, 140]}] * 2,
            "series": [{"name": "loss", "points": 75, "curve": True}, {"name": "mark", "points": 2, "curve": False}]}
    bad = {"titles": [{"text": "#6 True: Coat, Pred: Pullover", "width": 231, "panel": 160}],
           "pictures": [{"source": [28, 28], "drawn": [140, 140]}, {"source": [28, 28], "drawn": [112, 106]}],
           "series": [{"name": "test accuracy", "points": 1, "curve": True}]}
    assert figure_problems(_png(8, 8, lambda x, y: 0, good), "g") == [], figure_problems(_png(8, 8, lambda x, y: 0, good), "g")
    got = figure_problems(_png(1677, 2, lambda x, y: 0, bad), "b")
    want = ["1677 px wide", "is 231 px wide in a 160 px panel", "drawn 112x106: not in its aspect",
            "drawn at 2 sizes", "has 1 point(s)"]
    for w in want:
        assert any(w in g for g in got), f"notebook_reading self-test: expected {w!r} in {got}"
    assert len(got) == len(want), f"notebook_reading self-test: unexpected figure problems {got}"
    assert "no vggnet-layout chunk" in figure_problems(_png(8, 8, lambda x, y: 0), "n")[0]


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--figures":
        figure_self_test()
        # PNG files drawn by the crate (tests/figures.rs): the figure checks alone.
        problems = []
        for png in sorted(Path(sys.argv[2]).glob("*.png")):
            problems += figure_problems(png.read_bytes(), png.name)
            print(f"{png.name}: {png_layout(png.read_bytes())[:2]}")
        for p in problems:
            print(p)
        print(f"notebook_reading: {len(problems)} figure problems")
        sys.exit(1 if problems else 0)
    import nbformat
    self_test()
    root = ROOT
    problems = []
    for path in sorted((root / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        problems += reading_problems(nbformat.read(path, as_version=4), path.stem)
    for p in problems:
        print(p)
    print(f"notebook_reading: {len(problems)} problems in the committed notebooks")
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
