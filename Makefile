# Two entry points on a fresh Debian/Ubuntu machine with Python >= 3.11 and git:
#   make demo   a full local demo on embedded defaults (broker, central, one edge agent)
#   make test   the whole test suite (what CI runs)
#   make test-stress   the same suite with two CPU-burning processes beside it
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
DEMO_ARGS ?=

.PHONY: demo test test-stress lint check fuzz setup setup-dev clean

demo: setup
	$(BIN)/linetrace demo $(DEMO_ARGS)

test: setup-dev
	@url=$$(scripts/test-services.sh) && \
	LINETRACE_TEST_DATABASE_URL="$${LINETRACE_TEST_DATABASE_URL:-$$url}" $(BIN)/pytest $(PYTEST_ARGS)

test-stress: setup-dev
	scripts/under-load.sh -n 2 $(MAKE) --no-print-directory test

lint: setup-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python scripts/typecheck.py

check: lint test

# Coverage-guided fuzzing of the ingest on raw message bytes (atheris), for FUZZ_SECONDS;
# the corpus grows in build/fuzz/ingest/corpus, a failing input lands in build/fuzz/ingest/.
FUZZ_SECONDS ?= 300
fuzz: setup-dev
	$(BIN)/python -m tests.fuzz.ingest -max_total_time=$(FUZZ_SECONDS) \
		-artifact_prefix=build/fuzz/ingest/ -print_final_stats=1 $(FUZZ_ARGS)

setup: $(VENV)/.installed
	@scripts/system-deps.sh

setup-dev: $(VENV)/.installed-dev
	@scripts/system-deps.sh --test

$(VENV)/.installed: pyproject.toml
	@scripts/system-deps.sh
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[all]'
	touch $@

$(VENV)/.installed-dev: pyproject.toml
	@scripts/system-deps.sh --test
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[all,dev]'
	touch $(VENV)/.installed $@

clean:
	rm -rf $(VENV) build *.egg-info .mypy_cache .ruff_cache .pytest_cache
