# vggnet: every target does its own set-up (scripts/setup.sh is idempotent: seconds when done).
SHELL := /bin/bash
export MNIST_DIR ?= $(if $(wildcard ../shared/data/mnist/train-images-idx3-ubyte.gz),$(abspath ../shared/data/mnist),$(abspath data/mnist))
CARGO ?= cargo

.PHONY: setup build test lint train bench notebooks lab fuzz clean-venv

setup:
	@bash scripts/setup.sh

build: setup
	$(CARGO) build --release

## Every test: unit + integration (CPU), then format and lint checks.
test: setup
	$(CARGO) test --release
	$(CARGO) fmt --check
	$(CARGO) clippy --release --all-targets -- -D warnings

lint: setup
	$(CARGO) fmt --check
	$(CARGO) clippy --release --all-targets -- -D warnings

## The article's run: 5 epochs on the full training set (about 1 hour on a 2-core CPU).
train: setup
	$(CARGO) run --release --bin vggnet -- train $(ARGS)

## Side-by-side benchmark against the PyTorch original (never part of `make test`).
bench: setup
	$(CARGO) run --release --bin bench -- $(ARGS)
