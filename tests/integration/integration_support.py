"""Settings for a job against a sandbox started in the test, with LinkedIn's pacing turned off."""

from __future__ import annotations

from typing import Any

from td_output_linkedin.sandbox import Sandbox


def sandbox_job_settings(sandbox: Sandbox, **settings: Any) -> dict[str, Any]:
    """Return job settings with the sandbox's credentials and URLs; ``settings`` adds top-level keys."""
    credentials = sandbox.authorize()
    return {
        "ad_account_id": "5001",
        **settings,
        "auth": {
            "client_id": credentials.client_id,
            "client_secret": credentials.client_secret,
            "refresh_token": credentials.refresh_token,
        },
        "api": {
            "base_url": sandbox.base_url,
            "oauth_base_url": sandbox.base_url,
            "new_segment_wait_seconds": 0,
            "users_requests_per_minute": 100_000,
            "max_attempts": 10,
        },
    }
