"""The command line: ``python -m sbir_etl`` in a subprocess, and ``main()`` in process."""

from __future__ import annotations

import json
import runpy
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from sbir_etl.cli import build_parser, main
from sbir_etl.synthetic import SyntheticDataset

DATASET_ROWS = 8_000
DATASET_SEED = 606


def run_cli(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run ``python -m sbir_etl`` with this interpreter and capture its output."""
    return subprocess.run(
        [sys.executable, "-m", "sbir_etl", *map(str, args)],
        cwd=cwd, capture_output=True, text=True, timeout=300, check=False,
    )


def _summary(stdout: str) -> dict[str, str]:
    pairs = (line.split(": ", 1) for line in stdout.splitlines() if ": " in line)
    return {key.strip(): value for key, value in pairs}


def test_help_lists_commands(tmp_path: Path) -> None:
    proc = run_cli("--help", cwd=tmp_path)
    assert proc.returncode == 0
    assert all(word in proc.stdout for word in ("run", "generate", "check"))


def test_generate_then_run(tmp_path: Path) -> None:
    gen = run_cli("generate", "--rows", "1500", "--seed", "3", "--out", tmp_path / "d",
                  cwd=tmp_path)
    assert gen.returncode == 0, gen.stderr
    manifest = json.loads((tmp_path / "d" / "manifest.json").read_text())
    run = run_cli("run", "--input", tmp_path / "d" / "awards.csv",
                  "--transactions", tmp_path / "d" / "transactions.csv",
                  "--store", tmp_path / "out.sqlite", cwd=tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    summary = _summary(run.stdout)
    assert summary["rows read"] == "1500"
    assert summary["rejected"] == str(manifest["dirty"])
    assert summary["loaded"] == str(manifest["unique"])
    assert summary["integrity"] == "ok"


def test_run_on_module_dataset(module_dataset: SyntheticDataset, tmp_path: Path,
                               worker_namespace: str) -> None:
    store = tmp_path / f"cli-{worker_namespace}.sqlite"
    proc = run_cli("run", "--input", module_dataset.awards_path,
                   "--transactions", module_dataset.transactions_path,
                   "--agencies", module_dataset.agencies_path,
                   "--rejects", tmp_path / "rejects.csv", "--store", store, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    summary = _summary(proc.stdout)
    assert summary["table awards"] == str(module_dataset.unique)
    assert summary["duplicates dropped"] == str(module_dataset.duplicates)
    assert len((tmp_path / "rejects.csv").read_text().splitlines()) == module_dataset.dirty + 1


def test_run_twice_gives_same_counts(module_dataset: SyntheticDataset, tmp_path: Path) -> None:
    args = ("run", "--input", module_dataset.awards_path,
            "--transactions", module_dataset.transactions_path, "--store", tmp_path / "s.sqlite")
    first, second = run_cli(*args, cwd=tmp_path), run_cli(*args, cwd=tmp_path)
    assert first.returncode == second.returncode == 0
    tables = lambda out: {k: v for k, v in _summary(out).items() if k.startswith("table")}  # noqa: E731
    assert tables(first.stdout) == tables(second.stdout)


def test_missing_input_exits_2(tmp_path: Path) -> None:
    proc = run_cli("run", "--input", tmp_path / "nope.csv", "--store", tmp_path / "s.sqlite",
                   cwd=tmp_path)
    assert proc.returncode == 2
    assert "no such input file" in proc.stderr


def test_check_reports_damage(small_dataset: SyntheticDataset, tmp_path: Path) -> None:
    store = tmp_path / "s.sqlite"
    assert main(["run", "--input", str(small_dataset.awards_path), "--store", str(store)]) == 0
    ok = run_cli("check", "--store", store, cwd=tmp_path)
    assert (ok.returncode, ok.stdout.strip()) == (0, "integrity: ok")
    with sqlite3.connect(store) as conn:
        conn.execute("UPDATE awards SET amount_cents = -1 WHERE id = 1")
    conn.close()
    bad = run_cli("check", "--store", store, cwd=tmp_path)
    assert bad.returncode == 1
    assert "non-positive amount" in bad.stdout


def test_usage_error_exits_2(tmp_path: Path) -> None:
    proc = run_cli("run", "--store", tmp_path / "s.sqlite", cwd=tmp_path)
    assert proc.returncode == 2
    assert "--input" in proc.stderr


# --- in process (fast, and measured by coverage) -------------------------------------


def test_main_run_prints_summary(small_dataset: SyntheticDataset, tmp_path: Path,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["run", "--input", str(small_dataset.awards_path),
                 "--agencies", str(small_dataset.agencies_path),
                 "--store", str(tmp_path / "s.sqlite")])
    out = capsys.readouterr().out
    assert code == 0
    assert _summary(out)["loaded"] == str(small_dataset.unique)
    assert "elapsed:" in out


def test_main_strict_flag(write_awards_csv: object, tmp_path: Path,
                          capsys: pytest.CaptureFixture[str]) -> None:
    path = write_awards_csv({"UEI": ""}, {})  # type: ignore[operator]
    assert main(["run", "--strict", "--input", str(path), "--store", str(tmp_path / "s")]) == 0
    summary = _summary(capsys.readouterr().out)
    assert (summary["rejected"], summary["reject missing UEI"]) == ("1", "1")


def test_main_bad_header(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("name,amount\nx,1\n")
    assert main(["run", "--input", str(path), "--store", str(tmp_path / "s.sqlite")]) == 2
    assert "missing required columns" in capsys.readouterr().err


def test_main_bad_agency_file(small_dataset: SyntheticDataset, tmp_path: Path) -> None:
    args = ["run", "--input", str(small_dataset.awards_path), "--agencies",
            str(tmp_path / "none.csv"), "--store", str(tmp_path / "s.sqlite")]
    assert main(args) == 2


def test_main_run_fails_on_damaged_store(small_dataset: SyntheticDataset, tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    store = tmp_path / "s.sqlite"
    main(["run", "--input", str(small_dataset.awards_path), "--store", str(store)])
    with sqlite3.connect(store) as conn:
        conn.execute("INSERT INTO companies(name_key, name) VALUES ('GHOST', 'Ghost')")
    conn.close()
    capsys.readouterr()
    assert main(["run", "--input", str(small_dataset.awards_path), "--store", str(store)]) == 1
    assert "integrity: FAILED (1)" in capsys.readouterr().out


def test_main_generate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["generate", "--rows", "200", "--seed", "9", "--out", str(tmp_path / "g")]) == 0
    assert "wrote 200 award rows" in capsys.readouterr().out
    assert json.loads((tmp_path / "g" / "manifest.json").read_text())["seed"] == 9


@pytest.mark.parametrize("fraction", ["-0.1", "1.5"])
def test_main_generate_bad_fraction(tmp_path: Path, fraction: str) -> None:
    argv = ["generate", "--rows", "10", "--dirty-fraction", fraction, "--out", str(tmp_path)]
    assert main(argv) == 2


def test_module_entry_point(monkeypatch: pytest.MonkeyPatch,
                            capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(sys, "argv", ["sbir_etl", "--help"])
    with pytest.raises(SystemExit) as excinfo:
        runpy.run_module("sbir_etl", run_name="__main__", alter_sys=False)
    assert excinfo.value.code == 0
    assert "usage: sbir_etl" in capsys.readouterr().out


def test_parser_requires_a_command() -> None:
    with pytest.raises(SystemExit) as excinfo:
        build_parser().parse_args([])
    assert excinfo.value.code == 2


def test_main_check(small_dataset: SyntheticDataset, tmp_path: Path,
                    capsys: pytest.CaptureFixture[str]) -> None:
    store = tmp_path / "s.sqlite"
    assert main(["check", "--store", str(store)]) == 1
    assert "store does not exist" in capsys.readouterr().out
    main(["run", "--input", str(small_dataset.awards_path), "--store", str(store)])
    capsys.readouterr()
    assert main(["check", "--store", str(store)]) == 0
    assert capsys.readouterr().out == "integrity: ok\n"
