"""Fixtures for the memory tests: the benchmark's row generator and a child process's peak RSS."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class ChildRun:
    exit_code: int
    peak_rss_bytes: int
    report: dict[str, Any]
    stderr: str


@pytest.fixture(scope="session")
def bench_generate() -> ModuleType:
    """bench/generate.py, loaded by path because bench/ is a folder of scripts, not a package."""
    spec = importlib.util.spec_from_file_location("bench_generate", ROOT / "bench" / "generate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    # dataclasses looks the module up in sys.modules while building Counts.
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def run_job(tmp_path: Path):
    """Runs ``td-output-linkedin run`` in a fresh interpreter and returns its peak RSS and report."""

    def run(config: Path, input_path: Path, *flags: str) -> ChildRun:
        report_path = tmp_path / "report.json"
        report_path.unlink(missing_ok=True)
        command = [
            sys.executable, "-m", "td_output_linkedin.cli", "run",
            "--config", str(config), "--input", str(input_path), *flags, "--report", str(report_path),
        ]
        with open(tmp_path / "stderr.txt", "wb") as stderr:
            process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=stderr, cwd=ROOT)
            # wait4 returns the usage of this child alone; getrusage(RUSAGE_CHILDREN) would mix children.
            _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
        report = json.loads(report_path.read_text(encoding="utf-8")) if report_path.exists() else {}
        # Linux reports ru_maxrss in kilobytes.
        return ChildRun(
            process.returncode, usage.ru_maxrss * 1024, report, (tmp_path / "stderr.txt").read_text(encoding="utf-8")
        )

    return run
