"""Stored LinkedIn connections: one member's OAuth authorization, saved under a name.

A person authorizes once with ``td-output-linkedin connection create NAME``, and each export then
names the connection in its settings (``connection: NAME``) instead of carrying tokens inline.
All connections live in one JSON file that only its owner can read (mode 0600). Each write
replaces the file atomically, under a lock, so a job saving a refreshed access token cannot lose
another job's change.
"""

from __future__ import annotations

import fcntl
import html
import json
import os
import re
import secrets
import tempfile
import threading
import webbrowser
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import parse_qs, urlsplit

import requests

from td_output_linkedin.config import CONNECTIONS_ENV_VAR, DEFAULT_OAUTH_BASE_URL, AuthSettings
from td_output_linkedin.errors import AuthenticationError, ConfigError, ReauthorizationRequired
from td_output_linkedin.joblog import JobLog
from td_output_linkedin.linkedin.auth import TokenGrant, authorization_url, exchange_code

ENV_VAR = CONNECTIONS_ENV_VAR
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

CALLBACK_PATH = "/callback"
TOKEN_REQUEST_TIMEOUT_SECONDS = 60.0

# Error codes in the redirect when the member does not allow access. access_denied is OAuth 2.0's
# code (RFC 6749, section 4.1.2.1). Any other error code also fails the flow, with its description.
# NOTE: no LinkedIn page listing its codes was found. Drupal's social_post_linkedin module checks
# for user_cancelled_authorize, and user_cancelled_login is unconfirmed.
DECLINED_ERRORS = frozenset({"access_denied", "user_cancelled_login", "user_cancelled_authorize"})

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


def create_connection(
    name: str,
    *,
    client_id: str,
    client_secret: str,
    oauth_base_url: str,
    open_browser: bool,
    port: int = 0,
    timeout_seconds: float,
    store: ConnectionStore,
    out: TextIO,
    authorize: Callable[[str], None] | None = None,
) -> Connection:
    """Run LinkedIn's consent flow for a member and save the result as connection ``name``.

    Listen on ``http://127.0.0.1:PORT/callback``, print the authorization URL to ``out`` and open
    it in a browser when ``open_browser`` is set and one is available. ``authorize``, when given, is
    called with the URL in place of a browser and must send the request itself. The redirect must
    carry the ``state`` this call generated. Its code is exchanged for tokens at LinkedIn's token
    endpoint, and the connection is saved, replacing one with the same name.

    Raise AuthenticationError when the member declines, the state does not match, or no redirect
    arrives within ``timeout_seconds``. The token endpoint's errors propagate from
    ``exchange_code``. Nothing is saved unless the whole flow succeeds.
    """
    validate_name(name)
    # Reading the store first makes an unreadable file fail before the member is sent to LinkedIn.
    replaced = any(existing.name == name for existing in store.list())
    state = secrets.token_urlsafe(32)
    server = _CallbackServer(port, state)
    # A short poll interval lets shutdown() return quickly once the redirect has arrived.
    server_thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="oauth-callback", daemon=True
    )
    server_thread.start()
    try:
        redirect_uri = f"http://127.0.0.1:{server.server_port}{CALLBACK_PATH}"
        url = authorization_url(
            oauth_base_url, client_id=client_id, redirect_uri=redirect_uri, state=state, scopes=SCOPES
        )
        print(f"Open this URL in a browser, sign in to LinkedIn and allow access:\n\n  {url}\n", file=out)
        print(f"The app's Authorized redirect URLs (developer portal, Auth tab) must include {redirect_uri}", file=out)
        _send_member_to(url, authorize=authorize, open_browser=open_browser, out=out)
        print(f"Waiting up to {timeout_seconds:g} seconds for LinkedIn to redirect to {redirect_uri}", file=out)
        code = server.wait_for_code(timeout_seconds)
    finally:
        server.shutdown()
        server.server_close()
        server_thread.join()

    with requests.Session() as session:
        # Whole seconds, as the store keeps them, so the returned connection equals the stored one.
        now = datetime.now(UTC).replace(microsecond=0)
        grant = exchange_code(
            session,
            oauth_base_url,
            client_id=client_id,
            client_secret=client_secret,
            code=code,
            redirect_uri=redirect_uri,
            timeout=TOKEN_REQUEST_TIMEOUT_SECONDS,
        )
    connection = _connection_from_grant(name, grant, now, client_id, client_secret, oauth_base_url)

    store.save(connection)
    _print_created(connection, replaced=replaced, store_path=store.path, now=now, out=out)
    return connection


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
        access_token_expires_at=_access_token_expiry(grant, now),
        refresh_token=refresh_token,
        refresh_token_expires_at=refresh_token_expires_at,
    )


def _access_token_expiry(grant: TokenGrant, now: datetime) -> datetime:
    if grant.expires_in is None:
        return now + DEFAULT_ACCESS_TOKEN_LIFETIME
    return now + timedelta(seconds=grant.expires_in)


def _send_member_to(
    url: str, *, authorize: Callable[[str], None] | None, open_browser: bool, out: TextIO
) -> None:
    if authorize is not None:
        authorize(url)
        return
    if not open_browser:
        return
    try:
        opened = webbrowser.open(url)
    except webbrowser.Error:
        opened = False
    if opened:
        print("Opened the URL in a browser.", file=out)
    else:
        print("No browser could be opened; open the URL above yourself.", file=out)


def _connection_from_grant(
    name: str, grant: TokenGrant, now: datetime, client_id: str, client_secret: str, oauth_base_url: str
) -> Connection:
    refresh_token_expires_at = None
    if grant.refresh_token and grant.refresh_token_expires_in is not None:
        refresh_token_expires_at = now + timedelta(seconds=grant.refresh_token_expires_in)
    return Connection(
        name=name,
        created_at=now,
        client_id=client_id,
        client_secret=client_secret,
        access_token=grant.access_token,
        access_token_expires_at=_access_token_expiry(grant, now),
        refresh_token=grant.refresh_token,
        refresh_token_expires_at=refresh_token_expires_at,
        scopes=_granted_scopes(grant),
        oauth_base_url=oauth_base_url,
    )


def _granted_scopes(grant: TokenGrant) -> tuple[str, ...]:
    """Return the scopes in the token response, or the requested ones when it lists none.

    Commas and spaces both count as separators, so either form of the list is read.
    """
    if not grant.scope:
        return SCOPES
    return tuple(scope for scope in re.split(r"[\s,]+", grant.scope) if scope)


def _print_created(connection: Connection, *, replaced: bool, store_path: Path, now: datetime, out: TextIO) -> None:
    verb = "Replaced" if replaced else "Saved"
    print(f"{verb} connection {connection.name!r} in {store_path}.", file=out)

    missing = [scope for scope in SCOPES if scope not in connection.scopes]
    if missing:
        print(
            f"Warning: LinkedIn did not grant {', '.join(missing)}, so exports with this connection will be "
            "rejected. The app needs LinkedIn's approval for the Audiences program.",
            file=out,
        )

    if connection.refresh_token is None:
        print(
            "LinkedIn issued no refresh token (the app has no programmatic refresh tokens), so the connection "
            f"stops working when its access token expires on {_format_time(connection.access_token_expires_at)}.",
            file=out,
        )
    elif connection.refresh_token_expires_at is not None:
        expires_at = connection.refresh_token_expires_at
        print(
            f"The refresh token expires on {_format_time(expires_at)} ({days_left(expires_at, now)} days left).",
            file=out,
        )


class _CallbackServer(HTTPServer):
    """The loopback listener that receives LinkedIn's redirect and keeps its code or its failure."""

    def __init__(self, port: int, state: str):
        try:
            super().__init__(("127.0.0.1", port), _CallbackHandler)
        except OSError as error:
            raise ConfigError(
                f"port: cannot listen on 127.0.0.1:{port} ({error.strerror}); choose another port"
            ) from error
        self.expected_state = state
        self.finished = threading.Event()
        self.code: str | None = None
        self.failure: str | None = None

    def wait_for_code(self, timeout_seconds: float) -> str:
        if not self.finished.wait(timeout_seconds):
            raise AuthenticationError(
                f"timed out after {timeout_seconds:g} seconds waiting for LinkedIn to redirect to "
                f"127.0.0.1:{self.server_port}{CALLBACK_PATH}; run the command again and allow access in time"
            )
        if self.failure is not None:
            raise AuthenticationError(self.failure)
        assert self.code is not None
        return self.code

    def check_redirect(self, query: dict[str, list[str]]) -> None:
        """Record the code of a valid redirect, or why it is not valid."""
        state = _first(query, "state")
        error = _first(query, "error")
        code = _first(query, "code")

        # state ties the redirect to the URL this command printed, so another page cannot plant its
        # own code (RFC 6749, section 10.12).
        if state is None or not secrets.compare_digest(state.encode(), self.expected_state.encode()):
            self.failure = (
                "the redirect's state does not match the authorization URL this command printed; "
                "open the URL from the latest run of the command"
            )
        elif error is not None:
            description = (_first(query, "error_description") or "")[:200]
            detail = f"{error}: {description}" if description else error
            if error in DECLINED_ERRORS:
                self.failure = f"the member did not allow access ({detail}); run the command again to retry"
            else:
                self.failure = f"LinkedIn did not authorize the app ({detail})"
        elif not code:
            self.failure = "LinkedIn's redirect has neither a code nor an error; run the command again"
        else:
            self.code = code
        self.finished.set()


class _CallbackHandler(BaseHTTPRequestHandler):
    server: _CallbackServer

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        if url.path != CALLBACK_PATH:
            self._respond(404, "Not found.")
            return
        if self.server.finished.is_set():
            self._respond(409, "This authorization has already finished. Return to the terminal.")
            return

        self.server.check_redirect(parse_qs(url.query))
        if self.server.failure is None:
            self._respond(200, "Authorization received. Return to the terminal to see whether the connection was saved.")
        else:
            self._respond(400, f"Authorization failed: {self.server.failure}")

    def log_message(self, format: str, *args: Any) -> None:
        # The default writes each request line to stderr, and the line contains the authorization code.
        return

    def _respond(self, status: int, text: str) -> None:
        body = f"<!doctype html><title>td-output-linkedin</title><p>{html.escape(text)}</p>\n".encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def _first(query: dict[str, list[str]], key: str) -> str | None:
    values = query.get(key)
    return values[0] if values else None


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
