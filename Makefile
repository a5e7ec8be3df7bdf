# shotline: `make up` runs everything locally, `make test` runs the whole suite.
PYTHON ?= python3
VENV := .venv
COMPAT := .venv-compat
BIN := $(VENV)/bin
export READTHEDOCS := 1

.PHONY: up test venv compat broker system-deps artifacts bench clean

up: venv broker  ## install, ensure the broker, start every service, print URL and a demo token
	@bash scripts/up.sh

test: venv compat broker  ## the whole test suite against the real broker
	$(BIN)/python -m pytest $(PYTEST_ARGS)

venv: $(VENV)/.installed
$(VENV)/.installed: pyproject.toml | system-deps
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

compat: $(COMPAT)/.installed  ## the real qiskit-cold-atom client, in its own virtualenv
$(COMPAT)/.installed: tests/compat/requirements.txt
	$(PYTHON) -m venv $(COMPAT)
	$(COMPAT)/bin/pip install --quiet -r tests/compat/requirements.txt
	touch $@

system-deps:  ## tkinter (lyse) and the GL/glib libraries PyQt5 links against
	@bash scripts/system_deps.sh $(PYTHON)

broker: venv  ## a running RabbitMQ with the management plugin, and the topology declared
	@bash deploy/ensure_broker.sh
	@$(BIN)/shotline topology

artifacts: venv  ## regenerate JSON Schemas, AsyncAPI, event catalogue, broker definitions
	$(BIN)/python -m contracts.artifacts

bench: venv compat broker  ## every benchmark script; each prints its table
	@for b in tests/bench/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) $(COMPAT) var .pytest_cache
