PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test test-fast lint bench clean

$(STAMP): pyproject.toml setup.py constraints.txt
	test -x $(BIN)/python || $(PY) -m venv $(VENV) || python3 -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m sigkit.audio.apbwe.demo --out demo_out

test: $(STAMP)
	$(BIN)/python -m pytest -n 2 --dist loadgroup -q --durations=15

lint: $(STAMP)
	$(BIN)/ruff check .

# GPU benchmarks (not run by CI); each prints ratios against the baseline it measures in the same run.
bench: $(STAMP)
	$(BIN)/python bench/spectral.py
	$(BIN)/python bench/apbwe.py
	$(BIN)/python bench/kde.py --device cuda
	$(BIN)/python bench/events_sim.py --device cuda --repeat 5 --output numpy,torch

clean:
	rm -rf $(VENV) build dist *.egg-info demo_out
