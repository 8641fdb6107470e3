"""Command line interface: ``python -m sbir_etl run|generate|check``."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from .enrich import EnrichError
from .extract import ExtractError
from .store import integrity_check


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser with the ``run``, ``generate`` and ``check`` commands."""
    parser = argparse.ArgumentParser(prog="sbir_etl", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="load an awards CSV into a store")
    run.add_argument("--input", required=True, type=Path, help="awards CSV")
    run.add_argument("--store", required=True, type=Path, help="SQLite store to write")
    run.add_argument("--transactions", type=Path, help="contract transactions CSV")
    run.add_argument("--agencies", type=Path, help="agency reference CSV")
    run.add_argument("--rejects", type=Path, help="write rejected rows to this CSV")
    run.add_argument("--strict", action="store_true", default=None,
                     help="reject rows without UEI or contract")

    generate = commands.add_parser("generate", help="write a synthetic dataset")
    generate.add_argument("--rows", required=True, type=int)
    generate.add_argument("--seed", type=int, default=0)
    generate.add_argument("--out", required=True, type=Path)
    generate.add_argument("--dirty-fraction", type=float, default=0.05)
    generate.add_argument("--duplicate-fraction", type=float, default=0.03)

    check = commands.add_parser("check", help="run the integrity check on a store")
    check.add_argument("--store", required=True, type=Path)
    return parser


def _run(args: argparse.Namespace) -> int:
    from .pipeline import run_pipeline

    started = time.perf_counter()
    try:
        result = run_pipeline(
            args.input, args.store, transactions_path=args.transactions,
            agencies_path=args.agencies, strict=args.strict, rejects_path=args.rejects,
        )
    except (ExtractError, EnrichError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for line in result.summary_lines():
        print(line)
    print(f"elapsed: {time.perf_counter() - started:.2f}s")
    return 0 if result.ok else 1


def _generate(args: argparse.Namespace) -> int:
    from .synthetic import generate_dataset, write_manifest

    try:
        dataset = generate_dataset(
            args.out, args.rows, seed=args.seed, dirty_fraction=args.dirty_fraction,
            duplicate_fraction=args.duplicate_fraction,
        )
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    write_manifest(dataset, args.out / "manifest.json")
    print(f"wrote {dataset.rows} award rows to {dataset.awards_path}")
    print(f"unique: {dataset.unique} duplicates: {dataset.duplicates} dirty: {dataset.dirty}")
    print(f"transactions: {dataset.transactions} (bad: {dataset.bad_transactions})")
    return 0


def _check(args: argparse.Namespace) -> int:
    problems = integrity_check(args.store)
    for problem in problems:
        print(f"problem: {problem}")
    print("integrity: ok" if not problems else f"integrity: FAILED ({len(problems)})")
    return 1 if problems else 0


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` and dispatch; return the process exit code."""
    args = build_parser().parse_args(argv)
    handlers = {"run": _run, "generate": _generate, "check": _check}
    return handlers[args.command](args)
