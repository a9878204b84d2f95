"""A job that names a stored connection takes its credentials and its OAuth server from the store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from td_output_linkedin.config import settings_from_mapping
from td_output_linkedin.connections import ENV_VAR, Connection, ConnectionStore
from td_output_linkedin.joblog import JobLog
from td_output_linkedin.plugin import _prepare_settings


def test_job_uses_connection_credentials_and_oauth_server(tmp_path, monkeypatch):
    store_path = tmp_path / "connections.json"
    monkeypatch.setenv(ENV_VAR, str(store_path))
    now = datetime.now(UTC)
    ConnectionStore(store_path).save(
        Connection(
            name="marketing",
            created_at=now,
            client_id="client-7",
            client_secret="secret-value-7",
            access_token="access-value-7",
            access_token_expires_at=now + timedelta(days=59),
            refresh_token="refresh-value-7",
            refresh_token_expires_at=now + timedelta(days=364),
            oauth_base_url="http://127.0.0.1:9",
        )
    )
    settings = settings_from_mapping({"ad_account_id": "1", "segment_name": "s", "connection": "marketing"})

    prepared, on_tokens = _prepare_settings(settings, JobLog(), require_auth=True)

    assert prepared.auth.client_id == "client-7"
    assert prepared.auth.client_secret == "secret-value-7"
    assert prepared.auth.refresh_token == "refresh-value-7"
    assert prepared.auth.access_token == "access-value-7"
    assert prepared.api.oauth_base_url == "http://127.0.0.1:9"
    assert prepared.api.base_url == "https://api.linkedin.com"
    assert callable(on_tokens)
