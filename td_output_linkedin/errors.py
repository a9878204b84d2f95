"""Exceptions raised by the plugin.

Every error the plugin raises on purpose derives from ``PluginError``. The tree follows the phase
of the job that failed, and ``exit_code`` is the command line's exit status::

    PluginError
    ├── ConfigError                 settings invalid or unreadable (exit 2)
    ├── UsageError                  command-line arguments that cannot work together (exit 2)
    ├── InputError                  input file unreadable or malformed at a row (exit 1)
    │   └── MissingColumnsError     no identifying column in the header (exit 1)
    ├── InvalidRecordsError         stop mode found invalid rows, or LinkedIn rejected elements (exit 1)
    ├── JobInterrupted              SIGINT or SIGTERM during the job (exit 130 or 143)
    └── LinkedInError               LinkedIn refused a call or could not be reached (exit 1)
        ├── AuthenticationError     token could not be obtained or was refused twice
        │   └── ReauthorizationRequired   refresh token expired or revoked (``invalid_grant``)
        ├── AccessDeniedError       403: scope missing or the member's role on the ad account too low
        ├── VersionRetiredError     426: the configured ``LinkedIn-Version`` is not served any more
        ├── SegmentError            segment missing in remove mode, ambiguous, of the other type, or
        │                           the account's segment limit reached
        └── DeliveryError           a request still failed after the last retry (``transient`` is True
                                    for 429, 5xx and network errors)

Messages never contain a row's values, an access token, a refresh token or a client secret: they name
the row number, the column, the setting or the LinkedIn ids instead.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from .joblog import column_names_for_display

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2

# Hex digests, UUIDs and numbers: values that are never column names.
_DATA_LIKE = re.compile(r"[0-9a-fA-F]{32,}|[0-9a-fA-F]{8}-?(?:[0-9a-fA-F]{4}-?){3}[0-9a-fA-F]{12}|[+\d][\d .()-]*")


class PluginError(Exception):
    """Root of the plugin's exceptions."""

    exit_code = EXIT_FAILED


class ConfigError(PluginError):
    """Invalid settings. ``problems`` lists each one as ``"key.path: what is wrong and what to do"``."""

    exit_code = EXIT_USAGE

    def __init__(self, problems: str | Sequence[str]):
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        if len(self.problems) == 1:
            text = f"invalid configuration: {self.problems[0]}"
        else:
            listed = "\n".join(f"  - {problem}" for problem in self.problems)
            text = f"invalid configuration ({len(self.problems)} problems):\n{listed}"
        super().__init__(text)


class UsageError(PluginError):
    """Command-line arguments that cannot work, such as stdin without ``--format``."""

    exit_code = EXIT_USAGE


class InputError(PluginError):
    """Unreadable input. ``row`` is the 1-based data row number when the fault is inside a row."""

    def __init__(self, message: str, *, row: int | None = None):
        self.row = row
        super().__init__(message if row is None else f"row {row}: {message}")


class MissingColumnsError(InputError):
    """The header has no column that can identify a member."""

    def __init__(self, found: Sequence[str], accepted: Sequence[str], audience_type: str):
        self.found = list(found)
        self.accepted = list(accepted)
        self.audience_type = audience_type
        if any(_looks_like_data(name) for name in self.found):
            # A file without a header row: its first row contains personal data, not column names.
            message = (
                f"no header row: the first row contains {len(self.found)} values, not column names (not shown, "
                "since they may be personal data); add a header row naming at least one of "
                f"{', '.join(self.accepted)}, or list the columns in the columns setting"
            )
        else:
            found_text = column_names_for_display(self.found)
            message = (
                f"no identifying column for audience type {audience_type!r}: found columns {found_text}; "
                f"include at least one of {', '.join(self.accepted)}"
            )
        # A header read as one column that contains another delimiter means the file was written
        # with that delimiter, as spreadsheet programs do in some locales.
        for delimiter, name in ((";", "semicolons"), ("\t", "tabs"), ("|", "vertical bars")):
            if len(self.found) == 1 and delimiter in self.found[0]:
                message += f". The header looks separated by {name}: export the file with commas"
                if delimiter == "\t":
                    message += ", or pass --format tsv"
                break
        super().__init__(message)


def _looks_like_data(name: str) -> bool:
    """True for a header cell that is a value: an email address, a digest, an id or a number."""
    text = name.strip()
    return "@" in text or bool(_DATA_LIKE.fullmatch(text))


class InvalidRecordsError(PluginError):
    """Invalid rows stopped the job. ``rejections`` contains ``(row, column, reason)`` entries."""

    def __init__(self, message: str, rejections: Sequence[Any] = ()):
        self.rejections = list(rejections)
        super().__init__(message)


class JobInterrupted(PluginError):
    """The job received SIGINT or SIGTERM and stopped sending."""

    def __init__(self, signal_name: str, exit_code: int):
        self.signal_name = signal_name
        self.exit_code = exit_code
        super().__init__(f"interrupted by {signal_name}; stopped sending")


class LinkedInError(PluginError):
    """LinkedIn refused a call. Carries the HTTP status and LinkedIn's error ``code`` when known."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        service_error_code: int | None = None,
    ):
        self.status = status
        self.code = code
        self.service_error_code = service_error_code
        super().__init__(message)


class AuthenticationError(LinkedInError):
    """No usable access token: the token endpoint failed, or the API refused a fresh token."""


class ReauthorizationRequired(AuthenticationError):
    """The refresh token is expired or revoked; the member must consent again."""


class AccessDeniedError(LinkedInError):
    """HTTP 403 on the ad account or the segment."""


class VersionRetiredError(LinkedInError):
    """HTTP 426 ``NONEXISTENT_VERSION``: the configured API version is not served."""


class SegmentError(LinkedInError):
    """The segment cannot be used: missing in remove mode, ambiguous, wrong type, or over the limit."""


class DeliveryError(LinkedInError):
    """A request failed after its last attempt. ``transient`` is True when a later retry could succeed."""

    def __init__(self, message: str, *, transient: bool, **kwargs: Any):
        self.transient = transient
        super().__init__(message, **kwargs)
