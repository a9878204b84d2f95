"""Worker processes never outlive the job, however the job's process ends."""

from __future__ import annotations

import os
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


def test_workers_end_with_a_killed_job(tmp_path: Path) -> None:
    config = write_config(
        tmp_path / "job.yml",
        {"ad_account_id": "512345678", "segment_name": "killed", "ignore_invalid_records": True, "worker_processes": 2},
    )
    rows = "".join(f"person{number}@example.com,Ann,Lee\n" for number in range(40_000))
    process = subprocess.Popen(
        [COMMAND, "run", "--config", str(config), "--input", "-", "--format", "csv", "--dry-run"],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        text=True,
        env=command_env(),
    )
    assert process.stdin is not None
    # More than one block, so the workers start, and the pipe stays open, so the job keeps waiting.
    process.stdin.write("email,first_name,last_name\n" + rows)
    process.stdin.flush()

    deadline = time.monotonic() + WAIT_SECONDS
    workers = children_of(process.pid)
    while len(workers) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
        workers = children_of(process.pid)
    assert len(workers) == 2

    process.kill()
    process.wait(timeout=COMMAND_TIMEOUT_SECONDS)
    process.stdin.close()

    deadline = time.monotonic() + WAIT_SECONDS
    while any(map(is_running, workers)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [pid for pid in workers if is_running(pid)] == []
