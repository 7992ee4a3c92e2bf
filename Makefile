# Two commands for a fresh clone:  `make run`  (the studio on embedded defaults)  and  `make test`.
VENV ?= .venv
PYTHON ?= python3
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)

.PHONY: run test install browser api-tools wrk bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	rm -f $(VENV)/.installed-* && touch $(STAMP)

install: $(STAMP)

# Debian's Chromium for the browser tests (the offline machines cannot download Playwright's own),
# and Debian's ffmpeg: the media tests run against it as well as against the wheel's.
browser:
	@(command -v chromium && command -v ffmpeg) >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium ffmpeg)

run: install
	$(PY) manage.py run_studio

# curl and jq run the README's API quick start (tests/api/test_readme_quick_start.py).
api-tools:
	@command -v curl >/dev/null && command -v jq >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq curl jq)

test: install browser api-tools
	$(PY) manage.py makemigrations --check --dry-run --settings=tests.settings
	$(PY) -m pytest $(PYTEST_ARGS)

# wrk drives the board page benchmark (bench/bench_board_page.py).
wrk:
	@command -v wrk >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk)

bench: install wrk
	$(PY) bench/run_all.py

clean:
	rm -rf $(VENV) var
