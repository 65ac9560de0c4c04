# vggnet: every target does its own set-up (scripts/setup.sh is idempotent: seconds when done).
SHELL := /bin/bash
export MNIST_DIR ?= $(if $(wildcard ../shared/data/mnist/train-images-idx3-ubyte.gz),$(abspath ../shared/data/mnist),$(abspath data/mnist))
# Fashion-MNIST (notebook 06, `make notebooks-fashion`): $FASHION_MNIST_DIR, else ../shared's copy,
# else Debian's /usr/share/datasets/fashion-mnist, else data/fashion-mnist (the notebooks' set-up
# downloads the data sets they read into these folders when missing).
ifneq ($(wildcard ../shared/data/fashion-mnist/train-images-idx3-ubyte.gz),)
export FASHION_MNIST_DIR ?= $(abspath ../shared/data/fashion-mnist)
else ifneq ($(wildcard /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte*),)
export FASHION_MNIST_DIR ?= /usr/share/datasets/fashion-mnist
else
export FASHION_MNIST_DIR ?= $(abspath data/fashion-mnist)
endif
CARGO ?= cargo
# Jupyter Lab refuses to start as root unless told to (a clone under /root, run as root).
LAB_ROOT := $(if $(filter 0,$(shell id -u)),--allow-root,)

.PHONY: setup setup-notebooks start first-cell two-kernels build test test-rust lint train reference reference-fashion bench photos notebooks publish-notebooks exercises lab lab-check notebooks-fashion fuzz fuzz-short gpu-bundle gpu-dry-run

setup:
	@bash scripts/setup.sh

build: setup
	$(CARGO) build --release

setup-notebooks: setup
	@bash scripts/setup-notebooks.sh

## Every test: the integration tests in tests/ (CPU), format and lint, a minute of fuzzing the model
## loader, two notebook kernels at once, then every notebook executed headless and checked in a real
## browser, then notebook 01 run through Jupyter Lab's UI (lab-check).
test: test-rust fuzz-short two-kernels notebooks lab-check

test-rust: setup
	$(CARGO) test --release
	$(CARGO) fmt --check
	$(CARGO) clippy --release --all-targets -- -D warnings

## The walkthrough: sets everything up, then opens the notebooks in Jupyter Lab; with no browser at
## hand (no DISPLAY, WAYLAND_DISPLAY or BROWSER) it executes them and says where the HTML is.
start: setup-notebooks
	@if [ -n "$$DISPLAY$$WAYLAND_DISPLAY$$BROWSER" ]; then \
	  .venv/bin/jupyter lab --notebook-dir=notebooks $(LAB_ROOT); \
	else \
	  echo "start: no browser here, so the notebooks are executed instead"; \
	  $(MAKE) --no-print-directory notebooks && \
	  echo "start: open $(CURDIR)/out/notebooks/index.html (or run \`make lab\` and open the URL it prints)"; \
	fi

## How long the first cells take in a fresh kernel after set-up (what a reader waits for): a table of
## kernel start, the `:dep` cell, the first `let`, five typical cells, and the wait for the first printed value.
first-cell: setup-notebooks
	.venv/bin/python scripts/warm_kernel.py --table

## Two notebooks open at once: two kernels started together, the `:dep` cell and cells that define and use
## values run in both at the same moment; no error output, a build folder each, both warm (scripts/two_kernels.py).
two-kernels: setup-notebooks
	.venv/bin/python scripts/two_kernels.py

## Execute all notebooks headless; executed copies, HTML, screenshots and index.html go to
## out/notebooks/, and notebooks/ is left as it is (a learner's edits are never overwritten).
## First every exercise's copies are built and their edits checked (seconds: a notebook edit that breaks an
## exercise fails before anything runs). In CI the committed outputs must also be from the cells' current source.
## Then the exercises.
notebooks: setup-notebooks
	.venv/bin/python scripts/exercises.py --static
	.venv/bin/python scripts/run_notebooks.py --out out/notebooks $(if $(CI),--check-published)
	.venv/bin/python scripts/exercises.py --executed out/notebooks

## Every exercise whose answer is code or a setting, done as its text says on a copy of its notebook,
## and what its answer states asserted from the output (scripts/exercises.py; ONLY=02_training:2 picks one).
exercises: setup-notebooks
	.venv/bin/python scripts/exercises.py --executed out/notebooks $(if $(ONLY),--only $(ONLY))

## Notebook 02 with its `dataset` settings line switched to Fashion-MNIST (the one edit a learner makes),
## then 04 and 05 on that run; executed copies to out/notebooks-fashion/, notebooks/ left as it is.
notebooks-fashion: setup-notebooks
	.venv/bin/python scripts/run_notebooks.py --out out/notebooks-fashion --only 02_,04_,05_ --dataset fashion-mnist

## The same run, then the executed notebooks written back into notebooks/ with their outputs
## (commit them: they are what a code host shows, and what CI's check compares).
publish-notebooks: setup-notebooks
	.venv/bin/python scripts/exercises.py --static
	.venv/bin/python scripts/run_notebooks.py --out out/notebooks --publish

## Jupyter Lab on the notebooks, with the project's Rust kernel.
lab: setup-notebooks
	.venv/bin/jupyter lab --notebook-dir=notebooks $(LAB_ROOT)

## What a teacher does with `make start`, tested: Jupyter Lab on a fresh copy of notebook 01 (outputs
## cleared), driven in headless chromium by Selenium: the "Rust (vggnet)" kernel, Run > Run All Cells,
## then the printed model and the inline plot checked in the page, no error output
## (screenshot: out/lab/01_lab.png; about 1-2 minutes on 2 cores). A missing chromium or driver fails it.
lab-check: setup-notebooks
	.venv/bin/python scripts/lab_check.py

## Fuzz the IDX parser, the checkpoint header handling and the whole checkpoint load path into a small VGG (1,000,000 runs each; cargo-fuzz).
FUZZ_RUNS ?= 1000000
fuzz: setup
	command -v cargo-fuzz >/dev/null || $(CARGO) install cargo-fuzz --locked
	cd fuzz && RUSTC_BOOTSTRAP=1 $(CARGO) fuzz build -O
	mkdir -p fuzz/corpus/idx fuzz/corpus/checkpoint fuzz/corpus/load
	cd fuzz && for t in idx checkpoint load; do \
	  LD_LIBRARY_PATH=$(CURDIR)/.venv/libtorch/lib ./target/x86_64-unknown-linux-gnu/release/$$t \
	    -runs=$(FUZZ_RUNS) -rss_limit_mb=4096 corpus/$$t || exit 1; done

## A minute of random mutations of the checkpoint corpora (hostile and valid .pth and safetensors)
## through the whole load path into a small VGG (src/bin/fuzz_load.rs): no sanitizer build, so it
## costs the minute and a small binary. FUZZ_SECONDS=600 for longer; `make fuzz` is the coverage-guided run.
FUZZ_SECONDS ?= 60
fuzz-short: setup
	$(CARGO) build --release --bin fuzz_load
	./target/release/fuzz_load $(FUZZ_SECONDS) fuzz/corpus/load fuzz/corpus/checkpoint

lint: setup
	$(CARGO) fmt --check
	$(CARGO) clippy --release --all-targets -- -D warnings

## The article's run: 5 epochs on the full training set: 300,000 training images, 35-60 minutes on 2 cores
## depending on the CPU (82-145 images/s seen; docs/results.md records 48 min of wall clock at 145).
train: setup
	$(CARGO) run --release --bin vggnet -- train $(ARGS)

## PyTorch's run of the article's loop with the same settings, for docs/results.md's comparison
## (35-85 minutes on 2 cores: PyTorch trains 59-140 images/s on the CPUs seen; writes results/full/pytorch.json).
## Stopped, the same command continues after the last finished epoch (pytorch.json.ckpt).
reference: setup
	.venv/bin/python python/article.py train --data $(MNIST_DIR) --out results/full/pytorch.json \
	  --epochs 5 --seed 42 --eval-every 200 --threads 2 $(ARGS)

## The same PyTorch run on Fashion-MNIST, tested after each epoch, for docs/results.md's Fashion-MNIST rows
## (results/recipes/fashion-pytorch-article-seed42.json and .log; continues the same way when stopped).
reference-fashion: setup
	set -o pipefail; .venv/bin/python python/article.py train --data $(FASHION_MNIST_DIR) \
	  --out results/recipes/fashion-pytorch-article-seed42.json --epochs 5 --seed 42 --threads 2 $(ARGS) \
	  2>&1 | tee -a results/recipes/fashion-pytorch-article-seed42.log

## Side-by-side benchmark against the PyTorch original (never part of `make test`).
bench: setup
	$(CARGO) run --release --bin bench -- $(ARGS)

## The synthetic photo test set (vggnet::digits::synth) prepared from its files and classified by MODEL:
## accuracy per style (desk included), similarity to the MNIST-style rendering, number pages read
## exactly, touching digits counted right, preparation time (out/photos/).
MODEL ?= runs/vggnet/best.safetensors
photos: setup
	$(CARGO) run --release --bin photos -- --model $(MODEL) $(ARGS)

## The GPU check (docs/gpu.md): builds the bundle a GPU machine runs (torch 2.11 in .venv-gpu,
## tch 0.24 in a scratch copy under target/gpu), and the same check as a dry run on this CPU.
gpu-bundle:
	bash scripts/gpu-build.sh

gpu-dry-run: build
	bash scripts/gpu-check.sh --device cpu --quick --out out/gpu-dry-run
