# The README's two commands: `make demo` and `make test`. Each creates .venv when it is missing. The Makefile
# works from any folder (`make -f path/to/Makefile demo` writes runs/ there): paths below are the repo's.
ROOT    := $(patsubst %/,%,$(dir $(abspath $(firstword $(MAKEFILE_LIST)))))
PY      ?= python3.11
VENV    ?= $(ROOT)/.venv
BIN     := $(VENV)/bin
# The CPU wheel of torch; on a GPU machine set TORCH_SPEC="torch" (or your CUDA build) before `make`.
TORCH_SPEC ?= torch==2.13.0
export LITELLM_LOCAL_MODEL_COST_MAP := True

.PHONY: demo test setup setup-dev sandbox lint bench clean

$(BIN)/python:
	@command -v $(PY) >/dev/null 2>&1 || { echo "error: $(PY) not found (synthteam needs Python >= 3.11)"; exit 2; }
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.installed: $(BIN)/python $(ROOT)/pyproject.toml
	$(BIN)/pip install -q "$(TORCH_SPEC)"
	$(BIN)/pip install -q -e "$(ROOT)"
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed
	$(BIN)/pip install -q -e "$(ROOT)[dev,ray,hf,experiments,slurm,inspect]"
	touch $@

setup: $(VENV)/.installed
setup-dev: $(VENV)/.installed-dev

# Jobs run inside bubblewrap. Installed here the way .ci/run does it (as root, with apt-get); otherwise one line
# says what is missing. The scripted demo runs without it (its programs are synthteam's own); a team whose
# code an LLM writes refuses to start without it unless given --no-isolation.
sandbox:
	@if command -v bwrap >/dev/null 2>&1; then echo "sandbox: bubblewrap found at $$(command -v bwrap)"; \
	elif command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
	  echo "sandbox: installing bubblewrap (apt-get install -y bubblewrap) ..."; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bubblewrap >/dev/null \
	    && echo "sandbox: bubblewrap installed at $$(command -v bwrap)"; \
	else echo "sandbox: bubblewrap is missing and cannot be installed here (not root, or no apt-get): scripted jobs run without isolation; install it with 'sudo apt-get install -y bubblewrap'"; fi

# Set-up includes building the built-in base model, decoys and splits once (cached, about 2 minutes);
# the team run itself then takes about 4 minutes of wall-clock budget plus verification.
demo: setup sandbox
	$(BIN)/synthteam task prepare reverse
	$(BIN)/synthteam run

# Two pytest-xdist workers: a module (or a group sharing a fixture) per worker (tests/conftest.py), each test
# pinned to the cores of its CPU tokens (tests/cpus.py): one core, or the whole machine for a test marked
# cpus(2). TEST_WORKERS=0 runs the suite in one process.
TEST_WORKERS ?= 2
test: setup-dev
	cd "$(ROOT)" && $(BIN)/python -m pytest -q -p no:cacheprovider -n $(TEST_WORKERS)

lint: setup-dev
	cd "$(ROOT)" && $(BIN)/ruff check groundwork team roles tasks sandbox tests benchmarks

clean:
	cd "$(ROOT)" && rm -rf $(VENV) .pytest_cache build *.egg-info
