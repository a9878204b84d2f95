"""Fixtures for the wire tests: a job log that keeps its lines, and a sink whose waits are recorded, not slept."""

from __future__ import annotations

import logging
import random
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from linkedin_wire import TODAY, TOKEN_URL, make_settings, token_answer
from td_output_linkedin.config import Settings
from td_output_linkedin.joblog import JobLog
from td_output_linkedin.linkedin import LinkedInSink


class LogLines(logging.Handler):
    """Collects the job log as (level name, message) pairs."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[tuple[str, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append((record.levelname, record.getMessage()))

    def at(self, level: str) -> list[str]:
        return [message for name, message in self.lines if name == level]

    def text(self) -> str:
        return "\n".join(message for _, message in self.lines)


@pytest.fixture
def log_lines() -> LogLines:
    return LogLines()


@pytest.fixture
def job_log(log_lines: LogLines) -> JobLog:
    logger = logging.getLogger(f"tests.api.{uuid.uuid4().hex}")
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    logger.addHandler(log_lines)
    return JobLog(logger)


class FakeTime:
    """A monotonic clock that only ``sleep`` moves, and the record of every sleep."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


@pytest.fixture
def waits(fake_time: FakeTime) -> list[float]:
    """Seconds of every wait the sink asked for, in order: retries, rate limit, new segment."""
    return fake_time.sleeps


@pytest.fixture
def make_sink(job_log: JobLog, fake_time: FakeTime) -> Iterator[Callable[..., LinkedInSink]]:
    sinks: list[LinkedInSink] = []

    def build(settings: Settings | None = None, **options: Any) -> LinkedInSink:
        options.setdefault("sleep", fake_time.sleep)
        options.setdefault("monotonic", fake_time.monotonic)
        options.setdefault("today", lambda: TODAY)
        options.setdefault("random", random.Random(7))
        sink = LinkedInSink(settings or make_settings(), job_log, **options)
        sinks.append(sink)
        return sink

    yield build
    for sink in sinks:
        sink.close()


@pytest.fixture
def token_endpoint(requests_mock: Any) -> Any:
    return requests_mock.post(TOKEN_URL, json=token_answer())


