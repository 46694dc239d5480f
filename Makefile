# Thin wrapper: every target creates .venv first when it is missing.
#   make lab         open the course in JupyterLab (students and self-learners)
#   make instructor  JupyterLab on the course folder, with nbgrader's Formgrader
#   make test        run the whole test suite (what CI runs)
PYTHON        ?= python3
VENV          ?= .venv
BIN           := $(VENV)/bin
LAB_SETTINGS  := $(VENV)/share/jupyter/lab/settings/overrides.json
TORCH_VERSION ?= 2.13.0
LAB_ARGS      ?=
PYTEST_ARGS   ?=
# Test workers; the slow modules are scoped (tests/xdist_groups.py) so they run side by side.
JOBS          ?= 2

# A CPU-only Linux machine would otherwise get PyPI's multi-GB CUDA build of torch: use
# PyTorch's CPU wheel index there. GPU users: see README ("Using a GPU").
ifeq ($(shell uname -s),Linux)
ifeq ($(shell command -v nvidia-smi 2>/dev/null),)
TORCH_INDEX ?= --index-url https://download.pytorch.org/whl/cpu
endif
endif

.PHONY: lab instructor test test-fast test-gpu bench lint setup clean-course clean

setup: $(VENV)/.installed $(LAB_SETTINGS)
	@command -v bwrap >/dev/null 2>&1 || echo "note: bubblewrap (bwrap) is not installed: cnnkit grade \
	would run without its sandbox and flag every grade (Debian/Ubuntu: sudo apt-get install bubblewrap)"

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	# A torch wheel already on this machine (or in pip's cache) is taken as it is; else the index.
	$(BIN)/python -m pip install -q --no-index --no-deps "torch==$(TORCH_VERSION)" 2>/dev/null \
	  || $(BIN)/python -m pip install -q "torch==$(TORCH_VERSION)" $(TORCH_INDEX)
	$(BIN)/python -m pip install -q -e ".[dev]"
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (cnn-course)" >/dev/null
	touch $@

# JupyterLab's defaults for the course (binder/overrides.json): no news or update checks,
# which reach out to the internet and ask every student a question on first start.
$(LAB_SETTINGS): binder/overrides.json $(VENV)/.installed
	mkdir -p $(@D)
	cp binder/overrides.json $@

# Jupyter refuses to run as root (containers, cloud VMs) unless told it is deliberate.
ROOT_ARGS := $(if $(filter 0,$(shell id -u)),--allow-root)

# Students work on copies in work/ (git-ignored): what JupyterLab saves, outputs included, never
# touches the tracked notebooks, and a copy that exists is never overwritten.
lab: setup
	$(BIN)/python -m cnnlib.workspace notebooks work
	$(BIN)/jupyter lab work/ $(ROOT_ARGS) $(LAB_ARGS)

# Instructors: JupyterLab on the course folder, where nbgrader's Formgrader finds the course.
instructor: setup
	$(BIN)/cnnkit lab -- $(LAB_ARGS)

test: setup
	$(BIN)/python -m pytest -n $(JOBS) --dist loadscope --durations=15 $(PYTEST_ARGS)

test-fast: setup
	$(BIN)/python -m pytest -n $(JOBS) -m "not slow and not browser" $(PYTEST_ARGS)

test-gpu: setup
	$(BIN)/python -m pytest -m gpu $(PYTEST_ARGS)

bench: setup
	for b in bench/bench_*.py; do $(BIN)/python $$b || exit 1; done

lint: setup
	$(BIN)/ruff check .

clean-course:
	rm -rf course

clean: clean-course
	rm -rf $(VENV) .pytest_cache .hypothesis
