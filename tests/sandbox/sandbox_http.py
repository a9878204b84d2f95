"""Helpers for the sandbox tests: a fake clock, raw HTTP calls with LinkedIn's headers, sample members."""

from __future__ import annotations

import hashlib
from typing import Any

import requests

from td_output_linkedin.sandbox import SandboxOptions

ACCOUNT = "5071234"
VERSION = SandboxOptions().version_window()[1]


class FakeClock:
    """Unix seconds that move only when a test calls ``advance``."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class Api:
    """Raw calls with the headers LinkedIn requires; each helper returns the ``requests.Response``."""

    def __init__(self, base_url: str, access_token: str):
        self.base_url = base_url
        self.session = requests.Session()
        self.session.headers.update(
            {
                "Authorization": f"Bearer {access_token}",
                "LinkedIn-Version": VERSION,
                "X-Restli-Protocol-Version": "2.0.0",
            }
        )

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        return self.session.request(method, self.base_url + path, timeout=10, **kwargs)

    def create_segment(self, segment_type: str = "USER", account: str = ACCOUNT, **fields: Any) -> requests.Response:
        body = segment_body(type=segment_type, account=f"urn:li:sponsoredAccount:{account}", **fields)
        return self.request("POST", "/rest/dmpSegments", json=body)

    def new_segment(self, segment_type: str = "USER", account: str = ACCOUNT, **fields: Any) -> str:
        response = self.create_segment(segment_type, account, **fields)
        assert response.status_code == 201, response.text
        return response.headers["x-restli-id"]

    def write(self, segment_id: str, members: str, elements: list[Any]) -> requests.Response:
        return self.request(
            "POST",
            f"/rest/dmpSegments/{segment_id}/{members}",
            json={"elements": elements},
            headers={"X-RestLi-Method": "BATCH_CREATE"},
        )

    def find(self, account: str = ACCOUNT, headers: dict[str, str] | None = None, **params: Any) -> requests.Response:
        query = {"q": "account", "account": f"urn:li:sponsoredAccount:{account}", **params}
        return self.request("GET", "/rest/dmpSegments", params=query, headers=headers)


def segment_body(**fields: Any) -> dict[str, Any]:
    """Return a valid create-segment body with ``fields`` replacing or adding fields."""
    body = {
        "name": "Newsletter subscribers",
        "account": f"urn:li:sponsoredAccount:{ACCOUNT}",
        "type": "USER",
        "sourcePlatform": "TREASURE_DATA",
        "destinations": [{"destination": "LINKEDIN"}],
    }
    return {**body, **fields}


def sha256(email: str) -> str:
    return hashlib.sha256(email.encode()).hexdigest()


def user(email: str, action: str = "ADD", **fields: Any) -> dict[str, Any]:
    return {"action": action, "userIds": [{"idType": "SHA256_EMAIL", "idValue": sha256(email)}], **fields}
