"""Settings: load a YAML or JSON config, replace ``${env:NAME}``, validate against the schema.

The JSON Schema in ``schemas/config.schema.json`` is the single definition of valid settings;
this module turns a validated mapping into frozen ``Settings``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

DEFAULT_API_BASE_URL = "https://api.linkedin.com"
DEFAULT_OAUTH_BASE_URL = "https://www.linkedin.com"
DEFAULT_API_VERSION = "202611"
MAX_BATCH_SIZE = 5000


@dataclass(frozen=True)
class AuthSettings:
    """Credentials. Either ``access_token``, or ``client_id`` + ``client_secret`` + ``refresh_token``,
    or the name of a stored ``connection``. Secrets are left out of ``repr``."""

    client_id: str | None = None
    client_secret: str | None = field(default=None, repr=False)
    refresh_token: str | None = field(default=None, repr=False)
    access_token: str | None = field(default=None, repr=False)
    connection: str | None = None


@dataclass(frozen=True)
class ApiSettings:
    """Where and how the LinkedIn API is called."""

    base_url: str = DEFAULT_API_BASE_URL
    oauth_base_url: str = DEFAULT_OAUTH_BASE_URL
    version: str = DEFAULT_API_VERSION
    source_platform: str = "TREASURE_DATA"
    timeout_seconds: float = 60.0
    max_in_flight: int = 4
    users_requests_per_minute: int = 600
    companies_requests_per_minute: int = 300
    max_attempts: int = 8
    max_retry_wait_seconds: float = 600.0
    new_segment_wait_seconds: float = 5.0
    new_segment_not_found_timeout_seconds: float = 120.0


@dataclass(frozen=True)
class Settings:
    """One job's validated settings."""

    ad_account_id: str
    segment_name: str
    audience_type: str = "users"
    mode: str = "add"
    segment_description: str | None = None
    ignore_invalid_records: bool = False
    batch_size: int = MAX_BATCH_SIZE
    columns: tuple[str, ...] | None = None
    auth: AuthSettings = field(default_factory=AuthSettings)
    api: ApiSettings = field(default_factory=ApiSettings)

    @property
    def account_urn(self) -> str:
        return f"urn:li:sponsoredAccount:{self.ad_account_id}"

    @property
    def segment_type(self) -> str:
        """LinkedIn's segment ``type``: ``USER`` for contact lists, ``COMPANY`` for account lists."""
        return "USER" if self.audience_type == "users" else "COMPANY"

    @property
    def action(self) -> str:
        """LinkedIn's element ``action``: ``ADD`` or ``REMOVE``."""
        return self.mode.upper()
