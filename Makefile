# Two commands do all the set-up on a fresh machine (see README):
#   make run    create .venv, install Ember and its bundled models, start the GUI
#   make test   the same install plus test extras, then lint, format and type checks,
#               llama.cpp's llama-server for the remote tests (built once), and the whole
#               test suite
# Re-running either on a ready checkout installs nothing: the stamp file is newer than
# pyproject.toml.
#   make bundle       Ember as one folder that needs nothing installed, and the archive
#                     dist/ember-<version>-linux-x86_64.tar.gz (packaging/bundle/build.py)
#   make bundle-test  the archive installed into a temporary HOME and used as a user would

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.ember-installed
JOBS   := $(shell nproc 2>/dev/null || echo 2)
VERSION := $(shell sed -n 's/^__version__ = "\(.*\)"/\1/p' __init__.py)
ARCHIVE := dist/ember-$(VERSION)-linux-x86_64.tar.gz

.PHONY: run test lint typecheck format clean bundle bundle-test

$(STAMP): pyproject.toml packaging/llama_wheel.py
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip setuptools wheel
	# The CPU build of torch first, or sentence-transformers pulls several GB of CUDA wheels.
	$(BIN)/python -m pip install --quiet torch==2.13.0
	# llama.cpp with portable CPU flags, never -march=native: compiled once per version and
	# flags (about 4 minutes on 2 cores) into a wheelhouse keyed by both, then installed.
	CMAKE_BUILD_PARALLEL_LEVEL=$(JOBS) $(BIN)/python packaging/llama_wheel.py install
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/ember

# make test also builds llama.cpp's llama-server for the remote tests: in the wheel's own
# build tree when the wheel is compiled here (only the server's sources are compiled then),
# else on its own (packaging/llama_server.py).
test: export EMBER_LLAMA_SERVER := 1
test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(MAKE) --no-print-directory typecheck
	# llama-server: only that target, from the wheel's sdist with its portable flags, kept
	# in the wheelhouse beside it (a no-op when it is there), then recorded in the venv.
	CMAKE_BUILD_PARALLEL_LEVEL=$(JOBS) $(BIN)/python packaging/llama_server.py install
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest

# mypy resolves `ember` through a folder holding a link named ember to this checkout.
typecheck: $(STAMP)
	mkdir -p build/typecheck && ln -sfn $(CURDIR) build/typecheck/ember
	MYPYPATH=build/typecheck $(BIN)/mypy -p ember.core -p ember.cli -p ember.app

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# The bundle is made from a venv of its own (build/bundle/venv: run-time dependencies only)
# with the Python that runs this; llama.cpp is compiled for each CPU level it ships, once.
bundle:
	CMAKE_BUILD_PARALLEL_LEVEL=$(JOBS) $(PYTHON) packaging/bundle/build.py --out dist

# strace watches the installed bundle for sockets (Debian's package, installed if missing).
bundle-test: bundle $(STAMP)
	command -v strace >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq strace)
	EMBER_BUNDLE_ARCHIVE=$(ARCHIVE) $(BIN)/python -m pytest -p no:cacheprovider \
		tests/bundle/check_bundle.py

clean:
	rm -rf $(VENV) build dist *.egg-info
