# Every target installs what it needs on first use: a fresh machine needs only
# python3 (3.11+), node/npm and, for the browser tests, apt-get.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
# Pinned versions of everything pip installs (see its header; `make lock` refreshes it).
LOCK := requirements.lock
NODE_STAMP := node_modules/.installed-stamp
CHROMIUM ?= /usr/bin/chromium
# The order book's modules that mypyc compiles (see setup.py).
NATIVE_SRC := $(filter-out orderbook/__init__.py orderbook/_build.py,$(wildcard orderbook/*.py))
NATIVE_STAMP := build/native-stamp

.PHONY: install native test test-fast test-browser lint bench chaos run serve clean lock screenshots

install: $(STAMP) $(NODE_STAMP) $(NATIVE_STAMP)

# ORDERBOOK_PURE: the order book is compiled once, just below, with the
# venv's mypyc (a plain `pip install` compiles it by itself, see setup.py).
# Every version comes from $(LOCK), the build's (setuptools, mypy) too.
$(STAMP): pyproject.toml setup.py $(LOCK)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -c $(LOCK) --upgrade pip setuptools
	ORDERBOOK_PURE=1 $(PY) -m pip install -q --disable-pip-version-check \
		-c $(LOCK) --build-constraint $(LOCK) -e '.[dev]'
	touch $(STAMP)

# Re-resolve pyproject.toml's ranges from scratch in a throwaway venv and pin
# what that installs into $(LOCK) (its header kept). Run `make test` after.
LOCK_VENV := build/lock-venv
lock:
	rm -rf $(LOCK_VENV) && $(PYTHON) -m venv $(LOCK_VENV)
	$(LOCK_VENV)/bin/pip install -q --disable-pip-version-check --upgrade pip setuptools
	ORDERBOOK_PURE=1 $(LOCK_VENV)/bin/pip install -q --disable-pip-version-check -e '.[dev]'
	{ grep '^#' $(LOCK); $(LOCK_VENV)/bin/pip freeze --all --exclude-editable; } > $(LOCK).new
	mv $(LOCK).new $(LOCK) && rm -rf $(LOCK_VENV)

# Compile the order book in place (setup.py, mypyc), and again whenever its
# sources change: orderbook refuses to load compiled modules older than their
# sources. The touch marks modules whose C did not change as current too.
native: $(NATIVE_STAMP)

$(NATIVE_STAMP): $(STAMP) $(NATIVE_SRC) setup.py
	$(PY) setup.py -q build_ext --inplace
	find orderbook -maxdepth 1 -name '*.so' -exec touch {} +
	$(PY) -c "import orderbook; print('orderbook compiled:', orderbook.COMPILED)"
	mkdir -p build && touch $(NATIVE_STAMP)

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $(NODE_STAMP)

$(CHROMIUM):
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium

# Lint and types first (ruff; mypy --strict on orderbook/ and exchange/), then
# the asyncio/unit suite, then the browser tests in their own run (sync
# Playwright and asyncio tests must not share an event loop).
test: lint $(CHROMIUM)
	$(PY) -m pytest -m "not browser" -q
	ORDERBOOK_PURE=1 $(PY) -m pytest -q tests/orderbook
	$(PY) -m pytest -m browser -q tests/web

# The README's pictures: the page tests again, writing their screenshots to
# docs/screenshots/ (a plain test run writes them to a temporary folder).
screenshots: install $(CHROMIUM)
	EXCHANGE_SCREENSHOTS=$(CURDIR)/docs/screenshots $(PY) -m pytest -m browser -q tests/web/test_pages.py

test-fast: install
	$(PY) -m pytest -m "not browser" -q -x

lint: install
	$(VENV)/bin/ruff check orderbook exchange feeds cluster api tests bench setup.py
	$(VENV)/bin/mypy orderbook exchange cluster

bench: install
	$(PY) -m bench

# The chaos soak (bench/chaos.py): a real server under load through random
# faults of every kind for CHAOS_MINUTES, then proof that every acknowledged
# order and trade reads back through the API and sits in the store exactly
# once (JSON summary; exit 1 on any loss). CHAOS_STORE=sqlite for SQLite.
CHAOS_MINUTES ?= 5
CHAOS_SEED ?= 1
CHAOS_STORE ?= postgresql
chaos: install
	$(PY) -m bench chaos --minutes $(CHAOS_MINUTES) --seed $(CHAOS_SEED) --store $(CHAOS_STORE)

run: install
	$(VENV)/bin/exchange demo

serve: install
	$(VENV)/bin/exchange serve

clean:
	rm -rf $(VENV) node_modules data build .pytest_cache .mypy_cache .ruff_cache
	find orderbook -maxdepth 1 -name '*.so' -delete
