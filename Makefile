# Generated from testing.toml by `cargo xtask gen`: do not edit by hand.
# Change testing.toml, then run `cargo xtask gen` (CI runs `cargo xtask gen --check`).
# checksum: sha256:cfa690841936ac97

# Every target runs `cargo xtask <task>`, the code CI runs too.
# Extra arguments: `make pytest ARGS="-k name -x"`; for pytest,
# pytest-parallel and coverage they go to pytest, for the other targets to
# the task.
# `PYTEST_WORKERS=auto make pytest` runs the tests in parallel.
# XTASK=<command> replaces `cargo xtask` (e.g. a prebuilt binary).

XTASK ?= cargo xtask
ARGS ?=

.DEFAULT_GOAL := help
.PHONY: help pytest pytest-parallel coverage timings verify triage rollback gen

help:
	@echo 'Targets (extra arguments: make <target> ARGS="...")'
	@echo '  help             List the targets, one line each'
	@echo '  pytest           Run the tests serially; with PYTEST_WORKERS=auto (or N) in parallel'
	@echo '  pytest-parallel  Run the tests in parallel with pytest-xdist (parallel.workers, default auto)'
	@echo '  coverage         Run the tests with coverage combined across workers (html, xml and json reports)'
	@echo '  timings          Write the timing report and its trend (ci_timings.md)'
	@echo '  verify           Check that the suite gives the same results serially and in parallel'
	@echo '  triage           Re-run failing tests serially and repeatedly to classify them'
	@echo '  rollback         Switch CI back to serial runs (PYTEST_WORKERS=1)'
	@echo '  gen              Regenerate the files generated from testing.toml'

# Run the tests serially; with PYTEST_WORKERS=auto (or N) in parallel
pytest:
	$(XTASK) pytest -- $(ARGS)

# Run the tests in parallel with pytest-xdist (parallel.workers, default auto)
pytest-parallel:
	$(XTASK) pytest-parallel -- $(ARGS)

# Run the tests with coverage combined across workers (html, xml and json reports)
coverage:
	$(XTASK) coverage -- $(ARGS)

# Write the timing report and its trend (ci_timings.md)
timings:
	$(XTASK) timings $(ARGS)

# Check that the suite gives the same results serially and in parallel
verify:
	$(XTASK) verify $(ARGS)

# Re-run failing tests serially and repeatedly to classify them
triage:
	$(XTASK) triage $(ARGS)

# Switch CI back to serial runs (PYTEST_WORKERS=1)
rollback:
	$(XTASK) rollback $(ARGS)

# Regenerate the files generated from testing.toml
gen:
	$(XTASK) gen $(ARGS)
