# Everything runs inside .venv, which the first call creates; later calls reuse it.
PY := .venv/bin/python
STAMP := .venv/.installed

.PHONY: demo test test-slow bench clean

$(STAMP): pyproject.toml
	python3 -m venv .venv
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(PY) -m transmem demo

test: $(STAMP)
	$(PY) -m pytest

test-slow: $(STAMP)
	$(PY) -m pytest -m slow

bench: $(STAMP)
	$(PY) benchmarks/speed.py

clean:
	rm -rf .venv
