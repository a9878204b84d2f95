"""A stop request (SIGINT, SIGTERM) ends the segment lookup's retries too, not only the upload."""

from __future__ import annotations

import threading

import pytest

from td_output_linkedin.errors import JobInterrupted
from td_output_linkedin.plugin import run
from td_output_linkedin.sandbox import Sandbox, SandboxOptions


class Signalled(threading.Event):
    signal_name: str | None = None
    exit_code: int = 130


def test_stop_during_segment_lookup_retries():
    options = SandboxOptions(faults={"503": 1.0}, fault_paths=("/rest/dmpSegments",), seed=1)
    with Sandbox(options) as sandbox:
        credentials = sandbox.authorize()
        settings = {
            "ad_account_id": "7001",
            "segment_name": "stopped",
            "auth": {
                "client_id": credentials.client_id,
                "client_secret": credentials.client_secret,
                "refresh_token": credentials.refresh_token,
            },
            # Without the stop, these retries would wait for minutes before the job gave up.
            "api": {"base_url": sandbox.base_url, "oauth_base_url": sandbox.base_url, "max_attempts": 20},
        }
        stop = Signalled()

        def send_signal() -> None:
            stop.signal_name = "SIGTERM"
            stop.exit_code = 143
            stop.set()

        timer = threading.Timer(0.5, send_signal)
        timer.start()
        try:
            with pytest.raises(JobInterrupted) as raised:
                run(settings, [{"email": "a@example.com"}], stop=stop)
        finally:
            timer.cancel()

    assert raised.value.exit_code == 143
    assert raised.value.signal_name == "SIGTERM"
    assert raised.value.result.elements_sent == 0
    assert raised.value.result.elements_not_sent == 1
