from __future__ import annotations

import csv
import gzip
import json
from pathlib import Path

import msgpack
import pytest

from td_output_linkedin.cli import main

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"


class Outcome:
    def __init__(self, exit_code: int, stdout: str, stderr: str, report: dict | None):
        self.exit_code = exit_code
        self.stdout = stdout
        self.stderr = stderr
        self.report = report


@pytest.fixture
def run_cli(tmp_path, capsys):
    """Runs the command line in-process and returns its exit code, output and report."""

    def run(*arguments: str, report: bool = True) -> Outcome:
        argv = list(arguments)
        report_path = tmp_path / "report.json"
        if report_path.exists():
            report_path.unlink()
        if report and argv and argv[0] == "run":
            argv += ["--report", str(report_path)]
        exit_code = main(argv)
        captured = capsys.readouterr()
        loaded = json.loads(report_path.read_text()) if report_path.exists() else None
        return Outcome(exit_code, captured.out, captured.err, loaded)

    return run


@pytest.fixture
def contacts_msgpack_gz(tmp_path) -> Path:
    """The example contacts as msgpack.gz maps, as `td job:show --format msgpack.gz` would write them."""
    with open(EXAMPLES / "contacts.csv", newline="", encoding="utf-8") as file:
        rows = list(csv.DictReader(file))
    path = tmp_path / "contacts.msgpack.gz"
    with gzip.open(path, "wb") as file:
        for row in rows:
            file.write(msgpack.packb(row))
    return path
