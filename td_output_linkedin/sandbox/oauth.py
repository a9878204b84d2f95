"""LinkedIn's 3-legged OAuth 2.0: the authorization endpoint, the token endpoint and bearer checks.

https://learn.microsoft.com/en-us/linkedin/shared/authentication/authorization-code-flow
https://learn.microsoft.com/en-us/linkedin/shared/authentication/programmatic-refresh-tokens
"""

from __future__ import annotations

import secrets
from urllib.parse import parse_qs, urlencode, urlsplit

from td_output_linkedin.sandbox.options import DEFAULT_SCOPES, SandboxCredentials, SandboxOptions
from td_output_linkedin.sandbox.state import AccessToken, App, AuthorizationCode, RefreshToken, SandboxState
from td_output_linkedin.sandbox.wire import ApiError, OAuthError, Request, Response, json_response

# NOTE: 30 minutes is the code lifetime commonly given for LinkedIn; the sandbox also allows one exchange per code.
AUTHORIZATION_CODE_SECONDS = 1800
DEFAULT_MEMBER = "urn:li:person:sandboxMember"
FORM = "application/x-www-form-urlencoded"


class OAuth:
    def __init__(self, state: SandboxState, options: SandboxOptions):
        self._state = state
        self._options = options

    def register(self, client_id: str, client_secret: str | None, scopes: tuple[str, ...]) -> App:
        """Register an app, or update the secret and scopes of a registered one."""
        with self._state.lock:
            known = self._state.apps.get(client_id)
            secret = client_secret or (known.client_secret if known else "sandbox-cs-" + secrets.token_urlsafe(24))
            app = App(client_id, secret, tuple(scopes))
            self._state.apps[client_id] = app
        return app

    def consent(
        self,
        client_id: str,
        client_secret: str | None = None,
        scopes: tuple[str, ...] = DEFAULT_SCOPES,
        member: str = DEFAULT_MEMBER,
    ) -> SandboxCredentials:
        """Register an app and let ``member`` consent to it, as if the browser flow had run."""
        app = self.register(client_id, client_secret, scopes)
        access, refresh = self._state.issue_tokens(
            app,
            member,
            app.scopes,
            self._options.access_token_lifetime_seconds,
            self._options.access_token_lifetime_requests,
            self._options.refresh_token_lifetime_seconds,
        )
        return SandboxCredentials(app.client_id, app.client_secret, refresh, access, member, app.scopes)

    # --- GET /oauth/v2/authorization

    def authorization(self, request: Request) -> Response:
        """Consent at once as the sandbox's member and redirect back with ``code`` and ``state``."""
        query = {name: values[-1] for name, values in request.query().items()}
        app = self._state.apps.get(query.get("client_id", ""))
        if app is None:
            raise OAuthError(400, "invalid_client", "client_id is missing or not registered with the sandbox")
        redirect_uri = query.get("redirect_uri", "")
        if urlsplit(redirect_uri).scheme not in ("http", "https") or not urlsplit(redirect_uri).netloc:
            raise OAuthError(400, "invalid_request", "redirect_uri must be an absolute http or https URL")

        def redirect(parameters: dict[str, str]) -> Response:
            if "state" in query:
                parameters["state"] = query["state"]
            separator = "&" if "?" in redirect_uri else "?"
            return Response(302, b"", {"Location": redirect_uri + separator + urlencode(parameters)})

        if query.get("response_type") != "code":
            return redirect({"error": "unsupported_response_type", "error_description": "response_type must be code"})
        scopes = tuple(query.get("scope", "").split())
        if not scopes:
            return redirect({"error": "invalid_scope", "error_description": "scope is required"})
        missing = [scope for scope in scopes if scope not in app.scopes]
        if missing:
            description = f"the app is not granted {' '.join(missing)}"
            return redirect({"error": "unauthorized_scope_error", "error_description": description})

        code = "sandbox-code-" + secrets.token_urlsafe(24)
        expires_at = self._state.clock() + AUTHORIZATION_CODE_SECONDS
        with self._state.lock:
            self._state.codes[code] = AuthorizationCode(DEFAULT_MEMBER, app.client_id, redirect_uri, scopes, expires_at)
        return redirect({"code": code})

    # --- POST /oauth/v2/accessToken

    def access_token(self, request: Request) -> Response:
        if request.media_type() != FORM:
            raise OAuthError(400, "invalid_request", f"the body must be {FORM}")
        form = {name: values[-1] for name, values in parse_qs(request.body.decode("latin-1")).items()}
        grant_type = form.get("grant_type")
        if grant_type not in ("authorization_code", "refresh_token"):
            if grant_type is None:
                raise OAuthError(400, "invalid_request", "grant_type is required")
            raise OAuthError(400, "unsupported_grant_type", "grant_type must be authorization_code or refresh_token")
        app = self._client(form)
        if grant_type == "authorization_code":
            return self._exchange_code(app, form)
        return self._refresh(app, form)

    def _client(self, form: dict[str, str]) -> App:
        for name in ("client_id", "client_secret"):
            if not form.get(name):
                raise OAuthError(400, "invalid_request", f"{name} is required")
        app = self._state.apps.get(form["client_id"])
        if app is None or not secrets.compare_digest(app.client_secret, form["client_secret"]):
            raise OAuthError(401, "invalid_client", "client authentication failed: unknown client_id or wrong secret")
        return app

    def _exchange_code(self, app: App, form: dict[str, str]) -> Response:
        for name in ("code", "redirect_uri"):
            if not form.get(name):
                raise OAuthError(400, "invalid_request", f"{name} is required")
        with self._state.lock:
            code = self._state.codes.pop(form["code"], None)
        if code is None or code.expires_at <= self._state.clock() or code.client_id != app.client_id:
            raise OAuthError(400, "invalid_grant", "the authorization code is unknown, used or expired")
        if code.redirect_uri != form["redirect_uri"]:
            raise OAuthError(400, "invalid_grant", "redirect_uri differs from the one sent to the authorization endpoint")

        access, refresh = self._state.issue_tokens(
            app,
            code.member,
            code.scopes,
            self._options.access_token_lifetime_seconds,
            self._options.access_token_lifetime_requests,
            self._options.refresh_token_lifetime_seconds,
        )
        return self._token_answer(access, refresh, self._state.refresh_tokens[refresh])

    def _refresh(self, app: App, form: dict[str, str]) -> Response:
        value = form.get("refresh_token")
        if not value:
            raise OAuthError(400, "invalid_request", "refresh_token is required")
        token = self._state.refresh_tokens.get(value)
        if token is None or token.client_id != app.client_id:
            raise OAuthError(400, "invalid_grant", "the refresh token is unknown")
        if token.revoked:
            raise OAuthError(400, "invalid_grant", "the refresh token was revoked; the member must consent again")
        if token.expires_at <= self._state.clock():
            raise OAuthError(400, "invalid_grant", "the refresh token expired; the member must consent again")

        access = self._state.issue_access_token(
            token, self._options.access_token_lifetime_seconds, self._options.access_token_lifetime_requests
        )
        # Refreshing keeps the refresh token and its original expiry: it lives 365 days from the first consent.
        return self._token_answer(access, value, token)

    def _token_answer(self, access: str, refresh: str, token: RefreshToken) -> Response:
        now = self._state.clock()
        document = {
            "access_token": access,
            "expires_in": int(self._state.access_tokens[access].expires_at - now),
            "refresh_token": refresh,
            "refresh_token_expires_in": max(int(token.expires_at - now), 0),
            # LinkedIn lists granted scopes separated by commas.
            "scope": ",".join(token.scopes),
        }
        return json_response(200, document, {"Cache-Control": "no-store"})

    # --- bearer tokens on /rest/

    def authenticate(self, authorization: str | None) -> AccessToken:
        """Return the access token of a request, counting the request against its lifetime."""
        if not authorization or not authorization.strip():
            raise ApiError(401, "Empty oauth2_access_token")
        scheme, _, value = authorization.strip().partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise ApiError(401, "Unknown authentication scheme; send Authorization: Bearer <access token>")

        with self._state.lock:
            token = self._state.access_tokens.get(value.strip())
            if token is None:
                raise ApiError(401, "Invalid access token", "INVALID_ACCESS_TOKEN", 65600)
            if token.revoked:
                raise ApiError(401, "The token used in the request has been revoked by the user", "REVOKED_ACCESS_TOKEN", 65601)
            if token.expires_at <= self._state.clock():
                raise ApiError(401, "The token used in the request has expired", "INVALID_ACCESS_TOKEN", 65600)
            if token.requests_left is not None:
                if token.requests_left <= 0:
                    raise ApiError(401, "The token used in the request has expired", "INVALID_ACCESS_TOKEN", 65600)
                token.requests_left -= 1
        return token
