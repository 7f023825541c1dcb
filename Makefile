# Two commands on a fresh clone (nothing but Python 3 needed):
#   make train   sets the project up when it is not yet, then trains the README's first model
#   make test    sets it up, then runs the test suite (what .ci/run runs)
# ARGS adds flags: make train ARGS="--maxepoch 5 --save_path runs/quick"

PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.installed
ARGS ?=

.PHONY: setup train test

setup: $(STAMP)

# Reinstalls when requirements.txt changes; a half-made environment is not marked installed.
$(STAMP): requirements.txt
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $(STAMP)

train: $(STAMP)
	$(VENV)/bin/python experiment/aae_mnist.py --train --dist_type gmm $(ARGS)

test: $(STAMP)
	$(VENV)/bin/python -m pytest -q -n auto --dist worksteal tests $(ARGS)
