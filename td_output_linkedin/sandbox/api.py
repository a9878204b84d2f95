"""The ``/rest/dmpSegments`` endpoints: find by account, create, get, delete, and member batches.

https://learn.microsoft.com/en-us/linkedin/marketing/matched-audiences/create-and-manage-segments
"""

from __future__ import annotations

import random
import re
import threading
from typing import Callable

import orjson

from td_output_linkedin.sandbox.options import SandboxOptions
from td_output_linkedin.sandbox.state import AccessToken, SandboxState, Segment
from td_output_linkedin.sandbox.validation import (
    Accepted,
    account_id_of,
    check_batch,
    check_company,
    check_segment,
    check_user,
)
from td_output_linkedin.sandbox.wire import JSON, ApiError, Request, Response, json_response

# Start and count default to 0 and 10. https://learn.microsoft.com/en-us/linkedin/shared/api-guide/concepts/pagination
DEFAULT_PAGE_SIZE = 10
# NOTE: LinkedIn publishes no maximum page size for this finder, so larger counts are cut to 100.
# paging.count then reports the count served, and a client must advance by what it received.
MAX_PAGE_SIZE = 100
# NOTE: no LinkedIn page states a per-request element limit; 5,000 is the figure every partner uses.
MAX_ELEMENTS = 5000
SEGMENTS_SCOPE = "rw_dmp_segments"

SEGMENT_PATH = re.compile(r"/rest/dmpSegments(?:/([^/]+)(?:/(users|companies))?)?/?")
MEMBER_CHECKS: dict[str, Callable[[object], Accepted | str]] = {"users": check_user, "companies": check_company}
SEGMENT_TYPE_OF_MEMBERS = {"users": "USER", "companies": "COMPANY"}

Handler = Callable[[Request, AccessToken, dict[str, str]], Response]


class SegmentsApi:
    def __init__(self, state: SandboxState, options: SandboxOptions):
        self._state = state
        self._options = options
        self._element_faults = random.Random(options.seed)
        self._element_faults_lock = threading.Lock()

    def route(self, method: str, path: str) -> tuple[str, Handler | None, dict[str, str]]:
        """Return the endpoint's name for request counts, its handler (None for a wrong method) and path values."""
        match = SEGMENT_PATH.fullmatch(path)
        if match is None:
            raise ApiError(404, f"No resource found at {path[:100]}", "NOT_FOUND")
        segment_id, members = match.groups()
        if segment_id is None:
            handlers = {"GET": self.find, "POST": self.create}
            template = "/rest/dmpSegments"
        elif members is None:
            handlers = {"GET": self.get, "DELETE": self.delete}
            template = "/rest/dmpSegments/{id}"
        else:
            handlers = {"POST": self.write_members}
            template = f"/rest/dmpSegments/{{id}}/{members}"
        values = {"segment_id": segment_id or "", "members": members or ""}
        return f"{method} {template}", handlers.get(method), values

    # --- finder

    def find(self, request: Request, token: AccessToken, values: dict[str, str]) -> Response:
        # Rest.li 2.0.0 needs a URN in a query string URL-encoded (urn%3Ali%3A...), so a raw ':' is an error.
        for pair in request.raw_query.split("&"):
            if pair.startswith("account=") and ":" in pair:
                raise ApiError(400, "account must be URL-encoded: urn%3Ali%3AsponsoredAccount%3A{id}", "INVALID_PARAM")
        query = request.query()
        if query.get("q") != ["account"]:
            raise ApiError(400, "q must be account for this finder", "INVALID_PARAM")
        account_values = query.get("account", [])
        account_id = account_id_of(account_values[0]) if len(account_values) == 1 else None
        if account_id is None:
            raise ApiError(400, "account must be one urn:li:sponsoredAccount:{id}", "INVALID_PARAM")
        start = _non_negative(query, "start", 0)
        count = min(_non_negative(query, "count", DEFAULT_PAGE_SIZE), MAX_PAGE_SIZE)
        platforms = query.get("sourcePlatform")

        with self._state.lock:
            segments = sorted(self._state.segments_of(account_id), key=lambda segment: segment.id)
            if platforms:
                segments = [segment for segment in segments if segment.source_platform == platforms[0]]
            page = [segment.resource(self._state.store_members) for segment in segments[start : start + count]]
        paging = {"start": start, "count": count, "total": len(segments), "links": []}
        return json_response(200, {"paging": paging, "elements": page})

    # --- create, get, delete

    def create(self, request: Request, token: AccessToken, values: dict[str, str]) -> Response:
        _require_method_header(request, "CREATE", optional=True)
        body = _json_body(request)
        checked = check_segment(body)
        if isinstance(checked, str):
            raise ApiError(400, checked, "INVALID_VALUE")
        account_id = account_id_of(checked["account"]) or ""
        self._require_write_role(account_id)

        with self._state.lock:
            if len(self._state.segments_of(account_id)) >= self._options.segment_limit:
                # From August 2026 LinkedIn caps an ad account at 1,000 segments; this 429 is not a throttle.
                message = f"ad account {account_id} already contains {self._options.segment_limit} segments, the maximum"
                raise ApiError(429, message, "SEGMENT_LIMIT_EXCEEDED")
            segment = self._state.create_segment(
                checked, account_id, self._options.new_segment_not_found_seconds
            )
        headers = {"x-restli-id": str(segment.id), "Location": f"/rest/dmpSegments/{segment.id}"}
        return Response(201, b"", headers)

    def get(self, request: Request, token: AccessToken, values: dict[str, str]) -> Response:
        segment = self._segment(values["segment_id"])
        return json_response(200, segment.resource(self._state.store_members))

    def delete(self, request: Request, token: AccessToken, values: dict[str, str]) -> Response:
        segment = self._segment(values["segment_id"])
        self._require_write_role(segment.account_id)
        with self._state.lock:
            self._state.segments.pop(segment.id, None)
        return Response(204)

    # --- members

    def write_members(self, request: Request, token: AccessToken, values: dict[str, str]) -> Response:
        _require_method_header(request, "BATCH_CREATE")
        _require_json(request)
        members = values["members"]
        segment = self._segment(values["segment_id"])
        self._require_write_role(segment.account_id)
        if segment.type != SEGMENT_TYPE_OF_MEMBERS[members]:
            message = f"segment {segment.id} is of type {segment.type}; /{members} takes {SEGMENT_TYPE_OF_MEMBERS[members]} segments"
            raise ApiError(400, message, "INVALID_VALUE")
        elements = check_batch(_json_body(request), MAX_ELEMENTS)
        if isinstance(elements, str):
            raise ApiError(400, elements, "INVALID_VALUE")

        check = MEMBER_CHECKS[members]
        may_fault = self._options.element_fault_rate > 0
        statuses: list[dict[str, object]] = [CREATED] * len(elements)
        accepted: list[Accepted] = []
        for index, element in enumerate(elements):
            result = check(element)
            if isinstance(result, str):
                error = {"status": 400, "code": "INVALID_VALUE", "message": f"elements[{index}]: {result}"}
                statuses[index] = {"status": 400, "error": error}
            elif may_fault and self._element_fault():
                error = {"status": 500, "code": "INTERNAL_SERVER_ERROR", "message": f"elements[{index}]: try again"}
                statuses[index] = {"status": 500, "error": error}
            else:
                accepted.append(result)
        self._state.apply(segment, accepted)
        return json_response(200, {"elements": statuses})

    # --- helpers

    def _element_fault(self) -> bool:
        with self._element_faults_lock:
            return self._element_faults.random() < self._options.element_fault_rate

    def _segment(self, raw_id: str) -> Segment:
        if not raw_id.isascii() or not raw_id.isdigit():
            raise ApiError(400, "the segment id must be a number", "INVALID_PARAM")
        segment = self._state.segments.get(int(raw_id))
        # A new segment is not found for a while. LinkedIn's docs require a 5-second wait before writing,
        # and partners saw 404 for one to two minutes.
        if segment is None or segment.available_at > self._state.clock():
            raise ApiError(404, f"dmpSegment {raw_id} not found", "NOT_FOUND")
        return segment

    def _require_write_role(self, account_id: str) -> None:
        # Managing audiences needs a role other than VIEWER on the segment's ad account.
        # https://learn.microsoft.com/en-us/linkedin/marketing/matched-audiences/create-and-manage-segment-users
        if account_id in self._options.viewer_accounts:
            message = (
                f"Not enough permissions: the member is VIEWER on ad account {account_id}; "
                "writing segments needs ACCOUNT_MANAGER, CAMPAIGN_MANAGER or CREATIVE_MANAGER"
            )
            raise ApiError(403, message, "ACCESS_DENIED", 100)


CREATED = {"status": 201}


def require_scope(token: AccessToken) -> None:
    if SEGMENTS_SCOPE not in token.scopes:
        raise ApiError(403, f"Not enough permissions to access dmpSegments: the token lacks {SEGMENTS_SCOPE}", "ACCESS_DENIED", 100)


def _require_method_header(request: Request, method: str, optional: bool = False) -> None:
    value = request.header("x-restli-method")
    if value is None and optional:
        return
    if value is None or value.upper() != method:
        raise ApiError(400, f"this call needs the header X-RestLi-Method: {method}", "INVALID_REQUEST")


def _require_json(request: Request) -> None:
    if request.media_type() != JSON:
        raise ApiError(415, f"Content-Type must be {JSON}", "UNSUPPORTED_MEDIA_TYPE")


def _json_body(request: Request) -> object:
    _require_json(request)
    try:
        return orjson.loads(request.body)
    except orjson.JSONDecodeError:
        raise ApiError(400, "the body is not valid JSON", "INVALID_REQUEST") from None


def _non_negative(query: dict[str, list[str]], name: str, default: int) -> int:
    values = query.get(name)
    if not values:
        return default
    if len(values) != 1 or not values[0].isascii() or not values[0].isdigit():
        raise ApiError(400, f"{name} must be a non-negative integer", "INVALID_PARAM")
    return int(values[0])
