"""Worker processes never outlive the job, however the job's process ends."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

from reliability_support import COMMAND, COMMAND_TIMEOUT_SECONDS, command_env, write_config

WAIT_SECONDS = 30


def children_of(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text(encoding="ascii", errors="replace")
        except OSError:
            continue
        # Fields after the command name, which may contain spaces: state, then parent pid.
        if int(stat.rpartition(")")[2].split()[1]) == pid:
            found.append(int(entry))
    return found


def is_running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace").rpartition(")")[2].split()[0]
    except OSError:
        return False
    return state != "Z"


def start_waiting_job(tmp_path: Path) -> tuple[subprocess.Popen[str], list[int]]:
    """Start a dry run that reads stdin, feed it more than one block and return it with its 2 workers.

    The pipe stays open, so the job keeps waiting for more rows.
    """
    config = write_config(
        tmp_path / "job.yml",
        {"ad_account_id": "512345678", "segment_name": "stopped", "ignore_invalid_records": True, "worker_processes": 2},
    )
    rows = "".join(f"person{number}@example.com,Ann,Lee\n" for number in range(40_000))
    process = subprocess.Popen(
        [COMMAND, "run", "--config", str(config), "--input", "-", "--format", "csv", "--dry-run"],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=command_env(),
        start_new_session=True,
    )
    assert process.stdin is not None
    process.stdin.write("email,first_name,last_name\n" + rows)
    process.stdin.flush()

    deadline = time.monotonic() + WAIT_SECONDS
    workers = children_of(process.pid)
    while len(workers) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
        workers = children_of(process.pid)
    assert len(workers) == 2
    return process, workers


def wait_until_ended(pids: list[int]) -> list[int]:
    """Return the pids still running after at most WAIT_SECONDS."""
    deadline = time.monotonic() + WAIT_SECONDS
    while any(map(is_running, pids)) and time.monotonic() < deadline:
        time.sleep(0.05)
    return [pid for pid in pids if is_running(pid)]


def test_sigterm_to_the_group_stops_job_and_workers(tmp_path: Path) -> None:
    process, workers = start_waiting_job(tmp_path)

    # A job runner stops the whole process group; the workers leave stopping to the job's process.
    os.killpg(process.pid, signal.SIGTERM)
    assert process.stdin is not None
    process.stdin.close()
    stderr = process.stderr.read() if process.stderr else ""
    process.wait(timeout=COMMAND_TIMEOUT_SECONDS)

    assert process.returncode == 143
    assert "worker processes failed" not in stderr
    assert "Traceback" not in stderr
    assert wait_until_ended(workers) == []


def test_workers_end_with_a_killed_job(tmp_path: Path) -> None:
    process, workers = start_waiting_job(tmp_path)

    process.kill()
    process.wait(timeout=COMMAND_TIMEOUT_SECONDS)
    assert process.stdin is not None
    process.stdin.close()

    assert wait_until_ended(workers) == []
