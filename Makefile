# Set-up needs only python3 (3.11+) and make: the first `make run` or `make test` builds .venv.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
BENCH_STAMP := $(VENV)/.bench

.PHONY: run secret test lint chat eval bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

$(BENCH_STAMP): $(STAMP)
	$(BIN)/pip install --quiet -e '.[dev,bench]'
	touch $(BENCH_STAMP)

secret:  ## a random SECRET_KEY in .env, written once (the settings read .env; a set variable wins)
	@grep -qs '^SECRET_KEY=' .env || $(PYTHON) -c "import secrets; print('SECRET_KEY=' + secrets.token_urlsafe(48))" >> .env

run: $(STAMP) secret  ## the bot on SQLite, no accounts needed
	$(BIN)/sahulat db upgrade
	$(BIN)/sahulat staff bootstrap
	$(BIN)/sahulat run

chat: $(STAMP)  ## chat with the bot in this terminal
	$(BIN)/sahulat chat

test: $(STAMP)  ## lint, then the test suite
	$(BIN)/ruff check .
	$(BIN)/pytest -n 4 --dist worksteal

eval: $(BENCH_STAMP)  ## understanding on the blind sets, beside the TF-IDF baseline
	for set in benchmarks/blind_*.yaml; do $(BIN)/python benchmarks/bench_understanding.py $$set || exit 1; done

bench: $(BENCH_STAMP)  ## matching latency and memory
	$(BIN)/python benchmarks/bench_match.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
