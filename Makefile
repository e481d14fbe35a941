# Everything builds from nothing: `make test` on a fresh clone creates .venv, installs the pinned
# CPU torch first (a bare `torch` on Linux would pull a multi-GB CUDA build), then the package.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
TORCH   := torch==2.13.0
# PyTorch's CPU wheels. A machine whose pip already finds this torch offline (pip's find-links, e.g. a
# mirror) uses that wheel and never contacts the index; its other dependencies come from pip's indexes.
TORCH_INDEX ?= https://download.pytorch.org/whl/cpu
STAMP   := $(VENV)/.installed
# `make demo` needs only tinct and ONNX Runtime, not the test, lint, training and benchmark tools.
DEMO_STAMP := $(VENV)/.installed-demo

.PHONY: install test test-all lint demo bench bench-ddcolor clean chromium stamps oldprints fresh

define venv_with_torch
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q --no-deps --no-index $(TORCH) 2>/dev/null || $(BIN)/pip install -q $(TORCH) --index-url $(TORCH_INDEX)
	$(BIN)/pip install -q $(TORCH)
endef

$(STAMP): pyproject.toml
	$(venv_with_torch)
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP) $(DEMO_STAMP)

$(DEMO_STAMP): pyproject.toml
	$(venv_with_torch)
	$(BIN)/pip install -q -e '.[onnx]'
	touch $(DEMO_STAMP)

install: $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks scripts

# Debian's chromium for tests/test_serve_browser.py (Playwright drives it; never `playwright install`).
# Installs only where that is possible without asking: as root (CI) or with password-less sudo.
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  if ! command -v apt-get >/dev/null 2>&1; then echo "note: no apt-get; browser tests will be skipped"; \
	  elif [ "$$(id -u)" = 0 ]; then apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; \
	  elif sudo -n true 2>/dev/null; then sudo apt-get update -q && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; \
	  else echo "note: chromium is missing and needs root to install; browser tests will be skipped"; fi; }

test: $(STAMP) lint chromium
	$(BIN)/python -m pytest -q

test-all: $(STAMP) chromium
	$(BIN)/python -m pytest -q -m ''

demo: $(DEMO_STAMP)
	$(BIN)/tinct colorize examples -o out --overwrite
	$(BIN)/python examples/make_sheet.py examples out out/before_after.jpg

bench: $(STAMP)
	$(BIN)/python benchmarks/bench.py

# DDColor (tiny and large) on a 12 MP photo: tinct (torch, ONNX Runtime) vs the authors' pipeline
# from a checkout of github.com/piddnad/DDColor (their rows are skipped without one).
DDCOLOR ?= ../DDColor
bench-ddcolor: $(STAMP)
	$(BIN)/python benchmarks/bench.py --ddcolor $(DDCOLOR)

# Extra training photos for the configs/stamps-*.toml experiments (not shipped: they scored worse
# on val): object photos from Debian's tuxpaint-stamps-default (2022.06.04-1) on neutral backdrops.
stamps: data/stamps/SOURCES.tsv

data/stamps/SOURCES.tsv: scripts/make_stamp_photos.py $(STAMP)
	mkdir -p build/debs && cd build/debs && apt-get download tuxpaint-stamps-default
	dpkg-deb -x "$$(ls build/debs/tuxpaint-stamps-default_*.deb | tail -n 1)" build/tuxpaint
	$(BIN)/python scripts/make_stamp_photos.py build/tuxpaint data/stamps

# The old-print evaluation sets of MODEL_CARD.md: val and test with their L* aged by the fixed
# tinct.data.degrade.EVAL_PRINT (deterministic: seeded by each file's name).
PHOTOS ?= ../shared/data/photos
oldprints: $(STAMP)
	$(BIN)/python scripts/make_old_prints.py $(PHOTOS)/val data/val-oldprint
	$(BIN)/python scripts/make_old_prints.py $(PHOTOS)/test data/test-oldprint

# 41 photos from Debian packages no other set comes from (scripts/make_fresh_photos.py lists them,
# with licences and the de-duplication against every shared photo): a check on unseen sources, then
# training data for the shipped default (configs/people-lite2-feat-fresh.toml).
fresh: data/fresh/SOURCES.tsv

data/fresh/SOURCES.tsv: scripts/make_fresh_photos.py $(STAMP)
	mkdir -p build/debs build/fresh
	pkgs="$$($(BIN)/python scripts/make_fresh_photos.py --list-packages)" && \
	  (cd build/debs && apt-get download $$pkgs) && \
	  for p in $$pkgs; do rm -rf build/fresh/$$p; \
	    dpkg-deb -R "$$(ls build/debs/$${p}_*.deb | tail -n 1)" build/fresh/$$p; done
	$(BIN)/python scripts/make_fresh_photos.py build/fresh data/fresh --check $(PHOTOS)

clean:
	rm -rf $(VENV) out .pytest_cache
