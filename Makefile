# One-command set-up and checks. Every target installs what it needs; a second run is fast.
#   make run    execute every notebook (classroom profile) into build/ (.ipynb + .html)
#   make test   lint, unit tests, the online paths against a local Hub, nbval of every notebook (smoke, offline),
#               the reference solutions through every check cell, the slide decks in headless Chromium
#   make slides offline reveal.js decks of the recorded notebooks (docs/recorded/), and their PDFs, into build/
#   make solutions  run every exercise's reference solution (notebooks/solutions/) through its check cell
#   make solved  the recordings with every exercise solved, into docs/solved/ (instructors' copies)
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
JUPYTER := $(VENV)/bin/jupyter
STAMP := $(VENV)/.installed
NOTEBOOKS := $(sort $(wildcard notebooks/*.ipynb))
RECORDED := docs/recorded
# nbval executes the recorded copies (the notebooks' very sources, a test checks) and compares the cells tagged
# nbval-check-output with their recorded outputs; the notebooks students open carry none
RECORDINGS := $(sort $(wildcard $(RECORDED)/*.ipynb))
PIP_QUIET := --quiet --disable-pip-version-check --no-warn-script-location
# headless kernels talk over local IPC sockets, not unencrypted TCP (so ipykernel has nothing to warn about);
# the socket path is absolute because the kernel runs in notebooks/, and under /tmp when $TMPDIR is so long that
# the socket's path would pass the 107 characters a Unix socket may have
EXECUTE := $(JUPYTER) nbconvert --to notebook --execute --ExecutePreprocessor.timeout=3600 \
    --KernelManager.transport=ipc \
    --KernelManager.ip="$$(d="$${TMPDIR:-/tmp}"; [ $${\#d} -le 80 ] || d=/tmp; echo "$${d%/}/llm-tutorial-kernel")"

.PHONY: setup assets test run record solved lab bench clean slides solutions check-notebooks

# a .venv whose Python no longer runs (the Python that made it was removed or upgraded) is made again
ifneq ($(wildcard $(STAMP)),)
ifneq ($(shell $(PY) -c "print('ok')" 2>/dev/null),ok)
$(info $(VENV)'s Python no longer runs (was the Python that made it removed?): making $(VENV) again)
$(shell rm -f $(STAMP))
VENV_FLAGS := --clear
endif
endif

PIP_FAILED := error: pip could not install requirements.txt (its own words are above). If they say ResolutionImpossible \
    or "No matching distribution", the package index is probably out of reach: check the network and the index \
    settings of pip (.venv/bin/pip config list), then run make again.

$(STAMP): requirements.txt pyproject.toml
	@echo "Creating $(VENV) and installing requirements.txt (first time: ~2 min)"
	$(PYTHON) -m venv $(VENV_FLAGS) $(VENV)
	$(PY) -m pip install $(PIP_QUIET) -r requirements.txt 2> >(grep -v "^WARNING: Location" >&2) \
	    || { echo '$(PIP_FAILED)' >&2; exit 1; }
	@# make `import utils` work from notebooks/, tests/ and benchmarks/ (pyproject.toml)
	$(PY) -m pip install $(PIP_QUIET) --no-deps -e . 2> >(grep -v "^WARNING: Location" >&2)
	touch $(STAMP)

# JupyterLab settings of this environment: no first-run "get notified about Jupyter news?" toast over the notebook
LAB_SETTINGS := $(VENV)/share/jupyter/lab/settings/overrides.json
$(LAB_SETTINGS): $(STAMP) Makefile
	@mkdir -p $(dir $@)
	@printf '%s\n' '{"@jupyterlab/apputils-extension:notification": {"fetchNews": "false", "checkForUpdates": false}}' > $@

# the environment and every offline stand-in: all that make test needs
assets: $(STAMP) $(LAB_SETTINGS)
	@$(PY) -m utils.offline.assets

# a classroom's set-up: that, and where the Hub answers, bert-base-uncased and gpt2 in the local Hub cache (about
# 1 GB), so a class taught offline (HF_HUB_OFFLINE=1) still runs the real models
setup: assets
	@$(PY) -m utils.tools.prepare --cache-hub-models

# two pytest-xdist workers, each running whole groups of tests (tests/conftest.py says which, slowest first)
WORKERS := -n 2 --dist loadscope
# tests/conftest.py makes the run hermetic (an empty Hugging Face cache, offline, the smoke profile), whatever
# the caller's environment holds; the variables here say the same for readers of this file.
test: assets check-notebooks
	$(VENV)/bin/ruff check --quiet .
	$(VENV)/bin/actionlint
	HF_HUB_OFFLINE=1 LLM_TUTORIAL_PROFILE=smoke LLM_TUTORIAL_WIDGETS=off $(PY) -m pytest -p no:cacheprovider -q tests $(RECORDINGS) \
	    --nbval-lax --nbval-current-env $(WORKERS)

# students open notebooks/ and see no answer before they predict it: a committed notebook carries no outputs
# (the pre-commit hook strips them; .pre-commit-config.yaml)
check-notebooks: $(STAMP)
	@for nb in $(NOTEBOOKS); do \
	    $(VENV)/bin/nbstripout --keep-id --verify "$$nb" >/dev/null || { \
	        echo "error: $$nb carries outputs; strip them with $(VENV)/bin/nbstripout --keep-id $$nb" >&2; exit 1; }; \
	done

# only the offline stand-ins this machine will actually run are built (none, online with the real models);
# live and interactive views are drawn once, as a static HTML page can show them; the predictions are written in
# (utils/tools/record.py), so every reveal shows
run: export LLM_TUTORIAL_WIDGETS = off
run: $(STAMP)
	@$(PY) -m utils.tools.prepare
	@mkdir -p build
	@for nb in $(NOTEBOOKS); do \
	    echo "== $$nb"; start=$$(date +%s); \
	    rm -rf build/.executing; \
	    $(PY) -m utils.tools.record "$$nb" build/.executing/in || exit 1; \
	    $(EXECUTE) --output-dir build/.executing "build/.executing/in/$$(basename $$nb)" --log-level ERROR \
	        || { rm -rf build/.executing; exit 1; }; \
	    mv "build/.executing/$$(basename $$nb)" build/ && rm -rf build/.executing || exit 1; \
	    $(PY) -m utils.tools.handouts "build/$$(basename $$nb)" >/dev/null || exit 1; \
	    echo "   $$(( $$(date +%s) - start )) s -> build/$$(basename $$nb .ipynb).html"; \
	done

record: export LLM_TUTORIAL_WIDGETS = off
# online, the recordings (and so the decks) show the Hub's models; offline, the stand-ins, and each deck says which;
# the cells tagged `prediction` hold the reference predictions (utils/tools/record.py), so every reveal shows
RECORD_INTO ?= $(RECORDED)
record: $(STAMP)  ## execute the notebooks (classroom profile) into docs/recorded/, which the decks show
	@$(PY) -m utils.tools.prepare
	@mkdir -p $(RECORD_INTO)
	@for nb in $(NOTEBOOKS); do \
	    rm -rf build/.recording; \
	    $(PY) -m utils.tools.record "$$nb" build/.recording/in $(RECORD_FLAGS) || exit 1; \
	    $(EXECUTE) --output-dir build/.recording "build/.recording/in/$$(basename $$nb)" --log-level ERROR \
	        || { rm -rf build/.recording; exit 1; }; \
	    mv "build/.recording/$$(basename $$nb)" $(RECORD_INTO)/ && rm -rf build/.recording || exit 1; \
	    echo "$(RECORD_INTO)/$$(basename $$nb)"; \
	done

# the instructors' solved copies: the recordings with every answer cell holding its reference solution
solved:
	@$(MAKE) --no-print-directory record RECORD_FLAGS=--solved RECORD_INTO=docs/solved

# as root (a container, a cloud VM) JupyterLab refuses to start without --allow-root
lab: $(STAMP) $(LAB_SETTINGS)
	@$(PY) -m utils.tools.prepare
	@echo "Starting JupyterLab on the project's environment; open the http://127.0.0.1:8888/lab?token=... URL it prints."
	@echo "To present: open a notebook, then Alt+R (or View > Render as slideshow) shows it as live slides."
	$(JUPYTER) lab --notebook-dir=notebooks --no-browser $$([ "$$(id -u)" = 0 ] && echo --allow-root)

# the decks show the recorded classroom outputs (docs/recorded/, make record); reveal.js comes from a pinned npm package
slides: $(STAMP)
	@$(PY) -m utils.tools.slides --record-online

# inject notebooks/solutions/ into the answer cells, execute (smoke, offline), fail unless every check says so
solutions: assets
	HF_HUB_OFFLINE=1 LLM_TUTORIAL_PROFILE=smoke LLM_TUTORIAL_WIDGETS=off $(PY) -m pytest -p no:cacheprovider -q \
	    $(wildcard tests/test_exercises*.py) $(WORKERS)

bench: assets
	@for b in $(sort $(wildcard benchmarks/*.py)); do echo "== $$b"; $(PY) "$$b" || exit 1; done

clean:
	rm -rf $(VENV) build .pytest_cache
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
	@echo "The asset cache is kept: rm -rf \$${LLM_TUTORIAL_CACHE:-\$${XDG_CACHE_HOME:-~/.cache}/llm-tutorial} to drop it."
