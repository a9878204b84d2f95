from __future__ import annotations

import json
import stat
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from connection_samples import ACCESS_TOKEN, CLIENT_SECRET, NOW, REFRESH_TOKEN
from td_output_linkedin.connections import (
    ENV_VAR,
    STORE_FORMAT_VERSION,
    Connection,
    ConnectionStore,
    default_store_path,
    validate_name,
)
from td_output_linkedin.errors import ConfigError


@pytest.mark.parametrize(
    ("env_override", "xdg_config_home", "expected"),
    [
        ("/srv/td/conns.json", "/xdg", Path("/srv/td/conns.json")),
        (None, "/xdg", Path("/xdg/td-output-linkedin/connections.json")),
        ("", "/xdg", Path("/xdg/td-output-linkedin/connections.json")),
        (None, None, Path("/home/someone/.config/td-output-linkedin/connections.json")),
        (None, "", Path("/home/someone/.config/td-output-linkedin/connections.json")),
    ],
)
def test_default_store_path(
    monkeypatch: pytest.MonkeyPatch, env_override: str | None, xdg_config_home: str | None, expected: Path
) -> None:
    monkeypatch.setenv("HOME", "/home/someone")
    for variable, value in ((ENV_VAR, env_override), ("XDG_CONFIG_HOME", xdg_config_home)):
        if value is None:
            monkeypatch.delenv(variable, raising=False)
        else:
            monkeypatch.setenv(variable, value)

    assert default_store_path() == expected


def test_store_uses_env_var_path(connections_file: Path) -> None:
    assert ConnectionStore().path == connections_file


def test_save_then_get_round_trip(store: ConnectionStore, make_connection: Callable[..., Connection]) -> None:
    connection = make_connection(scopes=("r_ads", "rw_dmp_segments"), oauth_base_url="http://127.0.0.1:1")
    store.save(connection)

    loaded = store.get("main")

    assert loaded == connection
    assert loaded.created_at.tzinfo is not None


def test_save_without_refresh_token(store: ConnectionStore, make_connection: Callable[..., Connection]) -> None:
    store.save(make_connection(refresh_token=None, refresh_token_expires_at=None))

    loaded = store.get("main")

    assert loaded.refresh_token is None
    assert loaded.refresh_token_expires_at is None
    assert loaded.expires_at == loaded.access_token_expires_at


def test_file_and_folder_modes(
    store: ConnectionStore, make_connection: Callable[..., Connection], connections_file: Path
) -> None:
    store.save(make_connection())

    assert stat.S_IMODE(connections_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(connections_file.parent.stat().st_mode) == 0o700


def test_existing_file_mode_tightened_on_save(
    store: ConnectionStore, make_connection: Callable[..., Connection], connections_file: Path
) -> None:
    store.save(make_connection("first"))
    connections_file.chmod(0o644)

    store.save(make_connection("second"))

    assert stat.S_IMODE(connections_file.stat().st_mode) == 0o600


def test_file_layout(store: ConnectionStore, make_connection: Callable[..., Connection], connections_file: Path) -> None:
    store.save(make_connection())

    document = json.loads(connections_file.read_text())

    assert document["version"] == STORE_FORMAT_VERSION
    assert list(document["connections"]) == ["main"]
    entry = document["connections"]["main"]
    assert entry["created_at"] == "2026-02-19T12:00:00Z"
    assert entry["refresh_token_expires_at"] == "2027-02-19T12:00:00Z"
    assert entry["client_secret"] == CLIENT_SECRET
    assert entry["scopes"] == ["rw_dmp_segments", "r_ads"]


def test_save_leaves_no_temporary_files(
    store: ConnectionStore, make_connection: Callable[..., Connection], connections_file: Path
) -> None:
    for name in ("one", "two", "three"):
        store.save(make_connection(name))

    left = sorted(path.name for path in connections_file.parent.iterdir())

    assert left == ["connections.json", "connections.json.lock"]


def test_save_replaces_same_name(store: ConnectionStore, make_connection: Callable[..., Connection]) -> None:
    store.save(make_connection(client_id="old-client"))
    store.save(make_connection(client_id="new-client"))

    assert [connection.client_id for connection in store.list()] == ["new-client"]


def test_list_sorted_by_name(store: ConnectionStore, make_connection: Callable[..., Connection]) -> None:
    for name in ("zeta", "alpha", "Mid"):
        store.save(make_connection(name))

    assert [connection.name for connection in store.list()] == ["Mid", "alpha", "zeta"]


def test_list_without_file_is_empty(store: ConnectionStore, connections_file: Path) -> None:
    assert store.list() == []
    assert not connections_file.exists()


def test_get_missing_names_command(store: ConnectionStore, make_connection: Callable[..., Connection]) -> None:
    store.save(make_connection("main"))

    with pytest.raises(ConfigError) as raised:
        store.get("other")

    message = str(raised.value)
    assert "'other'" in message
    assert str(store.path) in message
    assert "td-output-linkedin connection create other" in message


def test_delete_removes_only_that_name(store: ConnectionStore, make_connection: Callable[..., Connection]) -> None:
    store.save(make_connection("keep"))
    store.save(make_connection("drop"))

    store.delete("drop")

    assert [connection.name for connection in store.list()] == ["keep"]


def test_delete_missing_raises(store: ConnectionStore, make_connection: Callable[..., Connection]) -> None:
    store.save(make_connection("keep"))

    with pytest.raises(ConfigError, match="no connection named 'gone'"):
        store.delete("gone")
    assert [connection.name for connection in store.list()] == ["keep"]


def test_update_saves_changed_connection(store: ConnectionStore, make_connection: Callable[..., Connection]) -> None:
    store.save(make_connection())
    later = datetime(2026, 4, 1, tzinfo=UTC)

    saved = store.update("main", lambda connection: make_connection(access_token_expires_at=later))

    assert saved is not None
    assert store.get("main").access_token_expires_at == later


@pytest.mark.parametrize("name", ["main", "missing"])
def test_update_returning_none_keeps_file(
    store: ConnectionStore, make_connection: Callable[..., Connection], connections_file: Path, name: str
) -> None:
    store.save(make_connection())
    before = connections_file.read_bytes()

    assert store.update(name, lambda connection: None) is None
    assert connections_file.read_bytes() == before


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("{not json", "is not valid JSON"),
        ("[]", "has no 'connections' object"),
        ('{"version": 1}', "has no 'connections' object"),
        ('{"version": 2, "connections": {}}', "format version 2"),
        ('{"connections": {}}', "format version None"),
    ],
)
def test_unreadable_file_raises(store: ConnectionStore, connections_file: Path, content: str, expected: str) -> None:
    connections_file.parent.mkdir(parents=True)
    connections_file.write_text(content)

    with pytest.raises(ConfigError, match=expected):
        store.list()


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ({}, "(created_at)"),
        ({"created_at": "yesterday"}, "(ValueError)"),
        ({"created_at": "2026-01-01T00:00:00"}, "(ValueError)"),
        ("not an object", "(AttributeError)"),
    ],
)
def test_invalid_entry_names_entry_not_value(
    store: ConnectionStore, connections_file: Path, entry: object, expected: str
) -> None:
    connections_file.parent.mkdir(parents=True)
    connections_file.write_text(json.dumps({"version": 1, "connections": {"broken": entry}}))

    with pytest.raises(ConfigError) as raised:
        store.get("broken")

    message = str(raised.value)
    assert "entry 'broken'" in message
    assert expected in message
    assert "yesterday" not in message


def test_repr_hides_secrets(make_connection: Callable[..., Connection]) -> None:
    text = repr(make_connection())

    assert "client-1" in text
    for secret in (CLIENT_SECRET, ACCESS_TOKEN, REFRESH_TOKEN):
        assert secret not in text


@pytest.mark.parametrize("name", ["main", "a", "prod-eu.2", "Team_A", "x" * 64])
def test_valid_names(name: str) -> None:
    validate_name(name)


@pytest.mark.parametrize("name", ["", "-leading-dash", ".hidden", "has space", "slash/name", "x" * 65, "ünïcode"])
def test_invalid_names(name: str) -> None:
    with pytest.raises(ConfigError, match="invalid name"):
        validate_name(name)


def test_save_rejects_invalid_name(store: ConnectionStore, make_connection: Callable[..., Connection]) -> None:
    with pytest.raises(ConfigError, match="invalid name"):
        store.save(make_connection("bad name"))
    assert store.list() == []


def test_created_at_kept_to_the_second(store: ConnectionStore, make_connection: Callable[..., Connection]) -> None:
    store.save(make_connection(created_at=NOW.replace(microsecond=123456)))

    assert store.get("main").created_at == NOW
