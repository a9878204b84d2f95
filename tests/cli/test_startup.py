"""Every job starts the program: building its command line must not load code that only some commands use."""

from __future__ import annotations

import subprocess
import sys

import pytest

LOADED = """
import sys
from td_output_linkedin import cli
cli.build_parser()
print(" ".join(sorted(name for name in sys.argv[1:] if name in sys.modules)))
"""


@pytest.mark.parametrize(
    "module",
    [
        "requests",
        "td_output_linkedin.connections",
        "td_output_linkedin.linkedin",
        "td_output_linkedin.sandbox.server",
    ],
)
def test_parser_loads_no_command_code(module: str) -> None:
    # A fresh interpreter, because this test process has imported everything already.
    loaded = subprocess.run(
        [sys.executable, "-c", LOADED, module], capture_output=True, text=True, check=True, timeout=60
    ).stdout.split()

    assert loaded == []
