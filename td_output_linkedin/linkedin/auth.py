"""LinkedIn OAuth 2.0 (3-legged): the authorization URL, the token endpoint, and the job's access token.

The token endpoint is ``{oauth_base_url}/oauth/v2/accessToken`` and takes form-encoded bodies:
https://learn.microsoft.com/en-us/linkedin/shared/authentication/authorization-code-flow and
https://learn.microsoft.com/en-us/linkedin/shared/authentication/programmatic-refresh-tokens
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import orjson
import requests

from td_output_linkedin.errors import AuthenticationError, ReauthorizationRequired
from td_output_linkedin.linkedin.retry import TransientError, parse_retry_after

TOKEN_PATH = "/oauth/v2/accessToken"
AUTHORIZATION_PATH = "/oauth/v2/authorization"
# Refresh a little before the access token expires, so that no request goes out with a token
# that expires while it travels.
EXPIRY_MARGIN_SECONDS = 300.0


@dataclass(frozen=True)
class TokenGrant:
    """The token endpoint's response. Tokens are left out of ``repr``."""

    access_token: str = field(repr=False)
    expires_in: int | None = None
    refresh_token: str | None = field(default=None, repr=False)
    refresh_token_expires_in: int | None = None
    scope: str | None = None


def authorization_url(oauth_base_url: str, *, client_id: str, redirect_uri: str, state: str, scopes: Iterable[str]) -> str:
    """Build the URL a member opens to grant the app access; LinkedIn separates scopes with spaces."""
    query = urlencode(
        {
            "response_type": "code",
            "client_id": client_id,
            "redirect_uri": redirect_uri,
            "state": state,
            "scope": " ".join(scopes),
        }
    )
    return f"{oauth_base_url.rstrip('/')}{AUTHORIZATION_PATH}?{query}"


def exchange_code(
    session: requests.Session,
    oauth_base_url: str,
    *,
    client_id: str,
    client_secret: str,
    code: str,
    redirect_uri: str,
    timeout: float,
) -> TokenGrant:
    """Exchange an authorization code for tokens (``grant_type=authorization_code``).

    Raises ``ReauthorizationRequired`` for ``invalid_grant`` (code expired or used), ``AuthenticationError``
    for other rejections, and ``TransientError`` (a ``DeliveryError``) for 429, 5xx and network errors.
    """
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": redirect_uri,
        "client_id": client_id,
        "client_secret": client_secret,
    }
    return _request_token(session, oauth_base_url, form, timeout=timeout, grant="authorization code")


def refresh_access_token(
    session: requests.Session,
    oauth_base_url: str,
    *,
    client_id: str,
    client_secret: str,
    refresh_token: str,
    timeout: float,
) -> TokenGrant:
    """Obtain a new access token from a refresh token (``grant_type=refresh_token``).

    Raises as ``exchange_code`` does. ``invalid_grant`` here means the refresh token expired (it lives
    365 days from the member's consent, and refreshing does not extend it) or was revoked.
    """
    form = {
        "grant_type": "refresh_token",
        "refresh_token": refresh_token,
        "client_id": client_id,
        "client_secret": client_secret,
    }
    return _request_token(session, oauth_base_url, form, timeout=timeout, grant="refresh token")


class TokenSource:
    """The job's current access token, refreshed at most once per rejected token across threads.

    ``refresh`` is a function that calls the token endpoint (with retries) and returns a grant.
    When several in-flight requests are rejected with the same token at once, the first caller
    refreshes and the others receive the new token without another call.
    """

    def __init__(
        self,
        *,
        access_token: str | None,
        refresh_token: str | None,
        refresh: Callable[[str], TokenGrant] | None,
        clock: Callable[[], float],
        register_secret: Callable[[str | None], None],
        on_tokens: Callable[[TokenGrant], None] | None = None,
    ):
        self._lock = threading.Lock()
        self._access_token = access_token
        self._refresh_token = refresh_token
        self._refresh = refresh
        self._clock = clock
        self._register_secret = register_secret
        self._on_tokens = on_tokens
        self._expires_at: float | None = None
        self._rejection: AuthenticationError | None = None
        self.refresh_count = 0

    @property
    def can_refresh(self) -> bool:
        return self._refresh is not None and self._refresh_token is not None

    def current(self) -> str:
        """Return a usable access token, obtaining or renewing it first when it is missing or expiring."""
        with self._lock:
            token = self._access_token
            if token is None or self._expiring():
                token = self._refresh_locked()
            return token

    def renew_after_rejection(self, rejected_token: str) -> tuple[str, bool]:
        """Return a new access token after LinkedIn rejected ``rejected_token`` with HTTP 401.

        The flag is True when this call refreshed the token, and False when another thread had
        already replaced the rejected token and its replacement is returned.
        """
        with self._lock:
            if self._access_token is not None and self._access_token != rejected_token:
                return self._access_token, False
            return self._refresh_locked(), True

    def is_current(self, token: str) -> bool:
        with self._lock:
            return self._access_token == token

    def _expiring(self) -> bool:
        if self._expires_at is None or not self.can_refresh:
            return False
        return self._clock() >= self._expires_at - EXPIRY_MARGIN_SECONDS

    def _refresh_locked(self) -> str:
        if self._refresh is None or self._refresh_token is None:
            raise AuthenticationError(
                "no access token can be obtained: configure auth.refresh_token with auth.client_id and "
                "auth.client_secret, or a new auth.access_token"
            )
        # The token endpoint's rejection (invalid_grant, invalid_client) is final for the job, so
        # the other threads whose requests were rejected get it again without another call.
        if self._rejection is not None:
            rejection = self._rejection
            raise type(rejection)(
                str(rejection),
                status=rejection.status,
                code=rejection.code,
                service_error_code=rejection.service_error_code,
            )
        try:
            grant = self._refresh(self._refresh_token)
        except AuthenticationError as error:
            self._rejection = error
            raise
        self._register_secret(grant.access_token)
        self._register_secret(grant.refresh_token)

        self._access_token = grant.access_token
        if grant.refresh_token:
            self._refresh_token = grant.refresh_token
        self._expires_at = None if grant.expires_in is None else self._clock() + grant.expires_in
        self.refresh_count += 1
        if self._on_tokens is not None:
            self._on_tokens(grant)
        return grant.access_token


def _request_token(
    session: requests.Session, oauth_base_url: str, form: dict[str, str], *, timeout: float, grant: str
) -> TokenGrant:
    url = f"{oauth_base_url.rstrip('/')}{TOKEN_PATH}"
    try:
        response = session.post(
            url,
            data=form,
            headers={"Accept": "application/json"},
            timeout=timeout,
            verify=True,
        )
    except requests.exceptions.SSLError:
        # A certificate that fails verification does not heal by retrying; it is a setting to fix.
        raise AuthenticationError(
            f"the TLS connection to LinkedIn's token endpoint at {oauth_base_url} failed verification; "
            "check api.oauth_base_url and the machine's CA certificates"
        ) from None
    except (requests.ConnectionError, requests.Timeout) as error:
        raise TransientError(f"LinkedIn's token endpoint could not be reached ({type(error).__name__})") from None

    body = _json_object(response)
    if response.status_code == 200:
        return _grant_from(body, grant)

    error_code = body.get("error") if isinstance(body.get("error"), str) else None
    if response.status_code == 429 or response.status_code >= 500:
        raise TransientError(
            f"LinkedIn's token endpoint returned HTTP {response.status_code}",
            retry_after=parse_retry_after(response.headers.get("Retry-After"), time.time()),
            status=response.status_code,
            code=error_code,
        )

    if error_code == "invalid_grant":
        if grant == "refresh token":
            message = (
                "LinkedIn rejected the refresh token (invalid_grant): it has expired (a refresh token lives "
                "365 days from the member's consent) or was revoked; authorize the connection again to obtain "
                "a new refresh token (td-output-linkedin connection create NAME, or a new auth.refresh_token)"
            )
        else:
            message = (
                "LinkedIn rejected the authorization code (invalid_grant): it has expired or was already "
                "used, or redirect_uri differs from the one in the authorization request; authorize again"
            )
        raise ReauthorizationRequired(message, status=response.status_code, code=error_code)

    if error_code in ("invalid_client", "unauthorized_client"):
        raise AuthenticationError(
            f"LinkedIn rejected the app's credentials ({error_code}): check auth.client_id and auth.client_secret",
            status=response.status_code,
            code=error_code,
        )
    described = f" ({error_code})" if error_code else ""
    raise AuthenticationError(
        f"LinkedIn's token endpoint rejected the {grant} request with HTTP {response.status_code}{described}",
        status=response.status_code,
        code=error_code,
    )


def _grant_from(body: dict[str, Any], grant: str) -> TokenGrant:
    access_token = body.get("access_token")
    if not isinstance(access_token, str) or not access_token:
        raise AuthenticationError(f"LinkedIn's token endpoint returned no access_token for the {grant} request")
    return TokenGrant(
        access_token=access_token,
        expires_in=_optional_int(body.get("expires_in")),
        refresh_token=body.get("refresh_token") or None,
        refresh_token_expires_in=_optional_int(body.get("refresh_token_expires_in")),
        scope=body.get("scope") or None,
    )


def _json_object(response: requests.Response) -> dict[str, Any]:
    try:
        body = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        return {}
    return body if isinstance(body, dict) else {}


def _optional_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None
