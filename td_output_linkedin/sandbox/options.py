"""Knobs of the sandbox and the credentials it issues."""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field

# Fault kinds in the order the injector draws them, so a seed always picks the same kind.
FAULT_KINDS = ("429", "429_no_retry_after", "500", "502", "503", "504", "drop", "slow")

# LinkedIn's token lifetimes: access tokens 60 days, refresh tokens 365 days from the first consent.
# https://learn.microsoft.com/en-us/linkedin/shared/authentication/programmatic-refresh-tokens
ACCESS_TOKEN_LIFETIME_SECONDS = 5_184_000
REFRESH_TOKEN_LIFETIME_SECONDS = 31_536_000

# Per member and per minute. Older versions of the page gave 500 and 200.
# https://learn.microsoft.com/en-us/linkedin/marketing/matched-audiences/create-and-manage-segment-users
USERS_REQUESTS_PER_MINUTE = 600
COMPANIES_REQUESTS_PER_MINUTE = 300

DEFAULT_SCOPES = ("rw_dmp_segments", "r_ads")


@dataclass
class SandboxOptions:
    """Sandbox behaviour settings. Every field has a command-line flag in ``sandbox.cli``."""

    port: int = 0
    latency_seconds: float = 0.0
    new_segment_not_found_seconds: float = 0.0
    users_requests_per_minute: int = USERS_REQUESTS_PER_MINUTE
    companies_requests_per_minute: int = COMPANIES_REQUESTS_PER_MINUTE
    faults: dict[str, float] = field(default_factory=dict)
    # Probability that one element of a batch gets its own HTTP 500 entry inside the 200 response,
    # and is not applied: a temporary failure of a single element.
    element_fault_rate: float = 0.0
    slow_seconds: float = 5.0
    retry_after_seconds: int = 1
    fault_paths: tuple[str, ...] = ("/users", "/companies")
    seed: int | None = None
    access_token_lifetime_requests: int | None = None
    access_token_lifetime_seconds: float = ACCESS_TOKEN_LIFETIME_SECONDS
    refresh_token_lifetime_seconds: float = REFRESH_TOKEN_LIFETIME_SECONDS
    viewer_accounts: tuple[str, ...] = ()
    segment_limit: int = 1000
    supported_versions: tuple[str, str] | None = None
    state_file: str | None = None
    store_members: bool = True

    def __post_init__(self) -> None:
        unknown = sorted(set(self.faults) - set(FAULT_KINDS))
        if unknown:
            raise ValueError(f"unknown fault kind {', '.join(unknown)}; known kinds: {', '.join(FAULT_KINDS)}")
        for kind, probability in self.faults.items():
            if not 0.0 <= probability <= 1.0:
                raise ValueError(f"fault {kind}: probability {probability} is outside 0..1")
        if sum(self.faults.values()) > 1.0 + 1e-9:
            raise ValueError("fault probabilities add up to more than 1")
        if not 0.0 <= self.element_fault_rate <= 1.0:
            raise ValueError(f"element fault rate {self.element_fault_rate} is outside 0..1")
        if self.supported_versions is not None:
            oldest, newest = self.supported_versions
            if not (is_version(oldest) and is_version(newest)) or oldest > newest:
                raise ValueError(f"supported versions {oldest}:{newest} must be YYYYMM:YYYYMM, oldest first")
        self.viewer_accounts = tuple(str(account) for account in self.viewer_accounts)

    def version_window(self, today: datetime.date | None = None) -> tuple[str, str]:
        """Return the (oldest, newest) ``LinkedIn-Version`` served.

        LinkedIn keeps each monthly version for about one year, so the default is the 12 months up to
        the current month (UTC). https://learn.microsoft.com/en-us/linkedin/marketing/versioning
        """
        if self.supported_versions is not None:
            return self.supported_versions
        today = today or datetime.datetime.now(datetime.timezone.utc).date()
        months = today.year * 12 + today.month - 1 - 11
        return f"{months // 12:04d}{months % 12 + 1:02d}", f"{today.year:04d}{today.month:02d}"


@dataclass(frozen=True)
class SandboxCredentials:
    """An app and a member who consented to it; every token is valid when issued."""

    client_id: str
    client_secret: str = field(repr=False)
    refresh_token: str = field(repr=False)
    access_token: str = field(repr=False)
    member: str = "urn:li:person:sandboxMember"
    scopes: tuple[str, ...] = DEFAULT_SCOPES


def is_version(value: str) -> bool:
    """Check the ``YYYYMM`` form with a real month."""
    return len(value) == 6 and value.isascii() and value.isdigit() and 1 <= int(value[4:]) <= 12
