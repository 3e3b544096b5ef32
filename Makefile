# `make run`  : set everything up, build the demo exchange, serve it on http://127.0.0.1:8000
# `make test` : set everything up, run the whole suite (SQLite and a real PostgreSQL)
SHELL := /bin/bash
export UV_PYTHON_DOWNLOADS := never
# Install packages with their bytecode, and compile ours below: where PYTHONDONTWRITEBYTECODE is
# set (as on the machine we build on) Python otherwise compiles every module it imports, at every start
# (`suanshu org list`: 2.0 -> 0.9 s; every test subprocess and server start pays it too).
export UV_COMPILE_BYTECODE := 1
UV := $(shell command -v uv 2>/dev/null || echo "python3 -m uv")
SUANSHU_HOME ?= $(CURDIR)/.data/demo
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test env postgres demo serve bench lint clean assets chromium

env:
	@$(UV) --version >/dev/null 2>&1 || python3 -m pip install --quiet uv
	@$(UV) sync --frozen --quiet
	@$(UV) run --frozen --quiet python -m compileall -q src >/dev/null
	@$(MAKE) --no-print-directory assets

# The PostgreSQL tests start their own throwaway server from Debian's binaries.
postgres:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null 2>&1 || { \
	  echo "installing PostgreSQL server binaries (Debian package postgresql)"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq postgresql >/dev/null; }

# The console's browser libraries (ECharts, htmx): `npm pack` at the versions and sha512 pinned in
# src/suanshu/web/vendor.lock, copied into src/suanshu/web/static/vendor/ (gitignored). Without npm
# the console still works, with tables and no charts.
assets:
	@python3 src/suanshu/web/vendor.py || echo "assets: not installed; the console will run without charts"

# The browser tests drive Debian's Chromium (never a downloaded browser) with Playwright;
# fonts-noto-cjk so Chinese renders in screenshots.
chromium:
	@test -x /usr/bin/chromium || { \
	  echo "installing Chromium (Debian packages chromium, fonts-noto-cjk)"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium fonts-noto-cjk >/dev/null; }

test: env postgres chromium
	$(UV) run --frozen pytest -q -n 2 --dist loadfile

demo: env
	SUANSHU_HOME=$(SUANSHU_HOME) $(UV) run --frozen suanshu demo --reset

serve: env
	SUANSHU_HOME=$(SUANSHU_HOME) $(UV) run --frozen suanshu serve --host $(HOST) --port $(PORT)

run: demo serve

# Benchmarks need the `bench` dependency group (Presidio, spaCy), which `make test` never installs.
# Each script prints JSON lines; BENCHMARKS.md summarises them.
bench: env
	@$(UV) sync --frozen --quiet --group bench
	@for script in bench/*.py; do echo "# $$script"; $(UV) run --frozen --group bench python $$script || exit 1; done

clean:
	rm -rf .data .pytest_cache
