# Two front doors: `make demo` and `make test`. Both create .venv if missing.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test install browser clean bench

$(BIN)/python:
	$(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

# The report's browser test needs a real Chromium; Debian's package provides it.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
	      || echo "chromium could not be installed: the browser test will be skipped"; \
	  else echo "chromium not found and cannot be installed here: the browser test will be skipped"; fi; }

demo: install
	$(BIN)/cdp demo --home demo_home

test: install browser
	$(BIN)/python -m pytest -q

bench: install
	$(BIN)/python benchmarks/ingest.py
	$(BIN)/python benchmarks/identity.py

clean:
	rm -rf $(VENV) demo_home .prefect .pytest_cache
