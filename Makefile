# Fresh machine: Python 3.11+ and make are enough. Each target sets up .venv itself.
PY ?= python3
VENV := .venv
# the tests run in two processes (pytest-xdist), each test file whole in one of them (module fixtures built
# once; tests of a file that share state stay together); `make test XDIST=` runs them in this process alone
XDIST ?= -n 2 --dist loadfile
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: demo test check bench stress scale clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[test,ocr]'
	touch $(STAMP)

## make demo: install, then a scripted tour on a throw-away archive in ./demo-home
demo: $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" bash docs/tour.sh "$(CURDIR)/demo-home"

## make test: install, then the whole test suite
test: $(STAMP)
	$(BIN)/python -m pytest $(XDIST)

## make check: the fast subset for the inner loop (tests marked slow left out; make test runs everything)
check: $(STAMP)
	$(BIN)/python -m pytest $(XDIST) -m "not slow" -x

## make bench: the benchmarks under bench/ (not part of the tests)
bench: $(STAMP)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[bench]'
	$(BIN)/python bench/vault_throughput.py
	$(BIN)/python bench/search.py
	$(BIN)/python bench/engines.py
	$(BIN)/python bench/reindex.py
	$(BIN)/python bench/audit.py
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/generate.py

## make stress: the seeded stress, fault and attack suite; prints a table of figures (not part of make test)
stress: $(STAMP)
	$(BIN)/python bench/stress

## make scale: the figures at 100,000 documents (bench/scale.py; hours on two cores and ~20 GB of disk;
## bench/scale.py --docs 20000 takes about 35 minutes)
scale: $(STAMP)
	$(BIN)/python bench/scale.py

clean:
	rm -rf $(VENV) demo-home .pytest_cache .hypothesis
