"""A sink that sends nothing: it counts batches and can write each request body to a file."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from typing import BinaryIO

import orjson

from .sink import Batch, BatchResult, Segment

# The segment id is unknown without calling LinkedIn; payload paths carry this placeholder.
DRY_RUN_SEGMENT_ID = "DRY_RUN"


class DryRunSink:
    """Accepts every element and, when ``payload_out`` is given, writes one JSON line per request:
    ``{"method": "POST", "path": "/rest/dmpSegments/DRY_RUN/users", "body": {"elements": [...]}}``.

    The segment lookup and creation requests are not written, because their outcome depends on
    what the ad account holds.
    """

    def __init__(self, *, name: str, segment_type: str, payload_out: BinaryIO | None = None):
        self.name = name
        self.segment_type = segment_type
        self.payload_out = payload_out
        self.member_path = "users" if segment_type == "USER" else "companies"
        self.requests_planned = 0

    def resolve_segment(self, *, create: bool, stop: threading.Event | None = None) -> Segment:
        return Segment(id=DRY_RUN_SEGMENT_ID, name=self.name, type=self.segment_type, status=None, created=False)

    def upload(
        self, segment: Segment, batches: Iterable[Batch], stop: threading.Event | None = None
    ) -> Iterator[BatchResult]:
        path = f"/rest/dmpSegments/{segment.id}/{self.member_path}"
        for batch in batches:
            self.requests_planned += 1
            if self.payload_out is not None:
                line = {"method": "POST", "path": path, "body": {"elements": batch.elements}}
                self.payload_out.write(orjson.dumps(line) + b"\n")
            # Nothing was sent: the pipeline counts a dry-run batch as not sent.
            yield BatchResult(batch=batch, sent=False, accepted=0, requests=0)

    def close(self) -> None:
        if self.payload_out is not None:
            self.payload_out.flush()
