# One-command set-up and checks. Every target installs what it needs; a second run is fast.
#   make run    execute every notebook (classroom profile) into build/ (.ipynb + .html)
#   make test   unit tests + nbval of every notebook in the smoke profile, offline
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
JUPYTER := $(VENV)/bin/jupyter
STAMP := $(VENV)/.installed
NOTEBOOKS := $(sort $(wildcard notebooks/*.ipynb))
PIP_QUIET := --quiet --disable-pip-version-check --no-warn-script-location
# headless kernels talk over local IPC sockets, not unencrypted TCP (so ipykernel has nothing to warn about);
# the socket path is absolute because the kernel runs in notebooks/
EXECUTE := $(JUPYTER) nbconvert --to notebook --execute --ExecutePreprocessor.timeout=3600 \
    --KernelManager.transport=ipc --KernelManager.ip="$${TMPDIR:-/tmp}/llm-tutorial-kernel"

.PHONY: setup test run record lab bench clean

$(STAMP): requirements.txt
	@echo "Creating $(VENV) and installing requirements.txt (first time: ~2 min)"
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install $(PIP_QUIET) -r requirements.txt 2> >(grep -v "^WARNING: Location" >&2)
	@# make the repository root importable (import utils) from notebooks/, tests/ and benchmarks/
	$(PY) -c "import pathlib, site; pathlib.Path(site.getsitepackages()[0], 'llm_tutorial.pth').write_text('$(CURDIR)\n')"
	touch $(STAMP)

setup: $(STAMP)
	@$(PY) -m utils.assets

test: setup
	HF_HUB_OFFLINE=1 TUTORIAL_PROFILE=smoke $(PY) -m pytest -p no:cacheprovider -q tests $(NOTEBOOKS) \
	    --nbval-lax --nbval-current-env

run: setup
	@mkdir -p build
	@for nb in $(NOTEBOOKS); do \
	    echo "== $$nb"; start=$$(date +%s); \
	    $(EXECUTE) --output-dir build "$$nb" --log-level ERROR || exit 1; \
	    $(JUPYTER) nbconvert --to html --output-dir build "build/$$(basename $$nb)" --log-level ERROR || exit 1; \
	    echo "   $$(( $$(date +%s) - start )) s -> build/$$(basename $$nb .ipynb).html"; \
	done

record: setup  ## re-execute the notebooks in place (classroom profile) so their committed outputs are fresh
	@for nb in $(NOTEBOOKS); do \
	    $(EXECUTE) --inplace "$$nb" || exit 1; \
	done

lab: setup
	$(JUPYTER) lab notebooks/

bench: setup
	@for b in $(sort $(wildcard benchmarks/*.py)); do echo "== $$b"; $(PY) "$$b" || exit 1; done

clean:
	rm -rf $(VENV) build .pytest_cache
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
	@echo "The asset cache is kept: rm -rf \$${LLM_TUTORIAL_CACHE:-\$${XDG_CACHE_HOME:-~/.cache}/llm-tutorial} to drop it."
