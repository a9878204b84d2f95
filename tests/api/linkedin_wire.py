"""Shared values and builders for the wire tests: settings, LinkedIn responses and batches.

The base URLs end in ``.invalid``, a top-level domain that never resolves, and requests-mock
responds to every call, so nothing leaves the process.
"""

from __future__ import annotations

import datetime
from dataclasses import replace
from typing import Any

from td_output_linkedin.config import ApiSettings, AuthSettings, Settings
from td_output_linkedin.sink import Batch

API_BASE = "https://api.linkedin.invalid"
OAUTH_BASE = "https://www.linkedin.invalid"
TOKEN_URL = f"{OAUTH_BASE}/oauth/v2/accessToken"
SEGMENTS_URL = f"{API_BASE}/rest/dmpSegments"
ACCOUNT_ID = "507404993"
CLIENT_SECRET = "client-secret-0123456789"
REFRESH_TOKEN = "refresh-token-0123456789"
ACCESS_TOKEN = "access-token-first-0123456789"
TODAY = datetime.date(2026, 12, 4)


def make_settings(
    *,
    auth: AuthSettings | None = None,
    mode: str = "add",
    audience_type: str = "users",
    segment_name: str = "Newsletter subscribers",
    **api_overrides: Any,
) -> Settings:
    api_values: dict[str, Any] = {"base_url": API_BASE, "oauth_base_url": OAUTH_BASE, "version": "202611"}
    api = ApiSettings(**{**api_values, **api_overrides})
    auth = auth or AuthSettings(client_id="app-client-id", client_secret=CLIENT_SECRET, refresh_token=REFRESH_TOKEN)
    return Settings(
        ad_account_id=ACCOUNT_ID,
        segment_name=segment_name,
        audience_type=audience_type,
        mode=mode,
        segment_description="Rows of the nightly export",
        auth=auth,
        api=api,
    )


def token_answer(access_token: str = ACCESS_TOKEN, **extra: Any) -> dict[str, Any]:
    return {
        "access_token": access_token,
        "expires_in": 5184000,
        "refresh_token": REFRESH_TOKEN,
        "refresh_token_expires_in": 31536000,
        "scope": "r_ads,rw_dmp_segments",
        **extra,
    }


def segment(segment_id: int, name: str, type_: str = "USER", status: str = "READY") -> dict[str, Any]:
    return {
        "id": segment_id,
        "name": name,
        "type": type_,
        "account": f"urn:li:sponsoredAccount:{ACCOUNT_ID}",
        "destinations": [{"destination": "LINKEDIN", "status": status, "audienceSize": 0, "matchedCount": 0}],
    }


def finder_page(elements: list[dict[str, Any]], *, start: int = 0, total: int | None = None) -> dict[str, Any]:
    return {
        "paging": {"start": start, "count": len(elements), "total": len(elements) if total is None else total},
        "elements": elements,
    }


def user_batch(number: int, size: int, *, first_row: int = 1) -> Batch:
    rows = list(range(first_row, first_row + size))
    elements = [
        {"action": "ADD", "userIds": [{"idType": "SHA256_EMAIL", "idValue": f"{row:064x}"}]} for row in rows
    ]
    return Batch(number=number, rows=rows, elements=elements)


def statuses(*codes: int) -> dict[str, Any]:
    return {"elements": [{"status": code} for code in codes]}


def replace_api(settings: Settings, **changes: Any) -> Settings:
    return replace(settings, api=replace(settings.api, **changes))
