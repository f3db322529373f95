# The README's two commands: `make run` and `make test`.
# Each creates .venv with the project installed if needed, then does its job.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test bench lint clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV) || { \
	  echo "python venv is missing: installing Debian's python3-venv"; \
	  rm -rf $(VENV); apt-get update -qq && apt-get install -y -qq python3-venv && \
	  $(PYTHON) -m venv $(VENV); }
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

# Debian packages the tests use for real: chromium renders the HTML report and prints
# its PDF. Installed here so a fresh machine needs nothing by hand.
$(VENV)/.system-deps: | $(STAMP)
	command -v chromium >/dev/null 2>&1 || { \
	  echo "installing Debian's chromium (report rendering and PDF)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; }
	touch $@

run: $(STAMP)
	$(BIN)/phalanx paper

test: $(STAMP) $(VENV)/.system-deps
	$(BIN)/python -m pytest -q tests

# The benchmarks' peers (backtrader, vectorbt) are the bench extra.
$(VENV)/.bench-extras: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[bench]'
	touch $@

bench: $(STAMP) $(VENV)/.bench-extras
	$(BIN)/python -m pytest -q benchmarks --benchmark-only

lint: $(STAMP)
	$(BIN)/python -m ruff check .

clean:
	rm -rf $(VENV) .pytest_cache .benchmarks
