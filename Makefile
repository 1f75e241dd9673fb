# sketchgen — every target sets up what it needs from this repo's own files.
VENV   ?= .venv
PY     := $(VENV)/bin/python
PYTEST := $(VENV)/bin/pytest
STAMP  := $(VENV)/.installed
BRIEF  ?= playful golf mascot
STYLE  ?= vintage-mascot

.PHONY: install test lint format bench demo serve clean

install: $(STAMP)

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[dev,local]"
	touch $(STAMP)

# The main job: offline (no key needed), 4 sketches into generated_outputs/<timestamp>/.
demo: install
	$(VENV)/bin/sketchgen generate "$(BRIEF)" --style $(STYLE)

test: install
	$(PYTEST) -q

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

bench: install
	$(PY) bench/generation.py
	$(PY) bench/retrieval.py
	$(PY) bench/service.py

serve: install
	$(VENV)/bin/sketchgen serve

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache *.egg-info
