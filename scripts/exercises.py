"""The notebooks' exercises, done as written and their answers checked (`make notebooks` runs it
after the notebooks themselves; `make exercises` alone).

Each exercise whose answer is code or a change to a setting is an `Exercise` below:
  - `edits`: the change the exercise asks for, as (cell, old, new). `new` must appear word for
    word in the exercise's text (so the check does what a learner reading it does, and the two
    cannot drift apart); `answer_code` instead takes the answer's ```rust block as a new cell;
  - `cells`: the cells a learner then runs, found by a line of their source, in that order:
    the cells the exercise names, after the cells they need from above (a learner who has run
    the notebook has those already; "=marker" is a cell as published, before the edit). The notebook's long cells (02's training) are left out
    unless the exercise asks for them; an exercise that needs a long run says so and is
    checked on the narrow network;
  - `expect(out, ctx)`: what the answer states, asserted from the cells' printed output (and,
    where the answer compares, from the executed notebooks in out/notebooks/); it returns the
    problems and prints the values it measured.
The copy runs in notebooks/ (so that `:dep vggnet = { path = ".." }` is the crate the kernel has
built already); an exercise that trains 02's run again uses `../runs/exercises` in place of
`../runs/notebook` in all its notebooks, so that the notebooks' own run is left alone (the others
read the notebooks' run, as a learner's notebooks do).

Usage: python scripts/exercises.py [--only 02_training[:2],...] [--executed out/notebooks] [--precision native|float32|both]
       python scripts/exercises.py --static   (every copy built and its edits checked, nothing run: seconds)

--precision both (the default, what `make notebooks` runs): the checks as the notebooks run on this CPU, then
the ones whose run trains in the chosen precision again with 02's run forced to float32, where that is another path.
"""
import argparse
import base64
import json
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
from notebook_reading import png_layout  # noqa: E402
from run_notebooks import BAD, cell_duration, output_text  # noqa: E402


@dataclass
class Exercise:
    notebook: str
    numbers: list            # the exercises of `notebook` this check does (their answers' code, in order)
    cells: list              # the cells a learner runs, by a line of their source ("=line": as published)
    expect: object           # expect(out, ctx) -> problems
    edits: list = field(default_factory=list)        # (cell line, old, new): `new` is in the exercise's text
    check_edits: list = field(default_factory=list)  # (cell line, old, new): the check's own shortcut, said in `why`
    answer_code: bool = False                        # the exercises' ```rust blocks, as new cells at the end
    then: list = field(default_factory=list)         # (notebook, cells): run next, in a kernel of its own
    expected_error: str = ""                         # an error the answer says the cells give
    probe: str = ""                                  # a cell of the check's own, run last, that prints what it asserts
    why: str = ""


def floats(pattern, text):
    return [float(m) for m in re.findall(pattern, text)]


def exercise_text(nb, number):
    """The markdown of exercise `number` in the notebook's Exercises cell."""
    for cell in nb.cells:
        if cell.cell_type == "markdown" and cell.source.lstrip().startswith("## Exercises"):
            for p in re.split(r"\n(?=\*\*\d+\. )", cell.source):
                if p.startswith(f"**{number}. "):
                    return p
    raise SystemExit(f"exercise {number} not found in the notebook's Exercises cell")


def find_cell(nb, marker):
    found = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and marker in c.source]
    if len(found) != 1:
        raise SystemExit(f"expected one code cell containing {marker!r}, found {len(found)}")
    return found[0]


def notebook_path(name):
    return next((ROOT / "notebooks").glob(f"{name}*.ipynb"))


def trains(ex):
    """Whether the exercise trains a run of its own (02's run cell): then every notebook of it uses that run."""
    return any(any("let run_config = RunConfig" in m for m in markers) for _, markers in [(ex.notebook, ex.cells)] + ex.then)


def build(name, markers, ex, texts):
    """A notebook of the cells `markers` of notebook `name`, with the exercise's edits."""
    path = notebook_path(name)
    pristine = nbformat.read(path, as_version=4)
    published = nbformat.read(path, as_version=4)
    edited = nbformat.read(path, as_version=4)
    problems = []
    def mine(edits):
        """The edits of notebook `name`: (notebook, cell, old, new), or (cell, old, new) for the exercise's own."""
        return [e[1:] for e in edits if len(e) == 4 and e[0] == name] + \
            [e for e in edits if len(e) == 3 and name == ex.notebook]
    for nb, edits in ((published, mine(ex.check_edits)), (edited, mine(ex.check_edits) + mine(ex.edits))):
        for marker, old, new in edits:
            i = find_cell(pristine, marker)
            if old not in nb.cells[i].source:
                problems.append(f"`{old}` is not in the cell {marker!r} of {name}")
            nb.cells[i].source = nb.cells[i].source.replace(old, new)
    if name == ex.notebook:
        for *_, old, new in ex.edits:
            added = "\n".join(line for line in new.splitlines() if line not in old)  # an added line: itself
            if not any(added in t for t in texts):
                problems.append(f"the edit `{added}` is not written in the exercise's text")
    # Cells are found by their published source; "=" takes them as published, else as edited.
    cells = [nbformat.from_dict(json.loads(json.dumps(published.cells[find_cell(pristine, m[1:])]))) if m.startswith("=")
             else edited.cells[find_cell(pristine, m)] for m in markers]
    if ex.answer_code and name == ex.notebook:
        for t in texts:
            m = re.search(r"```rust\n(.*?)```", t, re.S)
            if not m:
                problems.append("an exercise named as code has no ```rust block")
            else:
                cells.append(nbformat.v4.new_code_cell(m.group(1)))
    if ex.probe and name == ex.notebook:
        cells.append(nbformat.v4.new_code_cell(ex.probe))
    for c in cells:
        if trains(ex):
            c.source = c.source.replace("../runs/notebook", "../runs/exercises")
        c.outputs = []
    out = nbformat.v4.new_notebook()
    out.metadata = published.metadata
    out.cells = cells
    return out, path, problems


def run(ex, executed):
    texts = [exercise_text(nbformat.read(notebook_path(ex.notebook), as_version=4), n) for n in ex.numbers]
    problems, outputs, images, seconds, cell_seconds = [], [], [], [], []
    for name, markers in [(ex.notebook, ex.cells)] + ex.then:
        nb, path, found = build(name, markers, ex, texts)
        if found:
            return found, sum(seconds)
        if not markers:
            continue
        start = time.time()
        client = NotebookClient(nb, timeout=1200, kernel_name="vggnet-rust",
                                resources={"metadata": {"path": str(path.parent)}}, allow_errors=True)
        try:
            client.execute()
        except Exception as e:  # kernel death, timeout
            return [f"{name}: execution failed: {e}"], sum(seconds) + time.time() - start
        seconds.append(time.time() - start)
        cell_seconds += [cell_duration(c) for c in nb.cells]
        for c in nb.cells:
            for o in c.get("outputs", []):
                t = output_text(o)
                outputs.append(t)
                expected = ex.expected_error and ex.expected_error in t
                if (o.get("output_type") == "error" or BAD.search(t)) and not expected:
                    problems.append(f"{name}: error in the output: {t[:300]}")
                png = o.get("data", {}).get("image/png")
                if png:
                    images.append(png_layout(base64.b64decode(png if isinstance(png, str) else "".join(png)))[2])
    ctx = {"executed": executed, "images": images, "seconds": seconds, "cell_seconds": cell_seconds}
    if problems:
        return problems, sum(seconds)
    return ex.expect("\n".join(outputs), ctx) or [], sum(seconds)


def published_output(ctx, notebook, marker):
    """The printed output of the cell containing `marker` in the executed notebook (out/notebooks/ after
    `make notebooks`), else in the committed one."""
    path = next(Path(ctx["executed"]).glob(f"{notebook}*.ipynb"), None) or notebook_path(notebook)
    nb = nbformat.read(path, as_version=4)
    return "\n".join(output_text(o) for o in nb.cells[find_cell(nb, marker)].get("outputs", []))


# ---------------------------------------------------------------------------------------------
# The exercises, notebook by notebook. Each bar is set between what the answer states and where
# the defect it guards against lands (named in the comment beside it), and the values measured
# are printed.

def check(problems, ok, message):
    if not ok:
        problems.append(message)


def say(what):
    print(f"  measured: {what}", flush=True)


def shapes(out):
    """{parameter name: shape} from the parameter-shapes table."""
    return {m.group(1): [int(x) for x in m.group(2).split(",")]
            for m in re.finditer(r"^(\S+\.(?:weight|bias))\s+\[([\d, ]+)\]", out, re.M)}


def nb01_narrow(out, ctx):
    p = []
    count = floats(r"(\d+) trainable parameters", out)
    sizes = {n: int(__import__("math").prod(s)) for n, s in shapes(out).items()}
    largest = max(sizes, key=sizes.get) if sizes else None
    say(f"{count} parameters, largest tensor {largest} {shapes(out).get(largest)}")
    check(p, count == [374530], f"the answer says 374,530 parameters; printed {count}")
    check(p, largest == "classifier.3.weight" and shapes(out)[largest] == [512, 512],
          f"the answer says classifier.3.weight, 512 x 512, is the largest; it is {largest}")
    return p


def nb01_batch_norm(out, ctx):
    p = []
    count = floats(r"(\d+) trainable parameters", out)
    bn = re.findall(r"\((\d+)\): BatchNorm2d\((\d+)", out)
    convs = re.findall(r"\((\d+)\): Conv2d\(", out)
    say(f"{len(bn)} BatchNorm2d after the {len(convs)} convolutions, {count} parameters")
    check(p, count == [23611594], f"the answer says 23,611,594 parameters; printed {count}")
    check(p, len(bn) == 8 and all(int(b[0]) == int(c) + 1 for b, c in zip(bn, convs)),
          "the answer says a BatchNorm2d follows each of the eight convolutions")
    return p


def nb01_fifth_block(out, ctx):
    say("the model cell says: " + (re.search(r"image_size 28 is too small[^\n]*", out) or [""])[0])
    return [] if "image_size 28 is too small for 5 pooling stages" in out else \
        ["the answer quotes \"image_size 28 is too small for 5 pooling stages\"; the cell did not say it"]


def nb01_colour(out, ctx):
    p = []
    sh = shapes(out)
    count = floats(r"(\d+) trainable parameters", out)
    say(f"features.0.weight {sh.get('features.0.weight')}, classifier.0.weight {sh.get('classifier.0.weight')}, "
        f"{count} parameters")
    check(p, sh.get("features.0.weight") == [64, 3, 3, 3], "the answer says features.0.weight is [64, 3, 3, 3]")
    check(p, sh.get("classifier.0.weight") == [4096, 2048], "the answer says classifier.0 takes 2048 inputs")
    check(p, re.search(r"block 4 .*\[1, 512, 2, 2\]", out) is not None, "the answer says the map after block 4 is 2x2")
    check(p, count == [29900362], f"the answer says 29,900,362 parameters; printed {count}")
    return p


NB01 = [":dep vggnet", "let config = VggConfig::default();", "let model = Vgg::new", "model.stage_shapes",
        "config.parameter_shapes()"]
CONFIG = "let config = VggConfig::default();"

NB02_SETUP = [":dep vggnet", "let device = vggnet::engine::device();", "let train_images"]
NB02_SIDE = "let steps_per_setting"
NB02_RANGE = "let range_steps"
NB02_RUN = ["let run_config = RunConfig", "fn autocast_forward(", "fn train_epoch(", "fn evaluate_model(", "let mut budget = budget_steps;"]
SIDE_LIST = '[("lr 1e-3 (article)", 1e-3), ("lr 3e-4", 3e-4)]'
WITH_3E3 = '[("lr 1e-3 (article)", 1e-3), ("lr 3e-4", 3e-4), ("lr 3e-3", 3e-3)]'


def accuracies_by_setting(out):
    """{setting name: [(step, validation accuracy), ...]} from the side-by-side cell's lines."""
    result, current = {}, None
    for line in out.splitlines():
        line = line.strip()
        m = re.match(r"(.+): (\d+) steps$", line)
        if m:
            current = m.group(1)
            result[current] = []
        m = re.match(r"step (\d+): validation accuracy ([\d.]+)%", line)
        if m and current:
            result[current].append((int(m.group(1)), float(m.group(2))))
    return result


def final(acc, name):
    return acc.get(name, [(0, float("nan"))])[-1][1]


# Leaving the plateau: the validation accuracy of a run stuck on it stays at the share of the most common
# digit (about 11-13% on the first 1,000 test digits); one that left it is past 43% by step 200 on
# every CPU and float path measured (3e-4 is the slowest: 43.6% on a Zen 4, 45.2% on an AVX2 EPYC).
STUCK, LEFT = 20.0, 30.0

# 02's exercise 1, seed 42's accuracies, for the seed-7 check: the seed edit must change the run.
SEED_RUNS = {}


def nb02_larger_rate(seed):
    def expect(out, ctx):
        acc = accuracies_by_setting(out)
        say(f"seed {seed}: after 200 steps " + ", ".join(f"{k} {final(acc, k):.1f}%" for k in acc))
        p = []
        check(p, final(acc, "lr 1e-3 (article)") > LEFT and final(acc, "lr 3e-4") > LEFT,
              "the answer says 1e-3 and 3e-4 leave the plateau with both seeds")
        # Where 3e-3 ends is what the answer says is not fixed (seed 42: 12.6% on a Zen 4, 52.3% on an
        # AVX2 EPYC): the check asserts only that the third setting ran its 200 steps, and prints it.
        check(p, acc.get("lr 3e-3", [(0, 0)])[-1][0] == 200, "the answer's third setting, lr 3e-3, ran 200 steps")
        SEED_RUNS[seed] = acc
        if seed != 42 and 42 in SEED_RUNS:
            check(p, SEED_RUNS[42] != acc, "the answer says seed 7 starts another run: it printed seed 42's numbers")
        return p
    return expect


def nb02_batch_norm(out, ctx):
    acc = accuracies_by_setting(out)
    at80 = {k: dict(v).get(80, float("nan")) for k, v in acc.items()}
    plain = {k: dict(v).get(80, float("nan"))
             for k, v in accuracies_by_setting(published_output(ctx, "02_training", NB02_SIDE)).items()}
    say("at step 80, with batch norm: " + ", ".join(f"{k} {v:.1f}%" for k, v in at80.items()) +
        "; without it (the executed notebook): " + ", ".join(f"{k} {v:.1f}%" for k, v in plain.items()))
    p = []
    # With batch norm about 90% (88.4-90.1% measured); an edit that did not take is the plain network,
    # still at about 13% there on the CPUs measured.
    check(p, len(at80) == 2 and all(v > 60.0 for v in at80.values()),
          "the answer says both rates are well past chance by step 80 with batch norm")
    check(p, plain.keys() == at80.keys() and all(at80[k] > plain[k] + 10.0 for k in at80),
          "the answer says batch norm leaves the plateau sooner than the plain network (the published cell)")
    return p


def training_line(text):
    """(images/s, validation accuracy) of 02's training cell output."""
    speed = floats(r"batch \d+/\d+: .* ([\d.]+) images/s", text)
    acc = floats(r"validation accuracy ([\d.]+)% on", text)
    return (speed[-1] if speed else float("nan")), (acc[-1] if acc else float("nan"))


def nb02_narrow(out, ctx):
    narrow = training_line(out)
    article = training_line(published_output(ctx, "02_training", "let mut budget = budget_steps;"))
    say(f"narrow: {narrow[0]:.0f} images/s, {narrow[1]:.2f}%; the article's network (the executed notebook): "
        f"{article[0]:.0f} images/s, {article[1]:.2f}%")
    p = []
    # The arithmetic is 1/64, but per-batch work that does not shrink keeps the measured ratio lower
    # (4.6x on a busy 2-core EPYC, 14x idle); an edit that did not reach the run trains at 1x.
    check(p, narrow[0] > 2.5 * article[0], "the answer says the narrow network trains several times faster")
    check(p, narrow[1] < article[1], "the answer says the narrow network ends lower")
    return p


def nb02_suggested(out, ctx):
    acc = accuracies_by_setting(out)
    say("after 200 steps: " + ", ".join(f"{k} {final(acc, k):.1f}%" for k in acc))
    p = []
    check(p, final(acc, "suggested") > LEFT, "the answer says the suggested rate leaves the plateau")
    check(p, final(acc, "10x suggested") < STUCK, "the answer says ten times the suggestion stays on it")
    return p


def nb03_size(out, ctx):
    m = re.search(r"narrow: (\d+) bytes, the article's: (\d+) bytes", out)
    if not m:
        return ["the answer's cell printed no sizes"]
    narrow, article = int(m.group(1)), int(m.group(2))
    say(f"narrow {narrow} bytes, article's {article} bytes")
    p = []
    check(p, 374530 * 4 < narrow < 374530 * 4 + 20000, "the answer says 1,498,120 bytes plus a small header")
    check(p, 23607754 * 4 < article < 23607754 * 4 + 20000, "the answer says about 94 MB for the article's")
    return p


def nb03_mismatch(out, ctx):
    say("the error: " + out.strip().splitlines()[-1][:200] if out.strip() else "nothing printed")
    return [] if all(s in out for s in ("features.0.weight", "[64, 1, 3, 3]", "[8, 1, 3, 3]", "vggnet_mnist.pth")) \
        else ["the answer says the error names features.0.weight, both shapes and the file"]


def nb03_changed(out, ctx):
    said = re.findall(r"identical logits after the round trip: (\w+)", out)
    say(f"identical logits: {said}")
    return [] if said == ["false"] else ["the answer says `identical logits` prints false"]


def nb04_confusions(out, ctx):
    p = []
    lines = re.findall(r"^(\d+): (\S+) read as (\S+)$", out, re.M)
    counts = [int(n) for n, _, _ in lines]
    top3 = re.findall(r"(\d+) test pictures of (\S+) were read as (\S+)",
                      published_output(ctx, "04_evaluate", "ev.largest_confusions(3)"))
    say(f"five largest: {lines}; the notebook's three: {top3}")
    check(p, len(lines) == 5 and counts == sorted(counts, reverse=True), "the answer says five lines, the largest first")
    check(p, [tuple(x) for x in lines[:3]] == [tuple(x) for x in top3],
          "the answer says the first three are the ones under the confusion matrix")
    hardest = re.search(r"hardest: (\S+) at ([\d.]+)%", out)
    overall = floats(r"test accuracy: ([\d.]+)%", out)
    say(f"hardest {hardest.group(0) if hardest else None}, overall {overall}")
    check(p, hardest and overall and float(hardest.group(2)) < overall[0],
          "the answer says the hardest class is below the overall accuracy")
    return p


def nb04_narrow(out, ctx):
    acc = floats(r"test accuracy: ([\d.]+)%", out)
    wrong = [float(m) for m in re.findall(r"^(\d+) misclassified", out, re.M)]
    article_acc = floats(r"test accuracy: ([\d.]+)%", published_output(ctx, "04_evaluate", "let ev = evaluate("))
    article_wrong = floats(r"(\d+) misclassified", published_output(ctx, "04_evaluate", "misclassified_gallery"))
    say(f"narrow: {acc} % and {wrong} misclassified; the article's network: {article_acc} % and {article_wrong}")
    p = []
    check(p, acc and article_acc and acc[-1] < article_acc[0], "the answer says the narrow model's accuracy is lower")
    check(p, wrong and article_wrong and wrong[-1] > article_wrong[0], "the answer says more digits are misclassified")
    return p


def nb05_mistake(out, ctx):
    m = re.search(r"(\d+)% of the saliency lies on the strokes, which cover (\d+)% of the pixels", out)
    say(m.group(0) if m else "nothing printed")
    p = []
    check(p, m and int(m.group(1)) > int(m.group(2)), "the answer says more of the saliency lies on the strokes than "
          "their share of the pixels")
    check(p, any(l and any(t["text"].startswith("read as ") for t in l["titles"]) for l in ctx["images"]),
          "the answer's cell draws the map, titled with the class it was read as")
    return p


def nb06_article(out, ctx):
    narrow, article = ctx["cell_seconds"][-2], ctx["cell_seconds"][-1]
    say(f"the training cell on 1,600 pictures per data set: narrow {narrow:.0f} s, article's {article:.0f} s")
    # The article's network is 64 times the arithmetic, but on 25 steps the cell's time is mostly loading
    # and testing (3.7x measured on an idle EPYC); an edit that changed nothing runs in the same time (1x).
    return [] if article > 2 * narrow else ["the answer says an epoch of the article's network takes many times longer"]


def nb06_tops(out, ctx):
    m = re.search(r"(\d+) of the (\d+) largest confusions are between two tops", out)
    say(m.group(0) if m else "nothing printed")
    # "Most of them": more than half; a model confusing classes at random would give about 12 in 90 pairs (13%).
    return [] if m and int(m.group(1)) > int(m.group(2)) // 2 else ["the answer says most of them are between tops"]


def nb06_fashion_notebooks(out, ctx):
    grids = [l for l in ctx["images"] if l and any(t["text"].startswith("True: ") for t in l["titles"])]
    first = None
    if grids:  # a title too wide for its panel is drawn as two lines: "True: ...," then "Pred: ..."
        t = [x["text"] for x in grids[0]["titles"]]
        first = f"{t[0]} {t[1]}" if t[0].endswith(",") and len(t) > 1 else t[0]
    say(f"04's 2x3 grid, first title: {first!r}")
    classes = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
    # An MNIST run (the edit not taken) titles it "True: 7, Pred: ...".
    return [] if first and first.startswith("True: Ankle boot, Pred: ") and first.split("Pred: ")[1] in classes else \
        ["the answer says the grid's first picture is titled \"True: Ankle boot, Pred: \" and a class of clothes"]


def nb07_chalk(out, ctx):
    read = re.findall(r"^read: (\S+)$", out, re.M)
    say(f"the chalk picture read as {read}, {len(ctx['images'])} strip(s) drawn")
    # A preparation that did not invert the dark board finds no digit (an error) or reads another.
    return [] if read == ["8"] and len(ctx["images"]) == 1 else ["the answer says the model reads 8, and the strip is drawn"]


NB03_EXPORT = "let export = vggnet::teach::reference::export_article_pth("
NB04 = [":dep vggnet", "let ev = evaluate("]
NB06_TRAIN = "let network = Network::Narrow.config();"
FEW = ("let data = Data::load(&DataConfig { validation: 0, ..DataConfig::of(dataset) })?;",
       "let data = Data::load(&DataConfig { validation: 0, train_limit: Some(1_600), test_limit: Some(1_000), "
       "..DataConfig::of(dataset) })?;")

EXERCISES = [
    Exercise("01_model", [1], NB01, nb01_narrow,
             edits=[(CONFIG, CONFIG, "let config = vggnet::settings::Network::Narrow.config();")]),
    Exercise("01_model", [2], NB01[:3], nb01_batch_norm,
             edits=[(CONFIG, CONFIG, "let config = VggConfig { batch_norm: true, ..Default::default() };")]),
    # evcxr prints a cell's error on stderr, which can arrive after the notebook's last cell ended:
    # the probe prints `Vgg::new`'s answer itself.
    Exercise("01_model", [3], NB01[:3], nb01_fifth_block, expected_error="too small for 5 pooling stages",
             probe='println!("Vgg::new says: {}", Vgg::new(config.clone(), Device::Cpu).err()'
                   '.map_or(String::new(), |e| e.to_string()));',
             edits=[(CONFIG, CONFIG,
                     "let config = VggConfig { block_channels: vec![64, 128, 256, 512, 512], ..Default::default() };")]),
    Exercise("01_model", [4], NB01, nb01_colour,
             edits=[(CONFIG, CONFIG, "let config = VggConfig { in_channels: 3, image_size: 32, ..Default::default() };")]),
    Exercise("02_training", [1], NB02_SETUP + [NB02_SIDE], nb02_larger_rate(42),
             edits=[(NB02_SIDE, SIDE_LIST, WITH_3E3)]),
    Exercise("02_training", [1], NB02_SETUP + [NB02_SIDE], nb02_larger_rate(7),
             edits=[(NB02_SIDE, SIDE_LIST, WITH_3E3), ("let seed: u64", "let seed: u64 = 42;", "let seed: u64 = 7;")]),
    Exercise("02_training", [2], NB02_SETUP + [NB02_SIDE], nb02_batch_norm,
             edits=[("let trial_network =", "let trial_network = Network::Narrow.config();",
                     "let trial_network = VggConfig { batch_norm: true, ..Network::Narrow.config() };")]),
    # 02's exercise 3, then 04's: notebook 04 on the narrow model 02's exercise 3 trained.
    Exercise("02_training", [3], NB02_SETUP + NB02_RUN, lambda o, c: nb02_narrow(o, c) + nb04_narrow(o, c),
             edits=[("let network =", "let network = Network::Article.config();",
                     "let network = Network::Narrow.config();")],
             then=[("04_evaluate", NB04 + ["misclassified_gallery"])]),
    Exercise("02_training", [4], NB02_SETUP + ["=" + NB02_SIDE, NB02_RANGE, NB02_SIDE], nb02_suggested,
             edits=[(NB02_SIDE, SIDE_LIST, '[("lr 1e-3 (article)", 1e-3), ("suggested", range.suggested), '
                     '("10x suggested", 10.0 * range.suggested)]')]),
    Exercise("03_save_load", [1], [":dep vggnet", "let model = load_model(path", "let copy = std::env::temp_dir()"],
             nb03_size, answer_code=True),
    Exercise("03_save_load", [2], [":dep vggnet", NB03_EXPORT], nb03_mismatch, answer_code=True),
    Exercise("03_save_load", [3], [":dep vggnet", "let model = load_model(path", "let copy = std::env::temp_dir()"],
             nb03_changed,
             edits=[("let copy = std::env::temp_dir()", "let reloaded = load_model(&copy, Device::Cpu)?;",
                     "let reloaded = load_model(&copy, Device::Cpu)?;\n"
                     "tch::no_grad(|| reloaded.named_parameters()[0].1.get(0).fill_(0.0));")]),
    Exercise("04_evaluate", [1, 2], NB04 + ["ev.largest_confusions(3)"], nb04_confusions, answer_code=True),
    Exercise("05_learned", [2], [":dep vggnet", "let mistakes = confident_mistakes("], nb05_mistake, answer_code=True),
    Exercise("06_fashion", [1], [":dep vggnet", "=" + NB06_TRAIN, NB06_TRAIN], nb06_article,
             edits=[(NB06_TRAIN, NB06_TRAIN, "let network = Network::Article.config();")],
             check_edits=[(NB06_TRAIN,) + FEW], why="on 1,600 training pictures per data set (25 steps)"),
    Exercise("06_fashion", [2], [":dep vggnet", NB06_TRAIN], nb06_tops, answer_code=True),
    Exercise("07_handwriting", [1], [":dep vggnet", "let my_photo", "preparation_strips(&[(photo_file"], nb07_chalk,
             edits=[("let my_photo", "picture(4, Style::Notebook, 1)", "picture(8, Style::Chalkboard, 2)")]),
    Exercise("06_fashion", [3], [], nb06_fashion_notebooks,
             edits=[("02_training", "let dataset =", "let dataset = Dataset::Mnist;",
                     "let dataset = Dataset::FashionMnist;")],
             check_edits=[("02_training", "let network =", "let network = Network::Article.config();",
                           "let network = Network::Narrow.config();")],
             then=[("02_training", NB02_SETUP + NB02_RUN), ("04_evaluate", NB04 + ["prediction_grid"])],
             why="02 trains the narrow network (the article's takes minutes)"),
]


# The float32 path: 02's settings line that picks the precision, forced to float32 in the copies. Only
# 02's run (and what reads it) trains in that precision: the experiments and 06 train the article's
# way, float32 on every CPU, so they run once.
AMP_LINE = "let amp = AmpMode::fastest_on(device);"
FLOAT32 = ("02_training", "let amp =", AMP_LINE, "let amp = AmpMode::Off;")


def native_precision(executed):
    """What 02's settings cell printed as its precision in the executed notebooks (this CPU's path)."""
    text = published_output({"executed": executed}, "02_training", "let device = vggnet::engine::device();")
    m = re.search(r"precision (float32|mixed precision \(\w+\))", text)
    return m.group(1) if m else "unknown"


def float32_pass(chosen, executed):
    """The exercises whose run depends on the precision, again with 02's run forced to float32 (the path an
    AVX2-only CPU takes), unless this CPU's own path is float32 already (then the pass above was it)."""
    native = native_precision(executed)
    sensitive = [e for e in chosen if trains(e)]
    if native == "float32":
        print(f"exercises, float32 path: the notebooks' run is float32 on this CPU, so the {len(sensitive)} "
              "checks above were on it", flush=True)
        return []
    print(f"exercises, float32 path: the notebooks' run is {native} on this CPU; "
          f"{len(sensitive)} checks again with `{FLOAT32[3]}`", flush=True)
    return [Exercise(**{**e.__dict__, "check_edits": e.check_edits + [FLOAT32],
                        "why": ("; " if e.why else "").join(filter(None, [e.why, "float32 forced"]))})
            for e in sensitive]


def static_problems(exercises):
    """Every exercise's copies built, none run: each marker finds one cell, each edit's old text is in its cell,
    each added line is in the exercise's text (seconds; a notebook edit that breaks an exercise fails here
    before anything is executed)."""
    problems = []
    for ex in exercises:
        what = f"{ex.notebook} exercise {','.join(map(str, ex.numbers))}" + (f" ({ex.why})" if ex.why else "")
        try:
            texts = [exercise_text(nbformat.read(notebook_path(ex.notebook), as_version=4), n) for n in ex.numbers]
            for name, markers in [(ex.notebook, ex.cells)] + ex.then:
                problems += [f"{what}: {f}" for f in build(name, markers, ex, texts)[2]]
        except SystemExit as e:  # find_cell's and exercise_text's refusals
            problems.append(f"{what}: {e}")
    return problems


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--only", default=None, help="NOTEBOOK[:NUMBER],... (e.g. 02_training:2)")
    p.add_argument("--executed", default=str(ROOT / "out" / "notebooks"),
                   help="the executed notebooks, for answers that compare with the notebook's own run")
    p.add_argument("--precision", choices=["native", "float32", "both"], default="both",
                   help="native: as the notebooks run on this CPU; float32: 02's run forced to float32 "
                        "(`let amp = AmpMode::Off;`); both (the default): native, then float32 where they differ")
    p.add_argument("--static", action="store_true",
                   help="only build every exercise's copies (both precisions) and check their edits; run nothing")
    args = p.parse_args()
    everything = EXERCISES + [Exercise(**{**e.__dict__, "check_edits": e.check_edits + [FLOAT32]})
                              for e in EXERCISES if trains(e)]
    static = static_problems(everything)
    for pr in static:
        print("PROBLEM:", pr)
    print(f"exercises, static: {len(everything)} copies built, {len(static)} problems", flush=True)
    if static or args.static:
        sys.exit(1 if static else 0)
    chosen = EXERCISES
    if args.only:
        wanted = [w.split(":") for w in args.only.split(",")]
        chosen = [e for e in EXERCISES if any(e.notebook.startswith(w[0]) and (len(w) == 1 or int(w[1]) in e.numbers)
                                              for w in wanted)]
    if args.precision == "float32":
        chosen = [Exercise(**{**e.__dict__, "check_edits": e.check_edits + [FLOAT32] if trains(e) else e.check_edits})
                  for e in chosen]
    (ROOT / "runs" / "exercises").mkdir(parents=True, exist_ok=True)
    problems, total = [], 0.0
    if args.precision == "both":
        chosen = chosen + float32_pass(chosen, args.executed)
    for ex in chosen:
        found, seconds = run(ex, args.executed)
        total += seconds
        what = f"{ex.notebook} exercise {','.join(map(str, ex.numbers))}" + (f" ({ex.why})" if ex.why else "")
        print(f"exercise {what}: {'ok' if not found else 'FAILED'} in {seconds:.0f}s", flush=True)
        problems += [f"{what}: {f}" for f in found]
    for pr in problems:
        print("PROBLEM:", pr)
    print(f"exercises: {len(chosen)} checked in {total:.0f}s, {len(problems)} problems")
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
