# Every target installs what it needs on first use: a fresh machine needs only
# python3 (3.11+), node/npm and, for the browser tests, apt-get.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
NODE_STAMP := node_modules/.installed-stamp
CHROMIUM ?= /usr/bin/chromium

.PHONY: install test test-fast test-browser lint bench run serve clean

install: $(STAMP) $(NODE_STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check --upgrade pip
	$(PY) -m pip install -q --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $(NODE_STAMP)

$(CHROMIUM):
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium

# The asyncio/unit suite first, then the browser tests in their own run (sync
# Playwright and asyncio tests must not share an event loop).
test: install $(CHROMIUM)
	$(PY) -m pytest -m "not browser" -q
	$(PY) -m pytest -m browser -q tests/web

test-fast: install
	$(PY) -m pytest -m "not browser" -q -x

lint: install
	$(VENV)/bin/ruff check orderbook exchange feeds api tests bench
	$(VENV)/bin/mypy orderbook exchange

bench: install
	$(PY) -m bench

run: install
	$(VENV)/bin/exchange demo

serve: install
	$(VENV)/bin/exchange serve

clean:
	rm -rf $(VENV) node_modules data .pytest_cache .mypy_cache .ruff_cache
