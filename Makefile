# Two commands matter on a fresh clone: `make dev` and `make test`.
VENV        ?= .venv
PY          := $(VENV)/bin/python
STAMP       := $(VENV)/.installed
export DAGSTER_HOME ?= $(CURDIR)/.dagster_home

.PHONY: install dev test lint bench bench-quick clean

# The lock pins the whole environment; the project itself installs editable without re-resolving.
$(STAMP): pyproject.toml requirements.lock
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.lock
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $(STAMP)

install: $(STAMP)

dev: install
	mkdir -p $(DAGSTER_HOME)
	cp -n dev/dagster.yaml $(DAGSTER_HOME)/dagster.yaml 2>/dev/null || true
	$(VENV)/bin/dagster dev -h 127.0.0.1 -p 3000

test: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/pytest -q

lint: install
	$(VENV)/bin/ruff check .

bench: install
	$(PY) -m benchmarks.run --size full

bench-quick: install
	$(PY) -m benchmarks.run --size quick

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
