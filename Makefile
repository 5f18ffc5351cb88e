# The README's two commands: `make demo` and `make test`. Each creates .venv when it is missing.
PY      ?= python3.11
VENV    ?= .venv
BIN     := $(VENV)/bin
# The CPU wheel of torch; on a GPU machine set TORCH_SPEC="torch" (or your CUDA build) before `make`.
TORCH_SPEC ?= torch==2.13.0
export LITELLM_LOCAL_MODEL_COST_MAP := True

.PHONY: demo test setup setup-dev lint bench clean

$(BIN)/python:
	@command -v $(PY) >/dev/null 2>&1 || { echo "error: $(PY) not found (synthteam needs Python >= 3.11)"; exit 2; }
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/pip install -q "$(TORCH_SPEC)"
	$(BIN)/pip install -q -e .
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed
	$(BIN)/pip install -q -e ".[dev,ray,hf,experiments,slurm]"
	touch $@

setup: $(VENV)/.installed
setup-dev: $(VENV)/.installed-dev

# Set-up includes building the built-in base model, decoys and splits once (cached, about 2 minutes);
# the team run itself then takes about 4 minutes of wall-clock budget plus verification.
demo: setup
	$(BIN)/synthteam task prepare reverse
	$(BIN)/synthteam run

# Two pytest-xdist workers: a module (or a group sharing a fixture) per worker (tests/conftest.py), each test
# pinned to the cores of its CPU tokens (tests/cpus.py): one core, or the whole machine for a test marked
# cpus(2). TEST_WORKERS=0 runs the suite in one process.
TEST_WORKERS ?= 2
test: setup-dev
	$(BIN)/python -m pytest -q -p no:cacheprovider -n $(TEST_WORKERS)

lint: setup-dev
	$(BIN)/ruff check team roles tasks sandbox tests benchmarks

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
