"""The whole consent flow against the sandbox's authorization and token endpoints, with no browser.

The ``authorize`` callback replaces the browser. It requests the authorization URL, and requests
follows the sandbox's redirect to the loopback listener of ``create_connection``.
"""

from __future__ import annotations

import io
import secrets
import socket
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests

from connection_samples import NOW
from td_output_linkedin.connections import (
    SCOPES,
    Connection,
    ConnectionStore,
    _granted_scopes,
    _print_created,
    create_connection,
)
from td_output_linkedin.errors import AuthenticationError, ConfigError
from td_output_linkedin.linkedin.auth import TokenGrant, refresh_access_token
from td_output_linkedin.sandbox import Sandbox, SandboxCredentials
from td_output_linkedin.sandbox.options import ACCESS_TOKEN_LIFETIME_SECONDS, REFRESH_TOKEN_LIFETIME_SECONDS

REQUEST_TIMEOUT_SECONDS = 10.0


@pytest.fixture
def app(sandbox: Sandbox) -> SandboxCredentials:
    """An app registered with the sandbox under a client id of its own, so tests cannot share one."""
    return sandbox.authorize(client_id=f"client-{secrets.token_hex(6)}")


class Browser:
    """A replacement for the member's browser that records the URLs opened and the responses."""

    def __init__(self) -> None:
        self.urls: list[str] = []
        self.responses: list[requests.Response] = []

    def open(self, url: str) -> None:
        self.urls.append(url)
        self.responses.append(requests.get(url, timeout=REQUEST_TIMEOUT_SECONDS))


def run_flow(
    sandbox: Sandbox,
    app: SandboxCredentials,
    store: ConnectionStore,
    authorize: Callable[[str], None] | None,
    *,
    name: str = "main",
    client_secret: str | None = None,
    timeout_seconds: float = 30.0,
    open_browser: bool = False,
    port: int = 0,
    out: io.StringIO | None = None,
) -> tuple[Connection, str]:
    """Run ``create_connection`` and return the connection and what it printed.

    Pass ``out`` to read the printed lines when the flow raises.
    """
    out = out if out is not None else io.StringIO()
    connection = create_connection(
        name,
        client_id=app.client_id,
        client_secret=client_secret or app.client_secret,
        oauth_base_url=sandbox.base_url,
        open_browser=open_browser,
        port=port,
        timeout_seconds=timeout_seconds,
        store=store,
        out=out,
        authorize=authorize,
    )
    return connection, out.getvalue()


def query_of(url: str) -> dict[str, str]:
    return {key: values[0] for key, values in parse_qs(urlsplit(url).query).items()}


def test_flow_stores_connection(sandbox: Sandbox, app: SandboxCredentials, store: ConnectionStore) -> None:
    browser = Browser()
    before = datetime.now(UTC).replace(microsecond=0)

    connection, _ = run_flow(sandbox, app, store, browser.open)

    after = datetime.now(UTC)
    assert store.get("main") == connection
    assert connection.client_id == app.client_id
    assert connection.client_secret == app.client_secret
    assert connection.oauth_base_url == sandbox.base_url
    assert connection.scopes == SCOPES
    assert before <= connection.created_at <= after
    assert connection.refresh_token_expires_at is not None
    refresh_lifetime = connection.refresh_token_expires_at - connection.created_at
    assert abs(refresh_lifetime - timedelta(seconds=REFRESH_TOKEN_LIFETIME_SECONDS)) <= timedelta(seconds=2)
    access_lifetime = connection.access_token_expires_at - connection.created_at
    assert abs(access_lifetime - timedelta(seconds=ACCESS_TOKEN_LIFETIME_SECONDS)) <= timedelta(seconds=2)


def test_stored_refresh_token_works(sandbox: Sandbox, app: SandboxCredentials, store: ConnectionStore) -> None:
    connection, _ = run_flow(sandbox, app, store, Browser().open)

    with requests.Session() as session:
        grant = refresh_access_token(
            session,
            sandbox.base_url,
            client_id=connection.client_id,
            client_secret=connection.client_secret,
            refresh_token=connection.refresh_token or "",
            timeout=REQUEST_TIMEOUT_SECONDS,
        )

    assert grant.access_token
    assert grant.access_token != connection.access_token


def test_authorization_url_parameters(sandbox: Sandbox, app: SandboxCredentials, store: ConnectionStore) -> None:
    browser = Browser()

    run_flow(sandbox, app, store, browser.open)

    assert len(browser.urls) == 1
    url = browser.urls[0]
    assert url.startswith(f"{sandbox.base_url}/oauth/v2/authorization?")
    query = query_of(url)
    assert query["response_type"] == "code"
    assert query["client_id"] == app.client_id
    assert query["scope"] == "rw_dmp_segments r_ads"
    assert len(query["state"]) >= 43
    redirect = urlsplit(query["redirect_uri"])
    assert (redirect.scheme, redirect.hostname, redirect.path) == ("http", "127.0.0.1", "/callback")
    assert redirect.port is not None and redirect.port > 0


def test_each_flow_uses_new_state(sandbox: Sandbox, app: SandboxCredentials, store: ConnectionStore) -> None:
    browser = Browser()

    run_flow(sandbox, app, store, browser.open)
    run_flow(sandbox, app, store, browser.open)

    states = [query_of(url)["state"] for url in browser.urls]
    assert states[0] != states[1]


def test_browser_page_defers_to_terminal(sandbox: Sandbox, app: SandboxCredentials, store: ConnectionStore) -> None:
    browser = Browser()

    run_flow(sandbox, app, store, browser.open)

    response = browser.responses[0]
    assert response.status_code == 200
    assert urlsplit(response.url).path == "/callback"
    # The page is served before the code exchange, so it must not claim that the connection works.
    assert "Return to the terminal to see whether the connection was saved" in response.text


def test_output_shows_url_not_secrets(sandbox: Sandbox, app: SandboxCredentials, store: ConnectionStore) -> None:
    browser = Browser()

    connection, output = run_flow(sandbox, app, store, browser.open)

    assert browser.urls[0] in output
    assert "Saved connection 'main' in" in output
    assert "The refresh token expires on" in output
    assert "(364 days left)" in output or "(365 days left)" in output
    for secret in (connection.client_secret, connection.access_token, connection.refresh_token or "-"):
        assert secret not in output


def test_flow_replaces_same_name(
    sandbox: Sandbox, app: SandboxCredentials, store: ConnectionStore, make_connection: Callable[..., Connection]
) -> None:
    store.save(make_connection("main"))
    store.save(make_connection("other"))

    connection, output = run_flow(sandbox, app, store, Browser().open)

    assert "Replaced connection 'main'" in output
    assert [stored.name for stored in store.list()] == ["main", "other"]
    assert store.get("main").access_token == connection.access_token


def forged_state(url: str) -> str:
    query = query_of(url)
    query["state"] = "forged-" + query["state"]
    return url.split("?")[0] + "?" + urlencode(query)


def redirect_back(url: str, **parameters: str) -> requests.Response:
    """Send the request LinkedIn's redirect would cause, without asking the sandbox."""
    redirect_uri = query_of(url)["redirect_uri"]
    return requests.get(redirect_uri, params=parameters, timeout=REQUEST_TIMEOUT_SECONDS)


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("forged state", "state does not match"),
        ("no state", "state does not match"),
        ("declined", "the member did not allow access (user_cancelled_authorize: The user cancelled)"),
        ("access_denied", "the member did not allow access (access_denied)"),
        ("other error", "LinkedIn did not authorize the app (server_error: Try later)"),
        ("no code", "neither a code nor an error"),
        ("error with forged state", "state does not match"),
    ],
)
def test_failed_redirect_saves_nothing(
    sandbox: Sandbox, app: SandboxCredentials, store: ConnectionStore, case: str, expected: str
) -> None:
    responses: list[requests.Response] = []

    def authorize(url: str) -> None:
        state = query_of(url)["state"]
        if case == "forged state":
            responses.append(requests.get(forged_state(url), timeout=REQUEST_TIMEOUT_SECONDS))
        elif case == "no state":
            responses.append(redirect_back(url, code="some-code"))
        elif case == "declined":
            responses.append(
                redirect_back(url, error="user_cancelled_authorize", error_description="The user cancelled", state=state)
            )
        elif case == "access_denied":
            responses.append(redirect_back(url, error="access_denied", state=state))
        elif case == "other error":
            responses.append(redirect_back(url, error="server_error", error_description="Try later", state=state))
        elif case == "no code":
            responses.append(redirect_back(url, state=state))
        else:
            responses.append(redirect_back(url, error="access_denied", state="forged"))

    with pytest.raises(AuthenticationError) as raised:
        run_flow(sandbox, app, store, authorize)

    assert expected in str(raised.value)
    assert store.list() == []
    assert len(responses) == 1
    assert responses[0].status_code == 400
    assert "Authorization failed" in responses[0].text


def test_scope_not_granted_to_app(sandbox: Sandbox, store: ConnectionStore) -> None:
    limited_app = sandbox.authorize(client_id="client-limited", scopes=("r_ads",))

    with pytest.raises(AuthenticationError, match=r"did not authorize the app \(unauthorized_scope_error"):
        run_flow(sandbox, limited_app, store, Browser().open)
    assert store.list() == []


def test_wrong_client_secret_saves_nothing(sandbox: Sandbox, app: SandboxCredentials, store: ConnectionStore) -> None:
    with pytest.raises(AuthenticationError) as raised:
        run_flow(sandbox, app, store, Browser().open, client_secret="wrong-secret-000000")

    assert raised.value.code == "invalid_client"
    assert "wrong-secret-000000" not in str(raised.value)
    assert store.list() == []


def test_other_paths_ignored_until_callback(sandbox: Sandbox, app: SandboxCredentials, store: ConnectionStore) -> None:
    favicon_statuses: list[int] = []

    def authorize(url: str) -> None:
        callback = urlsplit(query_of(url)["redirect_uri"])
        favicon = f"http://127.0.0.1:{callback.port}/favicon.ico"
        favicon_statuses.append(requests.get(favicon, timeout=REQUEST_TIMEOUT_SECONDS).status_code)
        requests.get(url, timeout=REQUEST_TIMEOUT_SECONDS)

    run_flow(sandbox, app, store, authorize)

    assert favicon_statuses == [404]
    assert [connection.name for connection in store.list()] == ["main"]


def test_timeout_without_redirect(sandbox: Sandbox, app: SandboxCredentials, store: ConnectionStore) -> None:
    with pytest.raises(AuthenticationError, match=r"timed out after 0.2 seconds waiting for LinkedIn"):
        run_flow(sandbox, app, store, lambda url: None, timeout_seconds=0.2)
    assert store.list() == []


def test_listener_closed_after_flow(sandbox: Sandbox, app: SandboxCredentials, store: ConnectionStore) -> None:
    browser = Browser()
    run_flow(sandbox, app, store, browser.open)
    callback_url = query_of(browser.urls[0])["redirect_uri"]

    with pytest.raises(requests.ConnectionError):
        requests.get(callback_url, timeout=REQUEST_TIMEOUT_SECONDS)


def test_busy_port_raises_config_error(sandbox: Sandbox, app: SandboxCredentials, store: ConnectionStore) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]

        with pytest.raises(ConfigError, match=f"cannot listen on 127.0.0.1:{port}"):
            run_flow(sandbox, app, store, Browser().open, port=port)


def test_invalid_name_checked_first(sandbox: Sandbox, app: SandboxCredentials, store: ConnectionStore) -> None:
    browser = Browser()
    out = io.StringIO()

    with pytest.raises(ConfigError, match="invalid name"):
        run_flow(sandbox, app, store, browser.open, name="two words", out=out)

    assert browser.urls == []
    assert out.getvalue() == ""


def test_unreadable_store_checked_first(sandbox: Sandbox, app: SandboxCredentials, store: ConnectionStore) -> None:
    store.path.parent.mkdir(parents=True)
    store.path.write_text("{broken")
    browser = Browser()

    with pytest.raises(ConfigError, match="is not valid JSON"):
        run_flow(sandbox, app, store, browser.open)

    assert browser.urls == []


@pytest.mark.parametrize(("opened", "expected"), [(True, "Opened the URL in a browser."), (False, "No browser could be opened")])
def test_browser_opened_when_asked(
    sandbox: Sandbox, app: SandboxCredentials, store: ConnectionStore, monkeypatch: pytest.MonkeyPatch, opened: bool, expected: str
) -> None:
    browser = Browser()

    def fake_open(url: str) -> bool:
        if opened:
            browser.open(url)
        return opened

    monkeypatch.setattr("webbrowser.open", fake_open)
    out = io.StringIO()

    if opened:
        run_flow(sandbox, app, store, None, open_browser=True, out=out)
    else:
        with pytest.raises(AuthenticationError, match="timed out"):
            run_flow(sandbox, app, store, None, open_browser=True, timeout_seconds=0.2, out=out)

    assert expected in out.getvalue()
    assert len(store.list()) == (1 if opened else 0)


def test_no_browser_only_prints(
    sandbox: Sandbox, app: SandboxCredentials, store: ConnectionStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []
    monkeypatch.setattr("webbrowser.open", lambda url: calls.append(url) or True)
    out = io.StringIO()

    with pytest.raises(AuthenticationError, match="timed out"):
        run_flow(sandbox, app, store, None, open_browser=False, timeout_seconds=0.2, out=out)

    assert calls == []
    assert "/oauth/v2/authorization?" in out.getvalue()


@pytest.mark.parametrize(
    ("scope", "expected"),
    [
        ("rw_dmp_segments,r_ads", ("rw_dmp_segments", "r_ads")),
        ("r_ads rw_dmp_segments", ("r_ads", "rw_dmp_segments")),
        ("r_ads, rw_dmp_segments", ("r_ads", "rw_dmp_segments")),
        (None, SCOPES),
        ("", SCOPES),
        ("r_ads", ("r_ads",)),
    ],
)
def test_granted_scopes_parsed(scope: str | None, expected: tuple[str, ...]) -> None:
    assert _granted_scopes(TokenGrant(access_token="access-token-0000", scope=scope)) == expected


@pytest.mark.parametrize(
    ("scopes", "warned"),
    [(("rw_dmp_segments", "r_ads"), None), (("r_ads",), "rw_dmp_segments"), ((), "rw_dmp_segments, r_ads")],
)
def test_missing_scope_warned(
    make_connection: Callable[..., Connection], scopes: tuple[str, ...], warned: str | None
) -> None:
    out = io.StringIO()

    _print_created(make_connection(scopes=scopes), replaced=False, store_path=Path("c.json"), now=NOW, out=out)

    warnings = [line for line in out.getvalue().splitlines() if line.startswith("Warning:")]
    if warned is None:
        assert warnings == []
    else:
        assert warnings == [
            f"Warning: LinkedIn did not grant {warned}, so exports with this connection will be rejected. "
            "The app needs LinkedIn's approval for the Audiences program."
        ]
