"""Find the job's DMP segment by exact name and type, or create it.

Finder, create and status fields:
https://learn.microsoft.com/en-us/linkedin/marketing/matched-audiences/create-and-manage-segments
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

import orjson

from td_output_linkedin.config import Settings
from td_output_linkedin.errors import LinkedInError, SegmentError
from td_output_linkedin.joblog import JobLog
from td_output_linkedin.linkedin.client import ApiClient, ApiRequest, NotFoundError, json_body
from td_output_linkedin.linkedin.retry import TransientError
from td_output_linkedin.sink import Segment

SEGMENTS_PATH = "/rest/dmpSegments"
# NOTE: LinkedIn does not publish a maximum page size for the dmpSegments finder; 100 is a guess
# that Rest.li finders commonly accept. The loop pages by the number of elements each response
# contains, so a server that returns fewer per page is still read to the end.
FINDER_PAGE_SIZE = 100
UNUSABLE_STATUSES = frozenset({"EXPIRED", "FAILED", "ERROR"})
# A segment LinkedIn has just created starts in this destination status.
NEW_SEGMENT_STATUS = "BUILDING"
AUDIENCE_TYPE_FOR_SEGMENT_TYPE = {"USER": "users", "COMPANY": "companies"}


@dataclass
class SegmentSearch:
    """The segments of one ad account that carry the job's segment name."""

    matches: list[dict[str, Any]] = field(default_factory=list)
    other_types: list[dict[str, Any]] = field(default_factory=list)
    segments_seen: int = 0


def find_segments(client: ApiClient, settings: Settings, halt: threading.Event | None = None) -> SegmentSearch:
    """Page through every segment of the ad account and keep those named exactly ``segment_name``."""
    search = SegmentSearch()
    description = f"segment finder on ad account {settings.ad_account_id}"
    start = 0
    while True:
        request = ApiRequest(
            "GET",
            SEGMENTS_PATH,
            description,
            query=(
                ("q", "account"),
                ("account", settings.account_urn),
                ("start", str(start)),
                ("count", str(FINDER_PAGE_SIZE)),
            ),
        )
        try:
            reply = client.send(request, halt=halt)
        except NotFoundError as error:
            raise SegmentError(
                f"ad account {settings.ad_account_id} was not found (HTTP 404 from the segment finder); check "
                "ad_account_id: it is the number in urn:li:sponsoredAccount:N, shown in Campaign Manager",
                status=error.status,
                code=error.code,
            ) from None
        elements, total = _finder_page(json_body(reply.response, description), description)

        for segment in elements:
            if segment.get("name") != settings.segment_name:
                continue
            if segment.get("type") == settings.segment_type:
                search.matches.append(segment)
            else:
                search.other_types.append(segment)
        search.segments_seen += len(elements)
        start += len(elements)

        if not elements:
            return search
        if total is not None and start >= total:
            return search
        if total is None and len(elements) < FINDER_PAGE_SIZE:
            return search


def resolve_segment(
    client: ApiClient, settings: Settings, log: JobLog, *, create: bool, halt: threading.Event | None = None
) -> Segment:
    """Return the job's segment, creating it when it is missing and ``create`` is True.

    Raises ``SegmentError`` when two segments of the name and type exist, when only a segment of
    the other type carries the name, or when the segment is missing and ``create`` is False.
    """
    search = find_segments(client, settings, halt)
    found = pick_segment(search, settings)
    if found is not None:
        return _log_found(found, settings, log)
    if not create:
        raise SegmentError(missing_segment_message(settings, search))

    segment_id = _create_segment(client, settings, halt)
    log.info(
        "created segment %r in ad account %s: id %s, type %s; LinkedIn matches members while it is %s, "
        "which can take up to 48 hours",
        settings.segment_name,
        settings.ad_account_id,
        segment_id,
        settings.segment_type,
        NEW_SEGMENT_STATUS,
    )
    return Segment(
        id=segment_id,
        name=settings.segment_name,
        type=settings.segment_type,
        status=NEW_SEGMENT_STATUS,
        created=True,
    )


def pick_segment(search: SegmentSearch, settings: Settings) -> dict[str, Any] | None:
    """Return the one segment of the job's name and type, None when there is none, or raise ``SegmentError``."""
    if len(search.matches) > 1:
        ids = ", ".join(str(segment.get("id")) for segment in search.matches)
        raise SegmentError(
            f"ad account {settings.ad_account_id} contains {len(search.matches)} segments named "
            f"{settings.segment_name!r} of type {settings.segment_type} (ids {ids}); delete or rename all but "
            "one of them in Campaign Manager, or choose another segment_name"
        )
    if search.matches:
        return search.matches[0]
    if search.other_types:
        other = search.other_types[0]
        other_type = str(other.get("type"))
        hint = ""
        if other_type in AUDIENCE_TYPE_FOR_SEGMENT_TYPE:
            hint = f" or set audience_type to {AUDIENCE_TYPE_FOR_SEGMENT_TYPE[other_type]}"
        raise SegmentError(
            f"ad account {settings.ad_account_id} contains a segment named {settings.segment_name!r} of type "
            f"{other_type} (id {other.get('id')}), but this job writes {settings.segment_type} segments "
            f"(audience_type {settings.audience_type}); choose another segment_name{hint}"
        )
    return None


def missing_segment_message(settings: Settings, search: SegmentSearch) -> str:
    return (
        f"segment {settings.segment_name!r} of type {settings.segment_type} not found in ad account "
        f"{settings.ad_account_id} ({search.segments_seen} segments checked); remove mode needs an existing "
        "segment: check segment_name and audience_type"
    )


def destination_status(segment: dict[str, Any]) -> str | None:
    """Return the ``status`` of the segment's ``LINKEDIN`` destination, if LinkedIn sent one."""
    destinations = segment.get("destinations")
    if not isinstance(destinations, list):
        return None
    for destination in destinations:
        if isinstance(destination, dict) and destination.get("destination") == "LINKEDIN":
            status = destination.get("status")
            return status if isinstance(status, str) else None
    return None


def _log_found(found: dict[str, Any], settings: Settings, log: JobLog) -> Segment:
    segment_id = str(found.get("id"))
    status = destination_status(found)
    log.info(
        "found segment %r in ad account %s: id %s, type %s, status %s",
        settings.segment_name,
        settings.ad_account_id,
        segment_id,
        settings.segment_type,
        status or "unknown",
    )
    if status in UNUSABLE_STATUSES:
        log.warning(
            "segment %s has status %s, so LinkedIn does not use it in campaigns; the upload goes on, but "
            "check the segment in Campaign Manager",
            segment_id,
            status,
        )
    return Segment(id=segment_id, name=settings.segment_name, type=settings.segment_type, status=status)


def _create_segment(client: ApiClient, settings: Settings, halt: threading.Event | None) -> str:
    """Create the segment and return its id.

    A create that failed with a 5xx or a timeout may still have created the segment, so before
    each repeated create the finder looks for it again.
    """
    body: dict[str, Any] = {
        "name": settings.segment_name,
        "type": settings.segment_type,
        "account": settings.account_urn,
        # NOTE: LinkedIn assigns each approved partner app its own sourcePlatform enum value and
        # does not publish the list. The default TREASURE_DATA is an unconfirmed guess, so a real
        # job sets api.source_platform to the value LinkedIn gave the app.
        "sourcePlatform": settings.api.source_platform,
        "destinations": [{"destination": "LINKEDIN"}],
    }
    if settings.segment_description:
        body["description"] = settings.segment_description
    description = f"creating segment {settings.segment_name!r} in ad account {settings.ad_account_id}"
    request = ApiRequest("POST", SEGMENTS_PATH, description, body=orjson.dumps(body), retry=False)
    first_attempt = True

    def attempt() -> str:
        nonlocal first_attempt
        if not first_attempt:
            found = pick_segment(find_segments(client, settings, halt), settings)
            if found is not None:
                return str(found.get("id"))
        first_attempt = False
        response = client.send(request, halt=halt).response
        return _created_id(response.headers, description)

    segment_id: str = client.run_with_retries(attempt, description, halt)
    return segment_id


def _created_id(headers: Any, description: str) -> str:
    # LinkedIn returns the new id in x-restli-id, but some older responses carry only x-linkedin-id.
    raw = headers.get("x-restli-id") or headers.get("x-linkedin-id")
    segment_id = raw.rsplit(":", 1)[-1].strip() if raw else ""
    if not segment_id.isdigit():
        raise LinkedInError(
            f"{description}: LinkedIn returned 201 without a segment id in x-restli-id or x-linkedin-id; "
            "look the segment up in Campaign Manager before running the job again"
        )
    return segment_id


def _finder_page(body: Any, description: str) -> tuple[list[dict[str, Any]], int | None]:
    elements = body.get("elements") if isinstance(body, dict) else None
    if not isinstance(elements, list) or not all(isinstance(element, dict) for element in elements):
        raise LinkedInError(f"{description}: LinkedIn's response has no list of segments in 'elements'")
    paging = body.get("paging")
    total = paging.get("total") if isinstance(paging, dict) else None
    return elements, total if isinstance(total, int) and not isinstance(total, bool) else None
