from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from connection_samples import ACCESS_TOKEN, CLIENT_SECRET, NOW, REFRESH_TOKEN
from td_output_linkedin.connections import Connection, ConnectionStore, resolve_connection_auth
from td_output_linkedin.errors import ConfigError, ReauthorizationRequired
from td_output_linkedin.joblog import REDACTED, JobLog
from td_output_linkedin.linkedin.auth import TokenGrant


def warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [record.getMessage() for record in caplog.records if record.levelname == "WARNING"]


def test_resolve_returns_stored_credentials(
    store: ConnectionStore, make_connection: Callable[..., Connection], job_log: JobLog, caplog: pytest.LogCaptureFixture
) -> None:
    store.save(make_connection())

    auth, _ = resolve_connection_auth("main", store=store, now=NOW, log=job_log)

    assert auth.client_id == "client-1"
    assert auth.client_secret == CLIENT_SECRET
    assert auth.refresh_token == REFRESH_TOKEN
    assert auth.access_token == ACCESS_TOKEN
    assert auth.connection == "main"
    assert warnings(caplog) == []


def test_resolve_uses_default_store(make_connection: Callable[..., Connection], job_log: JobLog) -> None:
    ConnectionStore().save(make_connection())

    auth, _ = resolve_connection_auth("main", now=NOW, log=job_log)

    assert auth.client_id == "client-1"


def test_resolve_missing_connection(store: ConnectionStore, job_log: JobLog) -> None:
    with pytest.raises(ConfigError, match="td-output-linkedin connection create absent"):
        resolve_connection_auth("absent", store=store, now=NOW, log=job_log)


@pytest.mark.parametrize(
    ("refresh_expires_in", "expected_days_left"),
    [
        (timedelta(days=355), None),
        (timedelta(days=30, seconds=1), None),
        (timedelta(days=30), 30),
        (timedelta(days=29, hours=12), 29),
        (timedelta(days=1), 1),
        (timedelta(hours=1), 0),
    ],
)
def test_refresh_token_expiry_warning(
    store: ConnectionStore,
    make_connection: Callable[..., Connection],
    job_log: JobLog,
    caplog: pytest.LogCaptureFixture,
    refresh_expires_in: timedelta,
    expected_days_left: int | None,
) -> None:
    store.save(make_connection(refresh_token_expires_at=NOW + refresh_expires_in))

    resolve_connection_auth("main", store=store, now=NOW, log=job_log)

    logged = warnings(caplog)
    if expected_days_left is None:
        assert logged == []
    else:
        assert len(logged) == 1
        assert f"({expected_days_left} days left)" in logged[0]
        assert "refresh token expires on" in logged[0]
        assert "td-output-linkedin connection create main" in logged[0]


@pytest.mark.parametrize("expired_for", [timedelta(0), timedelta(seconds=1), timedelta(days=400)])
def test_expired_refresh_token_fails(
    store: ConnectionStore, make_connection: Callable[..., Connection], job_log: JobLog, expired_for: timedelta
) -> None:
    store.save(make_connection(refresh_token_expires_at=NOW - expired_for))

    with pytest.raises(ReauthorizationRequired) as raised:
        resolve_connection_auth("main", store=store, now=NOW, log=job_log)

    message = str(raised.value)
    assert "refresh token expired on" in message
    assert "td-output-linkedin connection create main` again" in message
    assert str(store.path) in message


@pytest.mark.parametrize(
    ("access_expires_in", "expected"),
    [
        (timedelta(days=20), "warns"),
        (timedelta(days=45), "silent"),
        (timedelta(seconds=-1), "fails"),
    ],
)
def test_connection_without_refresh_token(
    store: ConnectionStore,
    make_connection: Callable[..., Connection],
    job_log: JobLog,
    caplog: pytest.LogCaptureFixture,
    access_expires_in: timedelta,
    expected: str,
) -> None:
    store.save(
        make_connection(
            refresh_token=None, refresh_token_expires_at=None, access_token_expires_at=NOW + access_expires_in
        )
    )

    if expected == "fails":
        with pytest.raises(ReauthorizationRequired, match="access token .*expired on"):
            resolve_connection_auth("main", store=store, now=NOW, log=job_log)
        return
    auth, _ = resolve_connection_auth("main", store=store, now=NOW, log=job_log)

    assert auth.refresh_token is None
    assert auth.access_token == ACCESS_TOKEN
    if expected == "warns":
        assert len(warnings(caplog)) == 1
        assert "access token (the connection has no refresh token) expires on" in warnings(caplog)[0]
    else:
        assert warnings(caplog) == []


def test_refresh_token_without_known_expiry_is_silent(
    store: ConnectionStore, make_connection: Callable[..., Connection], job_log: JobLog, caplog: pytest.LogCaptureFixture
) -> None:
    store.save(make_connection(refresh_token_expires_at=None))

    auth, _ = resolve_connection_auth("main", store=store, now=NOW, log=job_log)

    assert auth.refresh_token == REFRESH_TOKEN
    assert warnings(caplog) == []


@pytest.mark.parametrize(
    ("access_expires_in", "access_token_given"),
    [
        (timedelta(days=50), True),
        (timedelta(minutes=6), True),
        (timedelta(minutes=5), False),
        (timedelta(minutes=-1), False),
    ],
)
def test_expiring_access_token_left_out(
    store: ConnectionStore,
    make_connection: Callable[..., Connection],
    job_log: JobLog,
    access_expires_in: timedelta,
    access_token_given: bool,
) -> None:
    store.save(make_connection(access_token_expires_at=NOW + access_expires_in))

    auth, _ = resolve_connection_auth("main", store=store, now=NOW, log=job_log)

    assert (auth.access_token == ACCESS_TOKEN) is access_token_given
    assert auth.refresh_token == REFRESH_TOKEN


def test_resolve_registers_secrets(
    store: ConnectionStore, make_connection: Callable[..., Connection], job_log: JobLog, caplog: pytest.LogCaptureFixture
) -> None:
    store.save(make_connection())

    resolve_connection_auth("main", store=store, now=NOW, log=job_log)
    job_log.info("tokens %s %s %s", CLIENT_SECRET, ACCESS_TOKEN, REFRESH_TOKEN)

    assert caplog.records[-1].getMessage() == f"tokens {REDACTED} {REDACTED} {REDACTED}"


def saved_within(moment: datetime, before: datetime, after: datetime, seconds: int) -> bool:
    """Whether ``moment`` is ``seconds`` after some time between ``before`` and ``after``.

    The store keeps whole seconds, so the lower bound drops the microseconds.
    """
    lowest = before.replace(microsecond=0) + timedelta(seconds=seconds)
    highest = after + timedelta(seconds=seconds)
    return lowest <= moment <= highest


def test_refreshed_access_token_saved(
    store: ConnectionStore, make_connection: Callable[..., Connection], job_log: JobLog
) -> None:
    original = make_connection()
    store.save(original)
    _, save_grant = resolve_connection_auth("main", store=store, now=NOW, log=job_log)

    before = datetime.now(UTC)
    save_grant(TokenGrant(access_token="access-token-new-0001", expires_in=5_184_000))
    after = datetime.now(UTC)

    stored = store.get("main")
    assert stored.access_token == "access-token-new-0001"
    assert saved_within(stored.access_token_expires_at, before, after, 5_184_000)
    assert stored.refresh_token == REFRESH_TOKEN
    assert stored.refresh_token_expires_at == original.refresh_token_expires_at
    assert stored.created_at == original.created_at


def test_rotated_refresh_token_saved(
    store: ConnectionStore, make_connection: Callable[..., Connection], job_log: JobLog
) -> None:
    store.save(make_connection())
    _, save_grant = resolve_connection_auth("main", store=store, now=NOW, log=job_log)

    before = datetime.now(UTC)
    save_grant(
        TokenGrant(
            access_token="access-token-new-0002",
            expires_in=3600,
            refresh_token="refresh-token-rotated-0002",
            refresh_token_expires_in=86_400,
        )
    )
    after = datetime.now(UTC)

    stored = store.get("main")
    assert stored.refresh_token == "refresh-token-rotated-0002"
    assert stored.refresh_token_expires_at is not None
    assert saved_within(stored.refresh_token_expires_at, before, after, 86_400)
    assert saved_within(stored.access_token_expires_at, before, after, 3600)


def test_grant_without_expires_in_assumes_sixty_days(
    store: ConnectionStore, make_connection: Callable[..., Connection], job_log: JobLog
) -> None:
    store.save(make_connection())
    _, save_grant = resolve_connection_auth("main", store=store, now=NOW, log=job_log)

    before = datetime.now(UTC)
    save_grant(TokenGrant(access_token="access-token-new-0003"))
    after = datetime.now(UTC)

    assert saved_within(store.get("main").access_token_expires_at, before, after, 60 * 86_400)


def test_saved_grant_tokens_are_redacted(
    store: ConnectionStore, make_connection: Callable[..., Connection], job_log: JobLog, caplog: pytest.LogCaptureFixture
) -> None:
    store.save(make_connection())
    _, save_grant = resolve_connection_auth("main", store=store, now=NOW, log=job_log)

    save_grant(TokenGrant(access_token="access-token-new-0004", refresh_token="refresh-token-new-0004"))
    job_log.info("%s %s", "access-token-new-0004", "refresh-token-new-0004")

    assert caplog.records[-1].getMessage() == f"{REDACTED} {REDACTED}"


@pytest.mark.parametrize("change", ["created again", "deleted"])
def test_grant_not_saved_over_newer_connection(
    store: ConnectionStore,
    make_connection: Callable[..., Connection],
    job_log: JobLog,
    caplog: pytest.LogCaptureFixture,
    change: str,
) -> None:
    store.save(make_connection())
    _, save_grant = resolve_connection_auth("main", store=store, now=NOW, log=job_log)
    if change == "created again":
        store.save(make_connection(refresh_token="refresh-token-newer-consent"))
    else:
        store.delete("main")

    save_grant(TokenGrant(access_token="access-token-stale-0005", expires_in=3600))

    assert [connection.access_token for connection in store.list()] == (
        [ACCESS_TOKEN] if change == "created again" else []
    )
    assert any("was deleted or created again during the job" in message for message in warnings(caplog))


def test_failed_save_is_logged_not_raised(
    store: ConnectionStore,
    make_connection: Callable[..., Connection],
    job_log: JobLog,
    caplog: pytest.LogCaptureFixture,
    connections_file: Path,
) -> None:
    store.save(make_connection())
    _, save_grant = resolve_connection_auth("main", store=store, now=NOW, log=job_log)
    connections_file.write_text("{broken")

    save_grant(TokenGrant(access_token="access-token-new-0006", expires_in=3600))

    errors = [record.getMessage() for record in caplog.records if record.levelname == "ERROR"]
    assert len(errors) == 1
    assert "could not save the refreshed access token" in errors[0]
    assert "access-token-new-0006" not in errors[0]
