"""The job log: every line a person reads, with secrets redacted in one place.

Lines go through a standard ``logging.Logger`` (``td_output_linkedin`` unless the host passes its
own). ``JobLog`` formats each message itself and redacts every registered secret before the record
reaches any handler, so a host's own handlers never see a token either.
"""

from __future__ import annotations

import logging
import re
import sys
import threading
from collections.abc import Iterable
from typing import Any

LOGGER_NAME = "td_output_linkedin"
REDACTED = "[REDACTED]"
# Secrets shorter than this are not redacted: replacing every "a" or "1" in a log line would
# garble it and such values are not real credentials.
MIN_SECRET_LENGTH = 6
DEFAULT_MAX_REJECTION_LINES = 1000
# Header names shown in messages: lower-case identifiers, as SQL engines name result columns.
# A file without a header row puts its first row's values (names, addresses) where the header
# should be, and those are personal data, so other names are only counted.
# NOTE: a lower-case single-word value such as "alice" still passes; only the shape is checked.
_COLUMN_NAME_SHAPE = re.compile(r"[a-z_][a-z0-9_]{0,63}")


def column_names_for_display(names: Iterable[str]) -> str:
    """Lists header names that look like column names, and counts the others without showing them."""
    shown = []
    hidden = 0
    for name in names:
        text = str(name).strip()
        if _COLUMN_NAME_SHAPE.fullmatch(text):
            shown.append(text)
        else:
            hidden += 1
    if not hidden:
        return ", ".join(shown) if shown else "(none)"
    withheld = (
        f"{hidden} {'name' if hidden == 1 else 'names'} not shown because they are not lower-case "
        "identifiers and may be values (personal data) from a file without a header row"
    )
    return f"{', '.join(shown)} and {withheld}" if shown else withheld


class Redactor:
    """Replaces every registered secret in a text, longest first.

    Longest first matters when one secret contains another: replacing the shorter one first would
    leave the rest of the longer one in the line.
    """

    def __init__(self, secrets: Iterable[str | None] = ()):
        self._lock = threading.Lock()
        self._secrets: list[str] = []
        for secret in secrets:
            self.add(secret)

    def add(self, secret: str | None) -> None:
        if not secret or len(secret) < MIN_SECRET_LENGTH:
            return
        with self._lock:
            if secret not in self._secrets:
                self._secrets = sorted([*self._secrets, secret], key=len, reverse=True)

    def redact(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
        return text


class RedactingFilter(logging.Filter):
    """Redacts records from any logger (urllib3, a host's own) before a handler writes them."""

    def __init__(self, redactor: Redactor):
        super().__init__()
        self.redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = self.redactor.redact(message)
        if redacted != message or record.args:
            record.msg = redacted
            record.args = None
        return True


class JobLog:
    """Writes the job's lines: start, segment, progress, rejections, retries and the summary."""

    def __init__(
        self,
        logger: logging.Logger | None = None,
        *,
        secrets: Iterable[str | None] = (),
        redactor: Redactor | None = None,
        max_rejection_lines: int = DEFAULT_MAX_REJECTION_LINES,
    ):
        self.logger = logger or logging.getLogger(LOGGER_NAME)
        self.redactor = redactor or Redactor()
        for secret in secrets:
            self.redactor.add(secret)
        self.max_rejection_lines = max_rejection_lines
        self._rejection_lines = 0
        self._rejections_not_logged = 0

    def add_secret(self, secret: str | None) -> None:
        """Registers a value (token, secret) that must never appear in a line."""
        self.redactor.add(secret)

    def log(self, level: int, message: str, *args: Any) -> None:
        if not self.logger.isEnabledFor(level):
            return
        text = message % args if args else message
        self.logger.log(level, self.redactor.redact(text))

    def debug(self, message: str, *args: Any) -> None:
        self.log(logging.DEBUG, message, *args)

    def info(self, message: str, *args: Any) -> None:
        self.log(logging.INFO, message, *args)

    def warning(self, message: str, *args: Any) -> None:
        self.log(logging.WARNING, message, *args)

    def error(self, message: str, *args: Any) -> None:
        self.log(logging.ERROR, message, *args)

    def rejection(self, row: int, column: str | None, reason: str, *, source: str = "invalid record") -> None:
        """Logs one rejected row by number, column and reason, never its value.

        After ``max_rejection_lines`` lines the rest are only counted, and ``finish_rejections``
        logs how many were left out.
        """
        if self._rejection_lines >= self.max_rejection_lines:
            self._rejections_not_logged += 1
            return
        self._rejection_lines += 1
        where = f"row {row}" if column is None else f"row {row}, column {column}"
        self.warning("%s: %s: %s", source, where, reason)

    def finish_rejections(self) -> None:
        if self._rejections_not_logged:
            self.warning(
                "%d more rejected rows were not logged one by one; the report lists the first %d",
                self._rejections_not_logged,
                self.max_rejection_lines,
            )
            self._rejections_not_logged = 0


def configure_stderr(level: int = logging.INFO, redactor: Redactor | None = None) -> logging.Handler:
    """Sends the plugin's log to stderr as plain lines, with a redacting filter on the handler."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%Y-%m-%dT%H:%M:%S%z"))
    if redactor is not None:
        handler.addFilter(RedactingFilter(redactor))
    root = logging.getLogger(LOGGER_NAME)
    root.setLevel(level)
    root.addHandler(handler)
    root.propagate = False
    return handler
