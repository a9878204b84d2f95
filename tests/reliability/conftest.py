from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from td_output_linkedin.sandbox import Sandbox, SandboxOptions  # noqa: E402


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keeps requests made in this process from going through a proxy configured on the machine."""
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.delenv("TD_OUTPUT_LINKEDIN_DEBUG", raising=False)


@pytest.fixture
def start_sandbox() -> Iterator[Callable[..., Sandbox]]:
    """Starts sandboxes on 127.0.0.1 with the given options and stops them after the test."""
    with ExitStack() as stack:

        def start(**options: object) -> Sandbox:
            return stack.enter_context(Sandbox(SandboxOptions(**options)))  # type: ignore[arg-type]

        yield start
