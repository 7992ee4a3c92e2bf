# Two commands for a fresh clone:  `make run`  (the studio on embedded defaults)  and  `make test`.
VENV ?= .venv
PYTHON ?= python3
PY := $(VENV)/bin/python
HASH := $(shell cksum pyproject.toml Makefile | cksum | cut -d' ' -f1)
# `make run` needs no torch (the web process and the animatic worker never import it); `make test`
# adds the `gpu` extra, so the tiny-pipeline tests run, with torch pinned to the CPU build on disk
# here. A GPU worker installs `.[gpu]` with the CUDA build of torch from its own index instead.
TORCH_PIN ?= torch==2.13.0
RUN_STAMP := $(VENV)/.installed-run-$(HASH)
TEST_STAMP := $(VENV)/.installed-test-$(HASH)

.PHONY: run test install install-test browser api-tools wrk bench clean

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(RUN_STAMP): pyproject.toml Makefile | $(VENV)/bin/python
	$(PY) -m pip install --quiet -e .
	rm -f $(VENV)/.installed-run-* && touch $(RUN_STAMP)

$(TEST_STAMP): pyproject.toml Makefile | $(VENV)/bin/python
	$(PY) -m pip install --quiet -e '.[gpu,test]' '$(TORCH_PIN)'
	rm -f $(VENV)/.installed-* && touch $(TEST_STAMP) $(RUN_STAMP)

install: $(RUN_STAMP)

install-test: $(TEST_STAMP)

# Debian's Chromium for the browser tests (the offline machines cannot download Playwright's own),
# and Debian's ffmpeg: the media tests run against it as well as against the wheel's.
browser:
	@(command -v chromium && command -v ffmpeg) >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium ffmpeg)

run: install
	$(PY) manage.py run_studio

# curl and jq run the README's API quick start (tests/api/test_readme_quick_start.py).
api-tools:
	@command -v curl >/dev/null && command -v jq >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq curl jq)

test: install-test browser api-tools
	$(PY) manage.py makemigrations --check --dry-run --settings=tests.settings
	$(PY) -m pytest $(PYTEST_ARGS)

# wrk drives the board page benchmark (bench/bench_board_page.py).
wrk:
	@command -v wrk >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk)

bench: install-test wrk
	$(PY) bench/run_all.py

clean:
	rm -rf $(VENV) var
