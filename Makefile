# The two commands of the README: `make demo` runs a conversation, `make test` the tests.
# Both build the virtualenv first when it is missing (Python >= 3.10 as python3).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test lint docs bench clean

$(BIN)/conversa-installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev,postgres,examples]"
	touch $@

demo: $(BIN)/conversa-installed
	$(BIN)/python examples/quickstart.py

test: $(BIN)/conversa-installed
	$(BIN)/python -m pytest --cov=conversa --cov-report=term-missing:skip-covered -q

lint: $(BIN)/conversa-installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy conversa tests/typing
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet

docs: $(BIN)/conversa-installed
	$(BIN)/mkdocs serve

bench: $(BIN)/conversa-installed
	$(BIN)/python benchmarks/stores.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .coverage site
