"""What a learner reads, checked: run by scripts/run_notebooks.py on every executed notebook.

  - repeated cells: two cells of a notebook with the same non-empty source (a section pasted
    twice reads as a mistake, and a repeated code cell does its work twice);
  - unbacked figures: a markdown cell that quotes a measured figure (a percentage with
    decimals, a duration, images per second, or a step count said of a result: "about 170
    steps", "after 80 steps") that no output of the notebook prints and whose paragraph cites
    no recorded source (a path under results/ or docs/). Such sentences were written for one
    run and drift from the outputs beside them; print the figure from the value instead, or
    cite where it was recorded;
  - blank charts: measured in the browser check (run_notebooks.py), where every image is drawn
    onto a canvas and an image whose pixels nearly all share one colour is reported. BLANK_PROBE
    is that script and blank_control_page() a page with one blank and one drawn image on which
    the probe must flag exactly the blank one, so the check is shown to work on every run.

`python scripts/notebook_reading.py` checks the committed notebooks' text (no execution) and
runs the self-test.
"""
import base64
import re
import struct
import sys
import zlib
from pathlib import Path

import nbformat

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


def reading_problems(nb, name):
    problems = []
    seen = {}
    for i, cell in enumerate(nb.cells):
        key = (cell.cell_type, cell.source.strip())
        if not key[1]:
            continue
        if key in seen:
            problems.append(f"{name} cell {i}: repeats cell {seen[key]} ({cell.cell_type})")
        else:
            seen[key] = i
    texts = _texts(nb)
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "markdown":
            continue
        for paragraph in _paragraphs(cell.source):
            if CITATION.search(paragraph):
                continue
            for number, words in _figures(paragraph):
                if not _printed(number, texts):
                    problems.append(f"{name} cell {i}: quotes \"{words}\", which no output of the notebook "
                                    "prints and no recorded result is cited for")
    return problems


# The browser half: each image is drawn onto a canvas; an image is blank when fewer than 0.2% of
# its pixels differ (by more than 24 in a channel) from its top-left pixel, the background.
BLANK_PROBE = (
    "var blank = [];"
    "Array.from(document.images).forEach(function (img, k) {"
    "  if (!img.complete || !img.naturalWidth) return;"
    "  var c = document.createElement('canvas'); c.width = img.naturalWidth; c.height = img.naturalHeight;"
    "  var g = c.getContext('2d'); g.drawImage(img, 0, 0);"
    "  var d = g.getImageData(0, 0, c.width, c.height).data, n = 0;"
    "  for (var p = 0; p < d.length; p += 4) {"
    "    if (Math.abs(d[p] - d[0]) > 24 || Math.abs(d[p + 1] - d[1]) > 24 || Math.abs(d[p + 2] - d[2]) > 24) n++;"
    "  }"
    "  if (n < 0.002 * c.width * c.height) blank.push(k);"
    "});"
    "var b = document.createElement('div'); b.textContent = 'BLANK=[' + blank.join(',') + ']';"
    "document.body.appendChild(b);"
)


def _png(width, height, pixel):
    """A grey-level PNG, pixel(x, y) -> 0..255."""
    raw = b"".join(b"\x00" + bytes(pixel(x, y) for x in range(width)) for y in range(height))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def blank_control_page():
    """An HTML page with a blank image (index 0) and a drawn one (index 1: a diagonal line)."""
    white = _png(200, 100, lambda x, y: 255)
    line = _png(200, 100, lambda x, y: 0 if abs(2 * y - x) < 3 else 255)
    imgs = "".join(f'<img src="data:image/png;base64,{base64.b64encode(p).decode()}">' for p in (white, line))
    return f"<html><body>{imgs}</body></html>"


def self_test():
    """The text checks flag what they are for and pass what they are not for."""
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


def main():
    self_test()
    root = Path(__file__).resolve().parent.parent
    problems = []
    for path in sorted((root / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        problems += reading_problems(nbformat.read(path, as_version=4), path.stem)
    for p in problems:
        print(p)
    print(f"notebook_reading: {len(problems)} problems in the committed notebooks")
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
