"""The interface between the pipeline and a destination: LinkedIn, the sandbox or a dry run.

The pipeline hands a sink batches of elements, and the sink returns one result per batch. A
result carries each failed element's index, so the pipeline can map it back to its row number.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass
class Segment:
    """A DMP segment as resolved before the upload."""

    id: str
    name: str
    type: str
    status: str | None = None
    created: bool = False


@dataclass
class Batch:
    """Elements of one request, with the input row number of each element at the same index.

    An element is a dict, or an ``orjson.Fragment`` with its JSON text when worker processes
    built it (csv and tsv inputs with the plugin's own sinks). ``orjson.dumps`` writes both alike,
    so a sink encodes the list as it is.
    """

    number: int
    rows: list[int]
    elements: list[Any]


@dataclass
class ElementFailure:
    """One element that LinkedIn rejected with a 4xx entry inside an HTTP 200 response."""

    index: int
    status: int
    code: str | None
    message: str


@dataclass
class BatchResult:
    """The outcome of one batch.

    ``sent`` is False when the batch was never delivered (the job was stopped before it went out, or
    its retries ran out). Then ``accepted`` is 0 and ``failures`` is empty.
    """

    batch: Batch
    sent: bool = True
    accepted: int = 0
    failures: list[ElementFailure] = field(default_factory=list)
    requests: int = 1


class Sink(Protocol):
    def resolve_segment(self, *, create: bool, stop: threading.Event | None = None) -> Segment:
        """Finds the segment by exact name and type; creates it when missing and ``create`` is True.

        Once ``stop`` is set, waits between retries end and ``JobInterrupted`` is raised.
        """

    def upload(
        self, segment: Segment, batches: Iterable[Batch], stop: threading.Event | None = None
    ) -> Iterator[BatchResult]:
        """Sends the batches, several in flight, and yields one result per batch.

        Batches are read from ``batches`` lazily. Once ``stop`` is set no new request starts, and
        each batch not yet delivered is yielded with ``sent=False``. When a batch fails for good,
        the sink yields the results of the requests still in flight and then raises
        ``DeliveryError`` (or another ``LinkedInError``), whose ``batch`` attribute, when set, is
        the batch that failed.
        """

    def close(self) -> None:
        """Releases connections and threads."""
