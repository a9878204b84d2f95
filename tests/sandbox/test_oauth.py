"""The authorization endpoint, the token endpoint's two grants and their errors."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from td_output_linkedin.sandbox import Sandbox

from sandbox_http import Api, FakeClock

REDIRECT = "http://127.0.0.1:9/callback"


def authorize(sandbox: Sandbox, **params: str) -> requests.Response:
    query = {"response_type": "code", "client_id": "sandbox-client", "redirect_uri": REDIRECT,
             "state": "xyz", "scope": "rw_dmp_segments r_ads", **params}
    return requests.get(f"{sandbox.base_url}/oauth/v2/authorization", params=query, allow_redirects=False, timeout=10)


def token(sandbox: Sandbox, **form: str) -> requests.Response:
    return requests.post(f"{sandbox.base_url}/oauth/v2/accessToken", data=form, timeout=10)


def redirect_query(response: requests.Response) -> dict[str, str]:
    location = response.headers["Location"]
    assert location.startswith(REDIRECT + "?")
    return {name: values[0] for name, values in parse_qs(urlsplit(location).query).items()}


def exchange(sandbox: Sandbox, secret: str) -> requests.Response:
    code = redirect_query(authorize(sandbox))["code"]
    return token(sandbox, grant_type="authorization_code", code=code, client_id="sandbox-client",
                 client_secret=secret, redirect_uri=REDIRECT)


def test_authorization_redirects_with_code_and_state(sandbox: Sandbox) -> None:
    sandbox.authorize()
    response = authorize(sandbox)
    assert response.status_code == 302
    query = redirect_query(response)
    assert query["state"] == "xyz"
    assert query["code"].startswith("sandbox-code-")


@pytest.mark.parametrize(
    ("params", "error"),
    [
        ({"response_type": "token"}, "unsupported_response_type"),
        ({"scope": ""}, "invalid_scope"),
        ({"scope": "rw_dmp_segments w_member_social"}, "unauthorized_scope_error"),
    ],
)
def test_authorization_redirects_errors(sandbox: Sandbox, params: dict[str, str], error: str) -> None:
    sandbox.authorize()
    query = redirect_query(authorize(sandbox, **params))
    assert query["error"] == error
    assert query["state"] == "xyz"
    assert "code" not in query


@pytest.mark.parametrize(
    ("params", "error"),
    [({"client_id": "unknown-app"}, "invalid_client"), ({"redirect_uri": "callback"}, "invalid_request")],
)
def test_authorization_rejects_without_redirect(sandbox: Sandbox, params: dict[str, str], error: str) -> None:
    sandbox.authorize()
    response = authorize(sandbox, **params)
    assert response.status_code == 400
    assert response.json()["error"] == error


def test_code_exchange_answers_linkedin_fields(sandbox: Sandbox) -> None:
    credentials = sandbox.authorize()
    response = exchange(sandbox, credentials.client_secret)
    assert response.status_code == 200
    answer = response.json()
    assert set(answer) == {"access_token", "expires_in", "refresh_token", "refresh_token_expires_in", "scope"}
    assert answer["expires_in"] == 5_184_000
    assert answer["refresh_token_expires_in"] == 31_536_000
    assert answer["scope"] == "rw_dmp_segments,r_ads"
    segments = Api(sandbox.base_url, answer["access_token"]).find()
    assert segments.status_code == 200


def test_code_is_single_use(sandbox: Sandbox) -> None:
    credentials = sandbox.authorize()
    code = redirect_query(authorize(sandbox))["code"]
    form = {"grant_type": "authorization_code", "code": code, "client_id": "sandbox-client",
            "client_secret": credentials.client_secret, "redirect_uri": REDIRECT}
    assert token(sandbox, **form).status_code == 200
    second = token(sandbox, **form)
    assert second.status_code == 400
    assert second.json()["error"] == "invalid_grant"


def test_code_expires_after_30_minutes(sandbox: Sandbox, clock: FakeClock) -> None:
    credentials = sandbox.authorize()
    code = redirect_query(authorize(sandbox))["code"]
    clock.advance(1801)
    response = token(sandbox, grant_type="authorization_code", code=code, client_id="sandbox-client",
                     client_secret=credentials.client_secret, redirect_uri=REDIRECT)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


def test_code_exchange_needs_same_redirect_uri(sandbox: Sandbox) -> None:
    credentials = sandbox.authorize()
    code = redirect_query(authorize(sandbox))["code"]
    response = token(sandbox, grant_type="authorization_code", code=code, client_id="sandbox-client",
                     client_secret=credentials.client_secret, redirect_uri=REDIRECT + "/other")
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


def test_refresh_keeps_refresh_token_and_expiry(sandbox: Sandbox, clock: FakeClock) -> None:
    credentials = sandbox.authorize()
    clock.advance(86_400)
    response = token(sandbox, grant_type="refresh_token", refresh_token=credentials.refresh_token,
                     client_id=credentials.client_id, client_secret=credentials.client_secret)
    assert response.status_code == 200
    answer = response.json()
    assert answer["refresh_token"] == credentials.refresh_token
    assert answer["refresh_token_expires_in"] == 31_536_000 - 86_400
    assert answer["expires_in"] == 5_184_000
    assert answer["access_token"] != credentials.access_token
    assert Api(sandbox.base_url, answer["access_token"]).find().status_code == 200


@pytest.mark.parametrize("case", ["unknown", "revoked", "expired", "other client"])
def test_refresh_answers_invalid_grant(sandbox: Sandbox, clock: FakeClock, case: str) -> None:
    credentials = sandbox.authorize()
    other = sandbox.authorize(client_id="other-app")
    refresh_token = "sandbox-rt-unknown" if case == "unknown" else credentials.refresh_token
    client = other if case == "other client" else credentials
    if case == "revoked":
        sandbox.revoke_refresh_tokens()
    if case == "expired":
        clock.advance(31_536_000)

    response = token(sandbox, grant_type="refresh_token", refresh_token=refresh_token,
                     client_id=client.client_id, client_secret=client.client_secret)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"
    assert response.json()["error_description"]


@pytest.mark.parametrize(
    ("form", "status", "error"),
    [
        ({"grant_type": "client_credentials"}, 400, "unsupported_grant_type"),
        ({}, 400, "invalid_request"),
        ({"grant_type": "refresh_token", "client_secret": "x"}, 400, "invalid_request"),
        ({"grant_type": "refresh_token", "client_id": "sandbox-client", "client_secret": "wrong"}, 401, "invalid_client"),
    ],
)
def test_token_endpoint_errors(sandbox: Sandbox, form: dict[str, str], status: int, error: str) -> None:
    credentials = sandbox.authorize()
    response = token(sandbox, refresh_token=credentials.refresh_token, **form)
    assert response.status_code == status
    assert response.json()["error"] == error


def test_token_endpoint_needs_form_body(sandbox: Sandbox) -> None:
    credentials = sandbox.authorize()
    response = requests.post(
        f"{sandbox.base_url}/oauth/v2/accessToken",
        json={"grant_type": "refresh_token", "refresh_token": credentials.refresh_token,
              "client_id": credentials.client_id, "client_secret": credentials.client_secret},
        timeout=10,
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


def test_token_errors_never_echo_secrets(sandbox: Sandbox) -> None:
    credentials = sandbox.authorize()
    response = token(sandbox, grant_type="refresh_token", refresh_token=credentials.refresh_token + "x",
                     client_id=credentials.client_id, client_secret=credentials.client_secret)
    assert response.status_code == 400
    assert credentials.refresh_token not in response.text
    assert credentials.client_secret not in response.text
