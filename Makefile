# Quick start: `make gui` opens the viewer on the bundled sample, `make test` runs the tests.
# Both create the virtual environment on first use.
VENV ?= .venv
PYTHON := $(VENV)/bin/python
HEADLESS := $(if $(DISPLAY)$(WAYLAND_DISPLAY),,yes)

.PHONY: install gui screenshot test test-slow benchmarks

install: $(VENV)/.installed

# torch is installed on its own first and pinned: that version is the local CPU build;
# any other spec pulls gigabytes of CUDA wheels.
$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PYTHON) -m pip install -q --upgrade pip
	$(PYTHON) -m pip install -q torch==2.13.0
	$(PYTHON) -m pip install -q -e '.[test]'
	touch $@

gui: install
ifeq ($(HEADLESS),yes)
	@echo "no display here: 'make screenshot' renders the main window to mspviewer-screenshot.png"; exit 1
else
	$(VENV)/bin/mspviewer
endif

screenshot: install
	QT_QPA_PLATFORM=offscreen $(VENV)/bin/mspviewer --screenshot mspviewer-screenshot.png --ladder

test: install
	QT_QPA_PLATFORM=offscreen $(PYTHON) -m pytest -q

test-slow: install
	QT_QPA_PLATFORM=offscreen $(PYTHON) -m pytest -q -m slow

benchmarks: install
	$(PYTHON) benchmarks/decode_speed.py
