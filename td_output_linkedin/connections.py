"""Stored LinkedIn connections: one member's OAuth authorization, saved under a name.

A person authorizes once with ``td-output-linkedin connection create NAME``, and each export then
names the connection in its settings (``connection: NAME``) instead of carrying tokens inline.
All connections live in one JSON file that only its owner can read (mode 0600). Each write
replaces the file atomically, under a lock, so a job saving a refreshed access token cannot lose
another job's change.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from td_output_linkedin.config import DEFAULT_OAUTH_BASE_URL, AuthSettings
from td_output_linkedin.errors import ConfigError, ReauthorizationRequired
from td_output_linkedin.joblog import JobLog

if TYPE_CHECKING:
    from td_output_linkedin.linkedin.auth import TokenGrant

ENV_VAR = "TD_OUTPUT_LINKEDIN_CONNECTIONS"
STORE_FILE_NAME = "connections.json"
STORE_FORMAT_VERSION = 1

# rw_dmp_segments manages DMP segments and their members; LinkedIn grants it only to apps approved
# for the Audiences program. r_ads reads the member's ad accounts.
# https://learn.microsoft.com/en-us/linkedin/marketing/matched-audiences/create-and-manage-segments
SCOPES = ("rw_dmp_segments", "r_ads")

# A job warns this many days before the refresh token expires, so the person has time to consent
# again before exports start failing.
EXPIRY_WARNING_DAYS = 30

# An access token that expires within this margin is not handed to the job. The job then starts by
# refreshing it rather than failing with a 401 on its first call.
ACCESS_TOKEN_MARGIN = timedelta(minutes=5)

# LinkedIn's access tokens live 60 days by default. This is the expiry assumed when a token
# response leaves out expires_in.
# https://learn.microsoft.com/en-us/linkedin/shared/authentication/programmatic-refresh-tokens
DEFAULT_ACCESS_TOKEN_LIFETIME = timedelta(days=60)

_NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


@dataclass(frozen=True)
class Connection:
    """One stored authorization. Times are timezone-aware UTC, written to the file as ISO 8601.

    ``refresh_token`` is None when LinkedIn did not issue one (the app lacks programmatic refresh
    tokens). Then the connection lasts only as long as its access token.
    """

    name: str
    created_at: datetime
    client_id: str
    client_secret: str = field(repr=False)
    access_token: str = field(repr=False)
    access_token_expires_at: datetime
    refresh_token: str | None = field(default=None, repr=False)
    refresh_token_expires_at: datetime | None = None
    scopes: tuple[str, ...] = SCOPES
    oauth_base_url: str = DEFAULT_OAUTH_BASE_URL

    @property
    def expires_at(self) -> datetime | None:
        """When the connection stops working: the refresh token's expiry, or the access token's
        when there is no refresh token. None when LinkedIn gave a refresh token without its expiry."""
        if self.refresh_token is None:
            return self.access_token_expires_at
        return self.refresh_token_expires_at


def default_store_path() -> Path:
    """Return the connections file: ``$TD_OUTPUT_LINKEDIN_CONNECTIONS``, else under
    ``$XDG_CONFIG_HOME``, else under ``~/.config``."""
    override = os.environ.get(ENV_VAR)
    if override:
        return Path(override).expanduser()
    config_home = os.environ.get("XDG_CONFIG_HOME")
    base = Path(config_home) if config_home else Path.home() / ".config"
    return base / "td-output-linkedin" / STORE_FILE_NAME


def validate_name(name: str) -> None:
    """Raise ConfigError unless ``name`` can name a connection in settings and on a command line."""
    if not _NAME_PATTERN.fullmatch(name):
        raise ConfigError(
            f"connection: invalid name {name!r}; use 1 to 64 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )


def days_left(expires_at: datetime, now: datetime) -> int:
    """Return the whole days from ``now`` until ``expires_at``, rounded down (negative once past)."""
    return (expires_at - now) // timedelta(days=1)


class ConnectionStore:
    """The connections file. Every call reads the file again, so several processes can share it."""

    def __init__(self, path: Path | None = None):
        self.path = path if path is not None else default_store_path()

    def list(self) -> list[Connection]:
        """Return every connection, sorted by name."""
        entries = self._read()
        return [_connection_from_json(name, entries[name], self.path) for name in sorted(entries)]

    def get(self, name: str) -> Connection:
        entries = self._read()
        if name not in entries:
            raise ConfigError(
                f"connection: no connection named {name!r} in {self.path}; "
                f"run `td-output-linkedin connection create {name}` to create it"
            )
        return _connection_from_json(name, entries[name], self.path)

    def save(self, connection: Connection) -> None:
        """Add the connection, or replace the one with the same name."""
        validate_name(connection.name)
        with self._locked():
            entries = self._read()
            entries[connection.name] = _connection_to_json(connection)
            self._write(entries)

    def delete(self, name: str) -> None:
        """Remove the connection. Raise ConfigError when there is none with that name."""
        with self._locked():
            entries = self._read()
            if name not in entries:
                raise ConfigError(f"connection: no connection named {name!r} in {self.path}")
            del entries[name]
            self._write(entries)

    def update(self, name: str, change: Callable[[Connection], Connection | None]) -> Connection | None:
        """Apply ``change`` to the stored connection under the lock and save what it returns.

        ``change`` returns None to leave the file as it is. Return the saved connection, or None
        when nothing was saved (also when no connection has that name).
        """
        with self._locked():
            entries = self._read()
            if name not in entries:
                return None
            changed = change(_connection_from_json(name, entries[name], self.path))
            if changed is None:
                return None
            entries[name] = _connection_to_json(changed)
            self._write(entries)
            return changed

    def _read(self) -> dict[str, dict[str, Any]]:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {}
        except OSError as error:
            raise ConfigError(f"connection: cannot read {self.path}: {error.strerror}") from error

        try:
            document = json.loads(text)
        except json.JSONDecodeError as error:
            raise ConfigError(
                f"connection: {self.path} is not valid JSON (line {error.lineno}); "
                "fix it or delete it and create the connections again"
            ) from error
        if not isinstance(document, dict) or not isinstance(document.get("connections"), dict):
            raise ConfigError(f"connection: {self.path} has no 'connections' object; fix it or delete it")
        version = document.get("version")
        if version != STORE_FORMAT_VERSION:
            raise ConfigError(
                f"connection: {self.path} has format version {version!r}, but this version of "
                f"td-output-linkedin reads only version {STORE_FORMAT_VERSION}"
            )
        return document["connections"]

    def _write(self, entries: dict[str, dict[str, Any]]) -> None:
        """Replace the file atomically: write a temporary file in the same folder, then rename it."""
        self._ensure_folder()
        document = {"version": STORE_FORMAT_VERSION, "connections": entries}
        # mkstemp creates the file with mode 0600, so no other user can read the tokens even for
        # the moment before the rename.
        descriptor, temporary_name = tempfile.mkstemp(
            dir=self.path.parent, prefix=f".{self.path.name}.", suffix=".tmp"
        )
        try:
            with os.fdopen(descriptor, "w", encoding="utf-8") as temporary:
                json.dump(document, temporary, indent=2, sort_keys=True)
                temporary.write("\n")
                temporary.flush()
                os.fsync(temporary.fileno())
            os.replace(temporary_name, self.path)
        except BaseException:
            Path(temporary_name).unlink(missing_ok=True)
            raise
        _fsync_folder(self.path.parent)

    def _ensure_folder(self) -> None:
        folder = self.path.parent
        if folder.is_dir():
            return
        try:
            folder.mkdir(mode=0o700, parents=True)
            # mkdir's mode is reduced by the umask; set it exactly so the owner can always write.
            folder.chmod(0o700)
        except OSError as error:
            raise ConfigError(f"connection: cannot create folder {folder}: {error.strerror}") from error

    @contextmanager
    def _locked(self) -> Iterator[None]:
        """Hold an exclusive lock on ``<file>.lock`` for one read-change-write."""
        self._ensure_folder()
        lock_path = self.path.with_name(self.path.name + ".lock")
        try:
            descriptor = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as error:
            raise ConfigError(f"connection: cannot open lock file {lock_path}: {error.strerror}") from error
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX)
            yield
        finally:
            os.close(descriptor)


def resolve_connection_auth(
    name: str,
    *,
    store: ConnectionStore | None = None,
    now: datetime | None = None,
    log: JobLog,
) -> tuple[AuthSettings, Callable[[TokenGrant], None]]:
    """Return the credentials of the named connection and a callback that saves refreshed tokens.

    The access token is left out when it has expired or is about to, so the job refreshes first.
    Warn in ``log`` when the connection expires within 30 days. Raise ReauthorizationRequired when it
    has expired, and ConfigError when there is no such connection.
    """
    store = store or ConnectionStore()
    now = now or datetime.now(UTC)
    connection = store.get(name)
    for secret in (connection.client_secret, connection.access_token, connection.refresh_token):
        log.add_secret(secret)

    _check_expiry(connection, now, log, store.path)

    access_token = connection.access_token if connection.access_token_expires_at > now + ACCESS_TOKEN_MARGIN else None
    auth = AuthSettings(
        client_id=connection.client_id,
        client_secret=connection.client_secret,
        refresh_token=connection.refresh_token,
        access_token=access_token,
        connection=name,
    )
    return auth, _token_saver(connection, store, log)


def _check_expiry(connection: Connection, now: datetime, log: JobLog, store_path: Path) -> None:
    expires_at = connection.expires_at
    if expires_at is None:
        return
    token = "access token (the connection has no refresh token)" if connection.refresh_token is None else "refresh token"
    create_command = f"td-output-linkedin connection create {connection.name}"

    if expires_at <= now:
        raise ReauthorizationRequired(
            f"connection {connection.name!r} in {store_path}: the {token} expired on "
            f"{_format_time(expires_at)}; run `{create_command}` again to authorize LinkedIn anew"
        )
    if expires_at - now <= timedelta(days=EXPIRY_WARNING_DAYS):
        log.warning(
            "connection %r: the %s expires on %s (%d days left); run `%s` before then",
            connection.name,
            token,
            _format_time(expires_at),
            days_left(expires_at, now),
            create_command,
        )


def _token_saver(connection: Connection, store: ConnectionStore, log: JobLog) -> Callable[[TokenGrant], None]:
    """Return a callback that writes a refreshed access token back to the stored connection.

    It saves only while the stored connection still contains the refresh token this job started with.
    Otherwise someone created the connection again during the job, and the newer consent wins.
    A failed write is logged, not raised: the job goes on with the new token in memory.
    """
    started_with = connection.refresh_token

    def save_grant(grant: TokenGrant) -> None:
        log.add_secret(grant.access_token)
        log.add_secret(grant.refresh_token)
        now = datetime.now(UTC)

        def apply(stored: Connection) -> Connection | None:
            if stored.refresh_token != started_with:
                return None
            return _with_grant(stored, grant, now)

        try:
            saved = store.update(connection.name, apply)
        except (OSError, ConfigError) as error:
            log.error("connection %r: could not save the refreshed access token: %s", connection.name, error)
            return
        if saved is None:
            log.warning(
                "connection %r was deleted or created again during the job; the refreshed access token was not saved",
                connection.name,
            )
        else:
            log.info("connection %r: saved the refreshed access token to %s", connection.name, store.path)

    return save_grant


def _with_grant(connection: Connection, grant: TokenGrant, now: datetime) -> Connection:
    """Return the connection with the tokens of a token response.

    LinkedIn's refresh token lives 365 days from the first consent and refreshing does not extend it,
    so the stored expiry stays unless the response gives a new one. LinkedIn's
    ``refresh_token_expires_in`` counts the seconds left, so it leads to the same expiry.
    https://learn.microsoft.com/en-us/linkedin/shared/authentication/programmatic-refresh-tokens
    """
    refresh_token = connection.refresh_token
    refresh_token_expires_at = connection.refresh_token_expires_at
    if grant.refresh_token:
        refresh_token = grant.refresh_token
    if grant.refresh_token_expires_in is not None:
        refresh_token_expires_at = now + timedelta(seconds=grant.refresh_token_expires_in)
    return replace(
        connection,
        access_token=grant.access_token,
        access_token_expires_at=access_token_expiry(grant, now),
        refresh_token=refresh_token,
        refresh_token_expires_at=refresh_token_expires_at,
    )


def access_token_expiry(grant: TokenGrant, now: datetime) -> datetime:
    if grant.expires_in is None:
        return now + DEFAULT_ACCESS_TOKEN_LIFETIME
    return now + timedelta(seconds=grant.expires_in)


def _format_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_time(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise ValueError(f"time {text!r} has no timezone")
    return moment.astimezone(UTC)


def _connection_to_json(connection: Connection) -> dict[str, Any]:
    return {
        "created_at": _format_time(connection.created_at),
        "client_id": connection.client_id,
        "client_secret": connection.client_secret,
        "access_token": connection.access_token,
        "access_token_expires_at": _format_time(connection.access_token_expires_at),
        "refresh_token": connection.refresh_token,
        "refresh_token_expires_at": (
            None if connection.refresh_token_expires_at is None else _format_time(connection.refresh_token_expires_at)
        ),
        "scopes": list(connection.scopes),
        "oauth_base_url": connection.oauth_base_url,
    }


def _connection_from_json(name: str, entry: Any, path: Path) -> Connection:
    try:
        refresh_expiry = entry.get("refresh_token_expires_at")
        return Connection(
            name=name,
            created_at=_parse_time(entry["created_at"]),
            client_id=entry["client_id"],
            client_secret=entry["client_secret"],
            access_token=entry["access_token"],
            access_token_expires_at=_parse_time(entry["access_token_expires_at"]),
            refresh_token=entry.get("refresh_token"),
            refresh_token_expires_at=None if refresh_expiry is None else _parse_time(refresh_expiry),
            scopes=tuple(entry.get("scopes", SCOPES)),
            oauth_base_url=entry.get("oauth_base_url", DEFAULT_OAUTH_BASE_URL),
        )
    except (AttributeError, KeyError, TypeError, ValueError) as error:
        # The message names the entry and the field but never a value, because values may be tokens.
        field_name = error.args[0] if isinstance(error, KeyError) else type(error).__name__
        raise ConfigError(
            f"connection: entry {name!r} in {path} is invalid ({field_name}); "
            f"run `td-output-linkedin connection create {name}` to replace it"
        ) from error


def _fsync_folder(folder: Path) -> None:
    """Flush the rename to disk, so a crash cannot bring back the old file."""
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
