# Two commands do everything on a fresh machine:
#   make demo   -- set up .venv and run the main job (demo pipeline on built-in data)
#   make test   -- set up .venv and run the test suite
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.probtok-installed

.PHONY: demo test install clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	# CPU build of torch first (an unpinned torch pulls a multi-GB CUDA build)
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/probtok demo --out demo-out

# the test files side by side (pytest-xdist), one process per core, at most 4 (a file's tests stay together,
# so its module fixtures are made once): one file at a time, the suite took 972 s on CI's 2-core machine.
# Files go out in collection order, the longest first (tests/conftest.py: LONGEST_FIRST).
# TEST_WORKERS=0: all in the one pytest process.
TEST_WORKERS ?= $(shell n=$$(nproc 2>/dev/null || echo 1); [ $$n -gt 4 ] && n=4; echo $$n)

test: $(STAMP)
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder

clean:
	rm -rf $(VENV) demo-out
