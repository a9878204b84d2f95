from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from connection_samples import ACCESS_TOKEN, CLIENT_SECRET, NOW, REFRESH_TOKEN
from td_output_linkedin.connections import ENV_VAR, Connection, ConnectionStore
from td_output_linkedin.joblog import JobLog
from td_output_linkedin.sandbox import Sandbox


@pytest.fixture(autouse=True)
def connections_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point the store at a file under tmp_path, so no test touches the real home folder."""
    path = tmp_path / "config" / "td-output-linkedin" / "connections.json"
    monkeypatch.setenv(ENV_VAR, str(path))
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    monkeypatch.delenv("TD_OUTPUT_LINKEDIN_CLIENT_SECRET", raising=False)
    return path


@pytest.fixture
def store(connections_file: Path) -> ConnectionStore:
    return ConnectionStore(connections_file)


@pytest.fixture
def make_connection() -> Callable[..., Connection]:
    """Build a connection created at NOW - 10 days whose tokens expire when the test specifies."""

    def make(name: str = "main", **overrides: Any) -> Connection:
        values: dict[str, Any] = {
            "name": name,
            "created_at": NOW - timedelta(days=10),
            "client_id": "client-1",
            "client_secret": CLIENT_SECRET,
            "access_token": ACCESS_TOKEN,
            "access_token_expires_at": NOW + timedelta(days=50),
            "refresh_token": REFRESH_TOKEN,
            "refresh_token_expires_at": NOW + timedelta(days=355),
        }
        values.update(overrides)
        return Connection(**values)

    return make


@pytest.fixture
def job_log(caplog: pytest.LogCaptureFixture) -> JobLog:
    caplog.set_level(logging.DEBUG, logger="tests.connections")
    return JobLog(logging.getLogger("tests.connections"))


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    """A sandbox on 127.0.0.1 shared by the tests of one module."""
    with Sandbox() as running:
        yield running
