# Set-up and everyday targets. Everything runs from a local virtual
# environment (.venv) that the first target creates.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
WORKSPACE ?= workspace

.PHONY: install run test lint format bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# Health exits 1 on any warning (low disk, say): it is shown and the run goes
# on to the backup; every other step stops the run when it fails.
run: $(STAMP)
	@if [ -f $(WORKSPACE)/.provisioning-workspace.toml ] && \
	    [ -f $(WORKSPACE)/runtime/workspaces/$${PROVISIONING_WORKSPACE_USER:-$${USER:-$$(id -un)}}/settings.toml ]; then \
	  echo "workspace ./$(WORKSPACE) exists; showing it"; \
	else \
	  USER=$${USER:-$$(id -un)} $(BIN)/workspace init --root $(WORKSPACE) --create-examples; \
	fi
	USER=$${USER:-$$(id -un)} $(BIN)/workspace status --root $(WORKSPACE) --detailed
	-USER=$${USER:-$$(id -un)} $(BIN)/workspace health --root $(WORKSPACE) --detailed
	USER=$${USER:-$$(id -un)} $(BIN)/workspace backup --root $(WORKSPACE) --auto-name --compress
	USER=$${USER:-$$(id -un)} $(BIN)/workspace restore --root $(WORKSPACE) --list-backups

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: $(STAMP) lint
	USER=$${USER:-$$(id -un)} $(BIN)/python -m pytest -q

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: $(STAMP)
	USER=$${USER:-$$(id -un)} $(BIN)/python -m benchmarks

clean:
	rm -rf build dist .pytest_cache .ruff_cache
