# Generated from testing.toml by `cargo xtask gen`: do not edit by hand.
# Change testing.toml, then run `cargo xtask gen` (CI runs `cargo xtask gen --check`).
# checksum: sha256:b5bf4a431a933ff6

# Every recipe runs `cargo xtask <task>`, the code CI runs too.
# Extra arguments go to pytest for `test`, `test-parallel` and `coverage`
# (`just test -k name`), and to the task for the others (`just gen --check`).
# `PYTEST_WORKERS=auto just test` runs the tests in parallel.
# XTASK=<command> replaces `cargo xtask` (e.g. a prebuilt binary).

set positional-arguments

xtask := env("XTASK", "cargo xtask")

# List the targets, one line each
help:
    @{{ just_executable() }} --justfile {{ justfile() }} --list --unsorted

# Run the tests serially; with PYTEST_WORKERS=auto (or N) in parallel
test *args:
    {{ xtask }} pytest -- "$@"

# Run the tests in parallel with pytest-xdist (parallel.workers, default auto)
test-parallel *args:
    {{ xtask }} pytest-parallel -- "$@"

# Run the tests with coverage combined across workers (html, xml and json reports)
coverage *args:
    {{ xtask }} coverage -- "$@"

# Write the timing report and its trend (ci_timings.md)
timings *args:
    {{ xtask }} timings "$@"

# Check that the suite gives the same results serially and in parallel
verify *args:
    {{ xtask }} verify "$@"

# Re-run failing tests serially and repeatedly to classify them
triage *args:
    {{ xtask }} triage "$@"

# Switch CI back to serial runs (PYTEST_WORKERS=1)
rollback *args:
    {{ xtask }} rollback "$@"

# Regenerate the files generated from testing.toml
gen *args:
    {{ xtask }} gen "$@"
