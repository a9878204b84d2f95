"""Requests and responses as the sandbox's endpoints see them, and LinkedIn's two error shapes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

import orjson

JSON = "application/json"


@dataclass
class Request:
    method: str
    path: str
    raw_query: str
    headers: dict[str, str]  # names in lower case
    body: bytes = b""

    def query(self) -> dict[str, list[str]]:
        return parse_qs(self.raw_query, keep_blank_values=True)

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    def media_type(self) -> str:
        """Return the Content-Type without parameters such as ``charset``."""
        return (self.header("content-type") or "").split(";", 1)[0].strip().lower()


@dataclass
class Response:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


def json_response(status: int, document: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(status, orjson.dumps(document), {"Content-Type": JSON, **(headers or {})})


class ApiError(Exception):
    """An API error in LinkedIn's shape: ``{"status", "serviceErrorCode", "code", "message"}``.

    https://learn.microsoft.com/en-us/linkedin/shared/api-guide/concepts/error-handling
    NOTE: LinkedIn publishes few ``serviceErrorCode`` values (65600, 65601, 100). Where none is known,
    the sandbox repeats the HTTP status, as LinkedIn's own sample for an empty token does.
    """

    def __init__(
        self,
        status: int,
        message: str,
        code: str | None = None,
        service_error_code: int | None = None,
        headers: dict[str, str] | None = None,
    ):
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.service_error_code = service_error_code or status
        self.headers = headers or {}

    def response(self) -> Response:
        document: dict[str, Any] = {"status": self.status, "serviceErrorCode": self.service_error_code}
        if self.code is not None:
            document["code"] = self.code
        document["message"] = self.message
        return json_response(self.status, document, self.headers)


class OAuthError(Exception):
    """An OAuth 2.0 token endpoint error: ``{"error", "error_description"}`` (RFC 6749, section 5.2)."""

    def __init__(self, status: int, error: str, description: str):
        super().__init__(description)
        self.status = status
        self.error = error
        self.description = description

    def response(self) -> Response:
        document = {"error": self.error, "error_description": self.description}
        return json_response(self.status, document, {"Cache-Control": "no-store"})
