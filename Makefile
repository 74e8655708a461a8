# The two commands a user needs: `make run` (the dashboard) and `make test` (the whole suite).
# Each sets up what is missing first: .venv with pinned requirements, MNIST, web deps, Chromium.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8501
# Where the dashboard listens: this machine only. For a LAN demo, `make run HOST=0.0.0.0` (every interface) or
# HOST=<one of this machine's addresses>; anyone who can reach it can use it (there is no login). A named address
# (or, for 0.0.0.0, the host name) is what the server prints, so it never looks up its own IPs on the network.
HOST ?= 127.0.0.1
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
APT := DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get

.PHONY: run test setup setup-dev data chromium qemu web-deps test-js-deps lint bench model screenshots clean

run: setup data web-deps  ## start the dashboard on http://$(HOST):$(PORT) (HOST: see above)
	$(VENV)/bin/streamlit run dashboard/server.py --server.port $(PORT) --server.address $(HOST) \
		$(if $(filter-out 127.0.0.1 localhost,$(HOST)),--server.allowedHosts '*') \
		$(if $(filter 0.0.0.0 ::,$(HOST)),--browser.serverAddress $$(hostname))

test: setup-dev data chromium qemu web-deps test-js-deps  ## run the whole test suite (browser tests included)
	$(PY) -m pytest $(PYTEST_ARGS)

$(VENV)/.runtime: requirements.txt pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' || \
		{ echo "Python 3.11 is required (found $$($(PYTHON) --version))"; exit 1; }
	[ -x $(PY) ] || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --disable-pip-version-check -q -r requirements.txt
	$(PY) -m pip install --disable-pip-version-check -q --no-deps -e .  # `python -m core` from any folder
	touch $@

$(VENV)/.dev: $(VENV)/.runtime requirements-dev.txt
	$(PY) -m pip install --disable-pip-version-check -q -r requirements-dev.txt
	touch $@

setup: $(VENV)/.runtime
setup-dev: $(VENV)/.dev

data: setup  ## fetch, verify and cache MNIST (no-op when cached)
	$(PY) -m core data

chromium:  ## Debian's chromium for the browser tests (never a downloaded browser)
	@command -v chromium >/dev/null || { $(APT) update -q && $(APT) install -y -q chromium; }

qemu:  ## Debian's qemu-user: the portability test runs the int8 model on an emulated CPU without VNNI
	@command -v qemu-x86_64 >/dev/null || { $(APT) update -q && $(APT) install -y -q qemu-user; }

web-deps: web/node_modules/.package-lock.json  ## onnxruntime-web, pinned by web/package-lock.json

web/node_modules/.package-lock.json: web/package-lock.json
	@command -v npm >/dev/null || { $(APT) update -q && $(APT) install -y -q npm; }
	cd web && npm ci --no-audit --no-fund --loglevel=error

test-js-deps: tests/js/node_modules/.package-lock.json  ## axe-core for the browser tests (test tooling, never bundled)

tests/js/node_modules/.package-lock.json: tests/js/package-lock.json
	@command -v npm >/dev/null || { $(APT) update -q && $(APT) install -y -q npm; }
	cd tests/js && npm ci --no-audit --no-fund --loglevel=error

lint: setup-dev
	$(VENV)/bin/ruff check core dashboard pages tests

bench: setup-dev data web-deps chromium  ## every benchmark (core/bench/); each prints its figures and writes runs/bench/NAME.json
	for b in $$($(PY) -c 'from core.cli import BENCHMARKS; print(*BENCHMARKS)'); do $(PY) -m core bench $$b || exit 1; done

screenshots: setup-dev data chromium web-deps  ## regenerate dashboard/screenshots/*.png (README tour) in Chromium
	$(PY) -m core screenshots

model: setup-dev data chromium web-deps  ## retrain and re-export the shipped model (core/assets/); export checks it in Chromium
	$(PY) -m core train cnn --preset camera --epochs 20 --seed 0 --threads 1 --out runs/cnn-camera
	$(PY) -m core export runs/cnn-camera --ship

clean:
	rm -rf $(VENV) web/node_modules
