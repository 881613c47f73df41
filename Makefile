# Two commands matter on a fresh clone: `make dev` and `make test`.
VENV        ?= .venv
PY          := $(VENV)/bin/python
STAMP       := $(VENV)/.installed
export DAGSTER_HOME ?= $(CURDIR)/.dagster_home

.PHONY: install dev test lint bench bench-quick bench-policy clean

# The lock pins the whole environment; the project itself installs editable without re-resolving.
# uv installs the same pinned lock as pip would, in seconds instead of about two minutes here
# (most of a fresh clone's `make test` budget); pip only bootstraps it. --compile-bytecode: uv
# writes no .pyc files by default, and where PYTHONDONTWRITEBYTECODE is set (this machine, CI)
# nothing ever would, so every process compiled scikit-learn, pandas and Dagster again at start
# (`import sklearn.pipeline`: 6.8 s without, 3.1 s with; the `retrain-assets` CLI 11 s -> 4.5 s).
$(STAMP): pyproject.toml requirements.lock
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check uv==0.13.9
	$(VENV)/bin/uv pip install --quiet --python $(PY) --compile-bytecode -r requirements.lock
	$(VENV)/bin/uv pip install --quiet --python $(PY) --no-deps -e .
	touch $(STAMP)

install: $(STAMP)

# dagster dev runs from DAGSTER_HOME: started in the repository it would warn on every start
# that the production dagster.yaml there is not used. Relative RETRAIN_*_DIR paths stay
# relative to where `make dev` was typed.
dev: export RETRAIN_DATA_DIR := $(if $(RETRAIN_DATA_DIR),$(abspath $(RETRAIN_DATA_DIR)))
dev: export RETRAIN_REGISTRY_DIR := $(if $(RETRAIN_REGISTRY_DIR),$(abspath $(RETRAIN_REGISTRY_DIR)))
dev: export RETRAIN_STORAGE_DIR := $(if $(RETRAIN_STORAGE_DIR),$(abspath $(RETRAIN_STORAGE_DIR)))
dev: install
	mkdir -p $(DAGSTER_HOME)
	cp dev/dagster.yaml $(DAGSTER_HOME)/dagster.yaml
	# The pool's limit, before the daemon's first pass could count it as unlimited.
	$(VENV)/bin/dagster instance concurrency set retrain 1 >/dev/null
	# `dagster dev` is what the project documents; its "use dg dev" notice is silenced.
	cd $(DAGSTER_HOME) && PYTHONWARNINGS='ignore:Function `dev_command` is superseded:Warning' \
		$(abspath $(VENV))/bin/dagster dev -m retrain_assets.definitions -h 127.0.0.1 -p 3000

# Two workers, one test file each at a time: the e2e files mostly wait on Dagster processes
# while the in-process files use the other core.
test: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/pytest -q -n 2 --dist loadfile --durations=12

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

bench: install
	$(PY) -m benchmarks.run --size full
	$(PY) -m benchmarks.policy

bench-quick: install
	$(PY) -m benchmarks.run --size quick

# Next-day accuracy of the live model under each deploy policy (README: "Policy").
bench-policy: install
	$(PY) -m benchmarks.policy

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
