"""Fixtures: sandboxes on 127.0.0.1:0 with a fake clock, and a raw HTTP client for them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Callable

import pytest

from sandbox_http import Api, FakeClock
from td_output_linkedin.sandbox import Sandbox, SandboxCredentials, SandboxOptions


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def start_sandbox(clock: FakeClock) -> Iterator[Callable[..., Sandbox]]:
    """Start a sandbox with the given option values; every one started is stopped after the test."""
    started: list[Sandbox] = []

    def start(**options: Any) -> Sandbox:
        sandbox = Sandbox(SandboxOptions(**options), clock=clock)
        sandbox.start()
        started.append(sandbox)
        return sandbox

    yield start
    for sandbox in started:
        sandbox.stop()


@pytest.fixture
def sandbox(start_sandbox: Callable[..., Sandbox]) -> Sandbox:
    return start_sandbox()


@pytest.fixture
def credentials(sandbox: Sandbox) -> SandboxCredentials:
    return sandbox.authorize()


@pytest.fixture
def api(sandbox: Sandbox, credentials: SandboxCredentials) -> Api:
    return Api(sandbox.base_url, credentials.access_token)
