"""One request through the sandbox: latency, fault injection, the checks every LinkedIn call gets, the endpoint."""

from __future__ import annotations

import datetime
import logging
import time

from td_output_linkedin.sandbox.api import SegmentsApi, require_scope
from td_output_linkedin.sandbox.limits import FaultInjector, RateLimiter
from td_output_linkedin.sandbox.oauth import OAuth
from td_output_linkedin.sandbox.options import SandboxOptions, is_version
from td_output_linkedin.sandbox.state import SandboxState
from td_output_linkedin.sandbox.wire import ApiError, OAuthError, Request, Response, json_response

log = logging.getLogger("td_output_linkedin.sandbox")

RESTLI_PROTOCOL_VERSION = "2.0.0"
FAULT_ERRORS = {
    "500": (500, "INTERNAL_SERVER_ERROR"),
    "503": (503, "SERVICE_UNAVAILABLE"),
}
# A gateway in front of the API returns 502 and 504 itself, with an HTML page rather than JSON.
GATEWAY_FAULTS = {"502": "Bad Gateway", "504": "Gateway Timeout"}


class SandboxApp:
    """Route one request to its endpoint; ``handle`` returns None when the connection is to be dropped without a response."""

    def __init__(self, options: SandboxOptions, state: SandboxState, oauth: OAuth):
        self._options = options
        self._state = state
        self._oauth = oauth
        self._api = SegmentsApi(state, options)
        limits = {"users": options.users_requests_per_minute, "companies": options.companies_requests_per_minute}
        self._limiter = RateLimiter(limits, state.clock)
        self._faults = FaultInjector(options.faults, options.fault_paths, options.seed)

    def handle(self, request: Request) -> Response | None:
        if request.path.startswith("/_sandbox/"):
            return self._control(request)
        if self._options.latency_seconds:
            time.sleep(self._options.latency_seconds)

        if request.path.startswith("/oauth/v2/"):
            endpoint, response = self._oauth_endpoint(request)
        elif request.path.startswith("/rest/"):
            endpoint, response = self._rest_endpoint(request)
        else:
            endpoint, response = "other", ApiError(404, "No resource found", "NOT_FOUND").response()
        self._state.count_request(endpoint, "drop" if response is None else str(response.status))
        return response

    def _oauth_endpoint(self, request: Request) -> tuple[str, Response]:
        endpoint = f"{request.method} {request.path}"
        try:
            if request.path == "/oauth/v2/authorization" and request.method == "GET":
                return endpoint, self._oauth.authorization(request)
            if request.path == "/oauth/v2/accessToken" and request.method == "POST":
                return endpoint, self._oauth.access_token(request)
            if request.path in ("/oauth/v2/authorization", "/oauth/v2/accessToken"):
                raise OAuthError(405, "invalid_request", f"{request.method} is not allowed on {request.path}")
            return "other", OAuthError(404, "invalid_request", "no such OAuth endpoint").response()
        except OAuthError as error:
            return endpoint, error.response()

    def _rest_endpoint(self, request: Request) -> tuple[str, Response | None]:
        try:
            endpoint, handler, values = self._api.route(request.method, request.path)
        except ApiError as error:
            return "other", error.response()

        fault = self._faults.draw(request.path)
        if fault == "drop":
            log.debug("fault drop on %s", endpoint)
            return endpoint, None
        if fault == "slow":
            log.debug("fault slow on %s: responding after %s s", endpoint, self._options.slow_seconds)
            time.sleep(self._options.slow_seconds)
        elif fault is not None:
            log.debug("fault %s on %s", fault, endpoint)
            return endpoint, self._fault_response(fault)

        try:
            token = self._oauth.authenticate(request.header("authorization"))
            self._check_version(request.header("linkedin-version"))
            if request.header("x-restli-protocol-version") != RESTLI_PROTOCOL_VERSION:
                message = f"the header X-Restli-Protocol-Version: {RESTLI_PROTOCOL_VERSION} is required"
                raise ApiError(400, message, "INVALID_REQUEST")
            if handler is None:
                raise ApiError(405, f"{request.method} is not allowed on {endpoint.split(' ', 1)[1]}", "METHOD_NOT_ALLOWED")
            require_scope(token)
            members = values["members"]
            if members and not self._limiter.allow(token.member, members):
                # LinkedIn reportedly sends no Retry-After on throttles, so neither does the sandbox.
                raise ApiError(429, f"per-member limit of requests per minute reached for /{members}", "TOO_MANY_REQUESTS")
            return endpoint, handler(request, token, values)
        except ApiError as error:
            log.debug("%s rejected with %s %s: %s", endpoint, error.status, error.code, error.message)
            return endpoint, error.response()

    def _check_version(self, version: str | None) -> None:
        """Check ``LinkedIn-Version``: required, ``YYYYMM``, and one of the months served (else 426).

        https://learn.microsoft.com/en-us/linkedin/marketing/versioning
        """
        if not version:
            raise ApiError(400, "A LinkedIn-Version header in the form YYYYMM is required", "VERSION_MISSING")
        oldest, newest = self._options.version_window(datetime.datetime.now(datetime.timezone.utc).date())
        if not is_version(version) or not oldest <= version <= newest:
            message = f"Requested version {version[:20]} is not active; versions {oldest} to {newest} are served"
            raise ApiError(426, message, "NONEXISTENT_VERSION")

    def _fault_response(self, fault: str) -> Response:
        if fault in GATEWAY_FAULTS:
            reason = GATEWAY_FAULTS[fault]
            page = f"<html><body><h1>{fault} {reason}</h1></body></html>".encode()
            return Response(int(fault), page, {"Content-Type": "text/html"})
        if fault.startswith("429"):
            headers = {} if fault == "429_no_retry_after" else {"Retry-After": str(self._options.retry_after_seconds)}
            return ApiError(429, "Too many requests", "TOO_MANY_REQUESTS", headers=headers).response()
        status, code = FAULT_ERRORS[fault]
        return ApiError(status, "Internal error, try again later", code).response()

    def _control(self, request: Request) -> Response:
        """Serve the sandbox's own endpoints; they need no token and are not counted."""
        actions = {
            "/_sandbox/revoke-refresh-tokens": self._state.revoke_refresh_tokens,
            "/_sandbox/revoke-access-tokens": self._state.revoke_access_tokens,
            "/_sandbox/expire-access-tokens": self._state.expire_access_tokens,
        }
        if request.path == "/_sandbox/state" and request.method == "GET":
            include_members = request.query().get("members") != ["false"]
            return json_response(200, self._state.snapshot(include_members))
        if request.path in actions and request.method == "POST":
            actions[request.path]()
            return Response(204)
        return ApiError(404, f"No sandbox endpoint {request.method} {request.path[:100]}", "NOT_FOUND").response()
