"""Elements that LinkedIn fails for a temporary reason inside a 200 are sent again, not lost."""

from __future__ import annotations

import hashlib

from integration_support import sandbox_job_settings

from td_output_linkedin.plugin import run
from td_output_linkedin.sandbox import Sandbox, SandboxOptions


def test_temporary_element_failures_lose_nothing():
    rows = [{"email": f"Person.{number}@Example.com "} for number in range(1000)]
    expected = {hashlib.sha256(f"person.{number}@example.com".encode()).hexdigest() for number in range(1000)}

    with Sandbox(SandboxOptions(element_fault_rate=0.05, seed=11, users_requests_per_minute=100_000)) as sandbox:
        settings = sandbox_job_settings(sandbox, segment_name="element faults", batch_size=250)
        result = run(settings, rows)
        members = sandbox.members(result.segment_id)

    stored = {user_id["idValue"] for member in members for user_id in member["userIds"]}
    assert result.elements_accepted == 1000
    assert result.elements_failed == 0
    assert result.requests > 4 + 3  # four batches, the token and segment calls, and the resends
    assert stored == expected
