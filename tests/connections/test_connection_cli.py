"""The ``connection`` commands as a user runs them, through the program's ``main``."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests

from connection_samples import ACCESS_TOKEN, CLIENT_SECRET, REFRESH_TOKEN
from td_output_linkedin.cli import main
from td_output_linkedin.connection_cli import CLIENT_SECRET_ENV_VAR
from td_output_linkedin.connections import Connection, ConnectionStore
from td_output_linkedin.sandbox import Sandbox, SandboxCredentials


@pytest.fixture
def app(sandbox: Sandbox) -> SandboxCredentials:
    return sandbox.authorize(client_id="cli-client")


@pytest.fixture
def browser(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Replace the system browser with one that follows the authorization URL; return the URLs opened."""
    opened: list[str] = []

    def open_url(url: str) -> bool:
        opened.append(url)
        requests.get(url, timeout=10)
        return True

    monkeypatch.setattr("webbrowser.open", open_url)
    return opened


def create_arguments(sandbox: Sandbox, app: SandboxCredentials, *extra: str) -> list[str]:
    return [
        "connection",
        "create",
        "main",
        "--client-id",
        app.client_id,
        "--oauth-base-url",
        sandbox.base_url,
        "--port",
        "0",
        "--timeout",
        "30",
        *extra,
    ]


def test_create_stores_connection(
    sandbox: Sandbox,
    app: SandboxCredentials,
    store: ConnectionStore,
    browser: list[str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    status = main(create_arguments(sandbox, app, "--client-secret", app.client_secret))

    output = capsys.readouterr()
    assert status == 0
    assert len(browser) == 1
    assert browser[0] in output.out
    assert "Saved connection 'main'" in output.out
    assert output.err == ""
    assert store.get("main").client_id == app.client_id


def test_create_reads_secret_from_env(
    sandbox: Sandbox,
    app: SandboxCredentials,
    store: ConnectionStore,
    browser: list[str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv(CLIENT_SECRET_ENV_VAR, app.client_secret)

    status = main(create_arguments(sandbox, app))

    assert status == 0
    assert store.get("main").client_secret == app.client_secret
    assert app.client_secret not in capsys.readouterr().out


def test_create_without_secret_is_usage_error(
    sandbox: Sandbox, app: SandboxCredentials, browser: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    status = main(create_arguments(sandbox, app))

    assert status == 2
    assert f"pass --client-secret or set {CLIENT_SECRET_ENV_VAR}" in capsys.readouterr().err
    assert browser == []


@pytest.mark.parametrize(
    ("option", "value", "expected"),
    [
        ("--port", "70000", "--port 70000 is invalid"),
        ("--port", "-1", "--port -1 is invalid"),
        ("--timeout", "0", "--timeout 0 is invalid"),
    ],
)
def test_create_invalid_option(
    sandbox: Sandbox,
    app: SandboxCredentials,
    browser: list[str],
    capsys: pytest.CaptureFixture[str],
    option: str,
    value: str,
    expected: str,
) -> None:
    status = main([*create_arguments(sandbox, app, "--client-secret", app.client_secret), option, value])

    assert status == 2
    assert expected in capsys.readouterr().err
    assert browser == []


def test_create_rejected_secret_fails(
    sandbox: Sandbox,
    app: SandboxCredentials,
    store: ConnectionStore,
    browser: list[str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    status = main(create_arguments(sandbox, app, "--client-secret", "not-the-secret-0000"))

    error = capsys.readouterr().err
    assert status == 1
    assert "invalid_client" in error
    assert "check --client-id and --client-secret" in error
    assert "no connection was saved" in error
    assert "not-the-secret-0000" not in error
    assert store.list() == []


def test_create_invalid_name_is_usage_error(
    sandbox: Sandbox, app: SandboxCredentials, browser: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    arguments = create_arguments(sandbox, app, "--client-secret", app.client_secret)
    arguments[2] = "bad/name"

    status = main(arguments)

    assert status == 2
    assert "invalid name 'bad/name'" in capsys.readouterr().err
    assert browser == []


def test_list_without_connections(connections_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["connection", "list"])

    assert status == 0
    assert capsys.readouterr().out == f"No connections in {connections_file}.\n"


def test_list_shows_expiry_never_secrets(
    store: ConnectionStore, make_connection: Callable[..., Connection], capsys: pytest.CaptureFixture[str]
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    store.save(
        make_connection(
            "active",
            created_at=datetime(2026, 1, 2, 3, 4, tzinfo=UTC),
            refresh_token_expires_at=now + timedelta(days=100, hours=1),
        )
    )
    store.save(make_connection("lapsed", refresh_token_expires_at=now - timedelta(days=1)))
    store.save(
        make_connection(
            "no-refresh",
            refresh_token=None,
            refresh_token_expires_at=None,
            access_token_expires_at=now + timedelta(days=20, hours=1),
        )
    )

    status = main(["connection", "list"])

    lines = capsys.readouterr().out.splitlines()
    assert status == 0
    assert len(lines) == 4
    assert lines[0].split() == ["NAME", "CREATED", "REFRESH", "TOKEN", "EXPIRES", "DAYS", "LEFT"]
    assert lines[1].startswith("active ")
    assert "2026-01-02 03:04 UTC" in lines[1]
    assert lines[1].endswith(" 100")
    assert lines[2].startswith("lapsed ")
    assert lines[2].endswith(" expired")
    assert lines[3].startswith("no-refresh ")
    assert "(no refresh token; access token expiry)" in lines[3]
    assert lines[3].endswith(" 20")
    for secret in (CLIENT_SECRET, ACCESS_TOKEN, REFRESH_TOKEN):
        assert all(secret not in line for line in lines)


def test_list_unreadable_file_is_usage_error(connections_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    connections_file.parent.mkdir(parents=True)
    connections_file.write_text("{broken")

    status = main(["connection", "list"])

    assert status == 2
    assert "is not valid JSON" in capsys.readouterr().err


def test_delete_removes_connection(
    store: ConnectionStore, make_connection: Callable[..., Connection], capsys: pytest.CaptureFixture[str]
) -> None:
    store.save(make_connection("keep"))
    store.save(make_connection("drop"))

    status = main(["connection", "delete", "drop"])

    assert status == 0
    assert f"Deleted connection 'drop' from {store.path}." in capsys.readouterr().out
    assert [connection.name for connection in store.list()] == ["keep"]


def test_delete_missing_is_usage_error(store: ConnectionStore, capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["connection", "delete", "absent"])

    assert status == 2
    assert "no connection named 'absent'" in capsys.readouterr().err


def test_connection_without_subcommand(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["connection"])

    assert exited.value.code == 2
    assert "create" in capsys.readouterr().err
