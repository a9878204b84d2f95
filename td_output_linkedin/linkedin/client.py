"""The one HTTP session to LinkedIn: headers, access token, retries, rate limits and error mapping.

Every call to ``/rest/`` carries ``Authorization: Bearer``, ``LinkedIn-Version: YYYYMM`` and
``X-Restli-Protocol-Version: 2.0.0``
(https://learn.microsoft.com/en-us/linkedin/marketing/versioning and
https://learn.microsoft.com/en-us/linkedin/marketing/matched-audiences/create-and-manage-segments).
Errors follow https://learn.microsoft.com/en-us/linkedin/shared/api-guide/concepts/error-handling.
"""

from __future__ import annotations

import datetime
import random
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple
from urllib.parse import quote

import orjson
import requests
from requests.adapters import HTTPAdapter

from td_output_linkedin import __version__
from td_output_linkedin.config import Settings
from td_output_linkedin.errors import (
    AccessDeniedError,
    AuthenticationError,
    ConfigError,
    LinkedInError,
    SegmentError,
    VersionRetiredError,
)
from td_output_linkedin.joblog import JobLog
from td_output_linkedin.linkedin.auth import TokenGrant, TokenSource, refresh_access_token
from td_output_linkedin.linkedin.ratelimit import RateLimiter
from td_output_linkedin.linkedin.retry import RetryPolicy, Stopped, StopSignal, TransientError, parse_retry_after

PROTOCOL_VERSION = "2.0.0"
USER_AGENT = f"td-output-linkedin/{__version__}"
TRANSIENT_STATUSES = frozenset({500, 502, 503, 504})
# LinkedIn retires each monthly version about one year after its release
# (https://learn.microsoft.com/en-us/linkedin/marketing/versioning); warn a month ahead.
VERSION_WARNING_AGE_MONTHS = 11
# NOTE: LinkedIn states "about one year" without an exact day, so a version past 12 months is
# reported as likely retired by `check`, while a job still tries it and fails on a 426.
VERSION_RETIRED_AGE_MONTHS = 12
VERSION_PATTERN = re.compile(r"^(\d{4})(\d{2})(?:\.\d{2})?$")
# Event that ends a wait early: a plain event, or an upload's StopSignal.
Halt = threading.Event | StopSignal


@dataclass(frozen=True)
class ApiRequest:
    """One logical call to ``/rest/``: what to send and how to describe it in the job log."""

    method: str
    path: str
    description: str
    query: tuple[tuple[str, str], ...] = ()
    body: bytes | None = None
    batch_create: bool = False
    limiter: RateLimiter | None = None
    # False for a call whose outcome is uncertain after a 5xx or a timeout (a create): then ``send``
    # raises the first ``TransientError`` so that the caller can check before sending it again.
    retry: bool = True
    # LinkedIn's error ``message`` can echo element values (personal data) on batch calls, so
    # only calls about segments and accounts repeat it.
    show_linkedin_message: bool = True


class Reply(NamedTuple):
    """A 2xx response and how many HTTP requests the logical call took (retries and 401 repeats)."""

    response: requests.Response
    requests: int


@dataclass
class Tally:
    """HTTP requests made on behalf of one item (a batch), counted also when the call fails."""

    requests: int = 0


class NotFoundError(SegmentError):
    """HTTP 404: the segment does not exist, or a segment created moments ago is not available yet."""


class ApiClient:
    """Sends API requests through one pooled ``requests.Session`` and retries transient failures."""

    def __init__(
        self,
        settings: Settings,
        log: JobLog,
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] | None = None,
        rng: random.Random | None = None,
        on_tokens: Callable[[TokenGrant], None] | None = None,
    ):
        self.settings = settings
        self.api = settings.api
        self.log = log
        self._clock = clock
        self._sleep = sleep
        self._closed = threading.Event()
        # The job's stop event (SIGINT, SIGTERM), set by the sink when it resolves the segment. Every wait wakes
        # on it, including those of the token and segment calls, which have no halt of their own.
        self.job_stop: threading.Event | None = None
        self._count_lock = threading.Lock()
        self.requests_sent = 0

        self.session = requests.Session()
        self.session.verify = True
        self.session.headers["User-Agent"] = USER_AGENT
        adapter = HTTPAdapter(pool_connections=4, pool_maxsize=max(self.api.max_in_flight, 1) + 2, max_retries=0)
        self.session.mount("https://", adapter)
        self.session.mount("http://", adapter)

        self.policy = RetryPolicy(
            max_attempts=self.api.max_attempts,
            max_total_wait=self.api.max_retry_wait_seconds,
            rng=rng or random.Random(),
        )
        self.tokens = _token_source(settings, log, clock=clock, refresh=self._refresh, on_tokens=on_tokens)

    # -- the public calls -------------------------------------------------------------------

    def send(self, request: ApiRequest, *, halt: Halt | None = None, tally: Tally | None = None) -> Reply:
        """Send ``request`` until it succeeds, and return the 2xx response.

        Retries 429 and 5xx responses and network errors within the configured bounds, repeats the
        request once with a new access token after a 401, and raises a ``LinkedInError`` subclass
        for everything else. Raises ``Stopped`` when ``halt`` is set during a wait.
        """
        tally = tally or Tally()
        requests_before = tally.requests

        def attempt() -> requests.Response:
            token = self._token_for_attempt(request, halt)
            tally.requests += 1
            response = self._transmit(request, token)

            # A request refreshes the token at most once. When the repeat is rejected too, it
            # gives up, unless another thread replaced the token meanwhile: then the request
            # repeats with that newer token, a bounded number of times.
            refreshed_here = False
            repeats = 0
            while response.status_code == 401:
                if (refreshed_here and self.tokens.is_current(token)) or repeats >= self.policy.max_attempts:
                    raise self._second_rejection(response)
                token, refreshed = self._renew_token(token, response)
                refreshed_here = refreshed_here or refreshed
                repeats += 1
                self._take_turn(request.limiter, halt)
                tally.requests += 1
                response = self._transmit(request, token)

            if 200 <= response.status_code < 300:
                return response
            raise self._error_for(response, request)

        if not request.retry:
            response = attempt()
        else:
            response = self.run_with_retries(attempt, request.description, halt)
        return Reply(response, tally.requests - requests_before)

    def run_with_retries(self, operation: Callable[[], Any], description: str, halt: Halt | None) -> Any:
        """Call ``operation`` under the retry policy, logging one warning per retry."""

        def on_retry(error: TransientError, attempt_number: int, wait: float) -> None:
            self.log.warning(
                "%s: %s; attempt %d of %d failed, retrying in %.1f s",
                description,
                error,
                attempt_number,
                self.policy.max_attempts,
                wait,
            )

        return self.policy.run(operation, on_retry=on_retry, pause=lambda seconds: self.pause(seconds, halt))

    def url(self, path: str) -> str:
        return f"{self.api.base_url.rstrip('/')}{path}"

    def pause(self, seconds: float, halt: Halt | None) -> None:
        """Wait ``seconds``, waking early when ``halt`` (or ``close``) is set; then raise ``Stopped`` if it was."""
        if seconds > 0:
            if self._sleep is not None:
                self._sleep(seconds)
            else:
                (halt or self.job_stop or self._closed).wait(seconds)
        if (
            (halt is not None and halt.is_set())
            or (self.job_stop is not None and self.job_stop.is_set())
            or self._closed.is_set()
        ):
            raise Stopped()

    def close(self) -> None:
        self._closed.set()
        self.session.close()

    # -- one attempt ------------------------------------------------------------------------

    def _token_for_attempt(self, request: ApiRequest, halt: Halt | None) -> str:
        if (halt is not None and halt.is_set()) or self._closed.is_set():
            raise Stopped()
        self._take_turn(request.limiter, halt)
        return self.tokens.current()

    def _take_turn(self, limiter: RateLimiter | None, halt: Halt | None) -> None:
        if limiter is not None:
            self.pause(limiter.reserve(), halt)

    def _transmit(self, request: ApiRequest, token: str) -> requests.Response:
        headers = {
            "Authorization": f"Bearer {token}",
            "LinkedIn-Version": self.api.version,
            "X-Restli-Protocol-Version": PROTOCOL_VERSION,
            "Accept": "application/json",
        }
        if request.body is not None:
            headers["Content-Type"] = "application/json"
        if request.batch_create:
            headers["X-RestLi-Method"] = "BATCH_CREATE"

        url = self.url(request.path)
        if request.query:
            # Rest.li 2.0 requires URNs in query strings to be URL-encoded, ":" as %3A.
            url += "?" + "&".join(f"{quote(key, safe='')}={quote(value, safe='')}" for key, value in request.query)

        self._count_request()
        try:
            return self.session.request(
                request.method,
                url,
                data=request.body,
                headers=headers,
                timeout=self.api.timeout_seconds,
                verify=True,
            )
        except requests.exceptions.SSLError:
            raise LinkedInError(
                f"{request.description}: the TLS connection to {self.api.base_url} failed verification; "
                "check api.base_url and the machine's CA certificates"
            ) from None
        except (
            requests.ConnectionError,
            requests.Timeout,
            requests.exceptions.ChunkedEncodingError,
            requests.exceptions.ContentDecodingError,
        ) as error:
            raise TransientError(f"{type(error).__name__} while waiting for LinkedIn") from None

    # -- access token -----------------------------------------------------------------------

    def _refresh(self, refresh_token: str) -> TokenGrant:
        auth = self.settings.auth
        assert auth.client_id is not None and auth.client_secret is not None

        def attempt() -> TokenGrant:
            self._count_request()
            return refresh_access_token(
                self.session,
                self.api.oauth_base_url,
                client_id=auth.client_id,
                client_secret=auth.client_secret,
                refresh_token=refresh_token,
                timeout=self.api.timeout_seconds,
            )

        grant: TokenGrant = self.run_with_retries(attempt, "access token request", None)
        self.log.add_secret(grant.access_token)
        self.log.add_secret(grant.refresh_token)
        lifetime = "" if grant.expires_in is None else f"; it expires in {grant.expires_in / 86400:.1f} days"
        self.log.info("obtained an access token from the refresh token%s", lifetime)
        return grant

    def _renew_token(self, rejected_token: str, response: requests.Response) -> tuple[str, bool]:
        if not self.tokens.can_refresh:
            status, code, _, _ = _error_fields(response)
            raise AuthenticationError(
                f"LinkedIn rejected the configured access token (HTTP 401{_code_text(code)}): configure "
                "auth.refresh_token with auth.client_id and auth.client_secret, or a new auth.access_token",
                status=status,
                code=code,
            )
        self.log.info("LinkedIn rejected the access token (HTTP 401); renewing it with the refresh token")
        return self.tokens.renew_after_rejection(rejected_token)

    def _second_rejection(self, response: requests.Response) -> AuthenticationError:
        status, code, service_code, _ = _error_fields(response)
        return AuthenticationError(
            f"LinkedIn rejected a newly obtained access token (HTTP 401{_code_text(code)}): the member may "
            "have revoked the app's access or lost the rw_dmp_segments scope; authorize the connection again",
            status=status,
            code=code,
            service_error_code=service_code,
        )

    # -- errors -----------------------------------------------------------------------------

    def _error_for(self, response: requests.Response, request: ApiRequest) -> LinkedInError:
        status, code, service_code, message = _error_fields(response)
        fields: dict[str, Any] = {"status": status, "code": code, "service_error_code": service_code}
        detail = f"HTTP {status}{_code_text(code)}"
        if request.show_linkedin_message and message:
            detail += f": {message}"

        if status == 429 and code == "SEGMENT_LIMIT_EXCEEDED":
            return SegmentError(
                f"{request.description}: ad account {self.settings.ad_account_id} already contains LinkedIn's "
                f"maximum number of segments ({detail}); delete unused segments or use an existing "
                "segment_name",
                **fields,
            )
        if status == 429 or status in TRANSIENT_STATUSES:
            retry_after = parse_retry_after(response.headers.get("Retry-After"), self._clock())
            return TransientError(f"LinkedIn returned HTTP {status}{_code_text(code)}", retry_after=retry_after, **fields)
        if status == 403:
            return AccessDeniedError(
                f"{request.description}: LinkedIn denied access to ad account {self.settings.ad_account_id} "
                f"({detail}); the member who authorized the connection needs a role above VIEWER on that "
                "ad account, and the app needs the rw_dmp_segments scope",
                **fields,
            )
        if status == 426:
            return VersionRetiredError(
                f"LinkedIn does not serve API version {self.api.version} ({detail}): it is retired or not yet "
                "released. Set api.version to a current version (YYYYMM)",
                **fields,
            )
        if status == 404:
            return NotFoundError(f"{request.description}: not found ({detail})", **fields)
        return LinkedInError(f"{request.description}: LinkedIn rejected the request ({detail})", **fields)

    def _count_request(self) -> None:
        with self._count_lock:
            self.requests_sent += 1


def version_age_months(version: str, today: datetime.date) -> int:
    """Return how many months ago the ``YYYYMM`` version was released; raise ``ConfigError`` if malformed."""
    match = VERSION_PATTERN.match(version)
    if match is None or not 1 <= int(match.group(2)) <= 12:
        raise ConfigError(f"api.version: {version!r} is not a LinkedIn API version; use the YYYYMM form, such as 202611")
    year, month = int(match.group(1)), int(match.group(2))
    return (today.year - year) * 12 + (today.month - month)


def json_body(response: requests.Response, description: str) -> Any:
    """Decode a response body as JSON, raising ``LinkedInError`` when LinkedIn sent something else."""
    try:
        return orjson.loads(response.content)
    except orjson.JSONDecodeError:
        raise LinkedInError(
            f"{description}: LinkedIn returned HTTP {response.status_code} with a body that is not JSON",
            status=response.status_code,
        ) from None


def _token_source(
    settings: Settings,
    log: JobLog,
    *,
    clock: Callable[[], float],
    refresh: Callable[[str], TokenGrant],
    on_tokens: Callable[[TokenGrant], None] | None,
) -> TokenSource:
    auth = settings.auth
    if auth.refresh_token and not (auth.client_id and auth.client_secret):
        raise ConfigError("auth: auth.refresh_token needs auth.client_id and auth.client_secret to obtain access tokens")
    if not auth.refresh_token and not auth.access_token:
        raise ConfigError(
            "auth: no credentials; configure auth.refresh_token with auth.client_id and auth.client_secret, "
            "or auth.access_token"
        )
    return TokenSource(
        access_token=auth.access_token,
        refresh_token=auth.refresh_token,
        refresh=refresh if auth.refresh_token else None,
        clock=clock,
        register_secret=log.add_secret,
        on_tokens=on_tokens,
    )


def _error_fields(response: requests.Response) -> tuple[int, str | None, int | None, str | None]:
    """Read LinkedIn's error body ``{"status", "serviceErrorCode", "code", "message"}``; any field may be missing."""
    try:
        body = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        body = None
    if not isinstance(body, dict):
        return response.status_code, None, None, None
    code = body.get("code") if isinstance(body.get("code"), str) else None
    service_code = body.get("serviceErrorCode") if isinstance(body.get("serviceErrorCode"), int) else None
    message = body.get("message") if isinstance(body.get("message"), str) else None
    return response.status_code, code, service_code, message


def _code_text(code: str | None) -> str:
    return f" {code}" if code else ""
