# Two commands on a fresh clone: `make demo` and `make test`. Both create .venv once and reuse it.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.medzoo-installed
export MEDZOO_DATA ?= $(abspath ../shared/data)

.PHONY: setup demo test test-all bench docs clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q torch==2.14.1 torchvision==0.29.1
	$(BIN)/python -m pip install -q -e ".[all]"
	touch $@

setup: $(STAMP)

demo: setup
	$(BIN)/medzoo catalog build
	$(BIN)/medzoo stats --by organ
	$(BIN)/medzoo papers --organ chest --modality x-ray
	$(BIN)/medzoo models
	$(BIN)/medzoo generate dcgan.pneumoniamnist_28 -n 64 --seed 0 --out demo-output --grid grid.png --overwrite
	$(MAKE) docs

test: setup
	$(BIN)/python -m pytest

test-all: setup
	$(BIN)/python -m pytest -m "slow or not slow"

clean:
	rm -rf site build dist *.egg-info .pytest_cache

docs: setup
	$(BIN)/medzoo docs build

# Benchmarks (bench/README.md): each writes bench/results/<name>.json and prints a table; the report renders them all.
# The catalog benchmark's documented size is 1,000,000 synthetic papers; `make bench` uses BENCH_CATALOG_SIZE to stay
# within ~15 minutes on 2 cores (run `make bench BENCH_CATALOG_SIZE=1000000` for the full size).
BENCH_CATALOG_SIZE ?= 200000
# The 128 px benchmarks at make-bench sizes (their defaults time one more repetition, medzoo's loop without torch's NaN
# fill and the plain loop's memory, and stream more images: bench/README.md).
BENCH_128_TRAIN ?= --reps 2 --mem-loops medzoo
BENCH_128_GEN ?= --reps 2 --mem-images 64,192
bench: setup
	$(BIN)/python bench/generation.py
	$(BIN)/python bench/training.py
	$(BIN)/python bench/training_128.py $(BENCH_128_TRAIN)
	$(BIN)/python bench/generation.py --res128 $(BENCH_128_GEN)
	$(BIN)/python bench/loading.py
	$(BIN)/python bench/catalog_scale.py --size $(BENCH_CATALOG_SIZE)
	$(BIN)/python bench/paper_cnn.py
	$(BIN)/python bench/report.py --out bench/results/REPORT.md
	@cat bench/results/REPORT.md

# The DDPM before/after its move to diffusers and its sampling-steps trade-off (about 30 minutes on 2 cores: each point
# samples 4708 images); not part of `make bench`.
bench-ddpm: setup
	$(BIN)/python bench/ddpm_diffusers.py
	$(BIN)/python bench/report.py --out bench/results/REPORT.md
