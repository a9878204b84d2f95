"""Benchmark the job's throughput and memory, and write the results into BENCHMARKS.md.

One command (``make bench``) runs every measurement in the same session on the same files:

1. generates the contact rows (bench/generate.py), reusing files already in bench/data;
2. times the floor (bench/floor.py) and ``td-output-linkedin run --dry-run`` on the same csv,
   alternating them in each of ``--repeat`` rounds and taking the median of each;
3. times an upload to the sandbox, started in its own process with 100 ms latency per request,
   once at LinkedIn's default rate limit and once with the limit raised on both sides;
4. records the peak resident memory of ``run --dry-run`` at every size in ``--rows``, in skip
   mode and in stop mode (which spools every member to disk before sending);
5. replaces the results section of BENCHMARKS.md with a table.

Every measured command runs as a fresh subprocess. Its wall time includes the interpreter's
start-up. Its memory is given twice, both sampled from /proc: the job process's own peak RSS, and
the peak of the summed PSS of the job process and its worker processes.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPOSITORY = BENCH_DIR.parent
sys.path.insert(0, str(BENCH_DIR))

from generate import write_files  # noqa: E402  (bench/ is a folder of scripts, not a package)

DEFAULT_SIZES = (100_000, 1_000_000, 10_000_000)
RESULTS_START = "<!-- bench/run.py results: start -->"
RESULTS_END = "<!-- bench/run.py results: end -->"
SANDBOX_LATENCY_SECONDS = 0.1
# Raised limits for the latency-hiding run: far above what one process can send.
RAISED_REQUESTS_PER_MINUTE = 1_000_000
MEMORY_SAMPLE_SECONDS = 0.02


@dataclass
class Measurement:
    """One subprocess: its wall time, its peak memory and its JSON output, if any.

    Both are sampled every ``MEMORY_SAMPLE_SECONDS``. ``peak_rss_bytes`` is the job process's own
    resident set size. The ru_maxrss of ``os.wait4`` cannot give it, because it is the largest of
    the process and its children, and a forked worker counts the pages it shares with its parent.
    ``peak_pss_bytes`` is the highest sum of the proportional set sizes of the job process and its
    worker processes. A page that forked processes share counts once in all, not once each.
    """

    seconds: float
    peak_rss_bytes: int
    exit_code: int
    report: dict[str, Any] = field(default_factory=dict)
    peak_pss_bytes: int = 0


@dataclass
class Row:
    """One line of the results table."""

    name: str
    command: str
    rows: int
    runs: list[Measurement]

    @property
    def median_seconds(self) -> float:
        return statistics.median(run.seconds for run in self.runs)

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.median_seconds

    @property
    def peak_rss_bytes(self) -> int:
        return max(run.peak_rss_bytes for run in self.runs)

    @property
    def peak_pss_bytes(self) -> int:
        return max(run.peak_pss_bytes for run in self.runs)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse_args(argv)
    sizes = sorted(args.rows)
    data = args.data
    work = Path(tempfile.mkdtemp(prefix="td-output-linkedin-bench-"))

    _say(f"generating inputs in {data} (reused when present)")
    files = {size: write_files(size, data) for size in sorted({*sizes, args.throughput_rows, args.sandbox_rows})}
    valid_files = {size: write_files(size, data, with_invalid=False, msgpack_copy=False) for size in sizes}

    skip_config = _write_config(work / "skip.yml", ignore_invalid_records=True)
    one_process_config = _write_config(work / "one-process.yml", ignore_invalid_records=True, worker_processes=1)
    stop_config = _write_config(work / "stop.yml", ignore_invalid_records=False)

    throughput = _measure_throughput(args, files[args.throughput_rows], skip_config, one_process_config, work)
    sandbox_rows: list[Row] = []
    if not args.skip_sandbox:
        sandbox_rows = _measure_sandbox(args, files[args.sandbox_rows], work)
    memory = _measure_memory(sizes, files, valid_files, skip_config, stop_config, work)

    text = _results_markdown(args, throughput, sandbox_rows, memory)
    _write_results(args.output, text)
    _say(f"wrote the results into {args.output}")
    print(text)
    return 0


# Measurements.


def _measure_throughput(
    args: argparse.Namespace, paths: dict[str, Path], config: Path, one_process_config: Path, work: Path
) -> list[Row]:
    """Alternates the floor and the dry-run variants in each round, so noise hits all of them alike."""
    rows = args.throughput_rows
    csv_path = str(paths["csv"])
    commands = {
        "floor (bench/floor.py)": [sys.executable, str(BENCH_DIR / "floor.py"), csv_path],
        "run --dry-run, csv": _job(config, csv_path, work, "--dry-run"),
        "run --dry-run --payload-out /dev/null, csv": _job(
            config, csv_path, work, "--dry-run", "--payload-out", os.devnull
        ),
        "run --dry-run, csv, no worker processes": _job(one_process_config, csv_path, work, "--dry-run"),
        "run --dry-run, msgpack.gz (always one process)": _job(config, str(paths["msgpack"]), work, "--dry-run"),
    }
    results = {name: Row(name, _display(command), rows, []) for name, command in commands.items()}
    for round_number in range(1, args.repeat + 1):
        for name, command in commands.items():
            _say(f"throughput round {round_number}/{args.repeat}: {name}, {rows:,} rows")
            measurement = _measure(command, work)
            _check(measurement, name, rows, work)
            results[name].runs.append(measurement)
    return list(results.values())


def _measure_sandbox(args: argparse.Namespace, paths: dict[str, Path], work: Path) -> list[Row]:
    rows = args.sandbox_rows
    measured = []
    for label, requests_per_minute in (("default limit, 600 requests/min", None), ("raised limit", RAISED_REQUESTS_PER_MINUTE)):
        runs = []
        command: list[str] = []
        for round_number in range(1, args.sandbox_repeat + 1):
            _say(f"sandbox upload ({label}) round {round_number}/{args.sandbox_repeat}: {rows:,} rows")
            with _sandbox(work, requests_per_minute) as connection:
                config = _write_config(
                    work / "sandbox.yml",
                    ignore_invalid_records=True,
                    connection=connection,
                    requests_per_minute=requests_per_minute,
                    max_in_flight=args.in_flight,
                )
                command = _job(config, str(paths["csv"]), work)
                measurement = _measure(command, work)
            _check(measurement, f"sandbox upload ({label})", rows, work, uploaded=True)
            runs.append(measurement)
        name = f"upload to the sandbox, {int(SANDBOX_LATENCY_SECONDS * 1000)} ms latency, {label}"
        measured.append(Row(name, _display(command), rows, runs))
    return measured


def _measure_memory(
    sizes: list[int],
    files: dict[int, dict[str, Path]],
    valid_files: dict[int, dict[str, Path]],
    skip_config: Path,
    stop_config: Path,
    work: Path,
) -> list[Row]:
    measured = []
    for size in sizes:
        cases = {
            "skip mode, csv": _job(skip_config, str(files[size]["csv"]), work, "--dry-run"),
            "skip mode, msgpack.gz": _job(skip_config, str(files[size]["msgpack"]), work, "--dry-run"),
            "stop mode, csv without invalid rows": _job(stop_config, str(valid_files[size]["csv"]), work, "--dry-run"),
        }
        for name, command in cases.items():
            _say(f"memory: {name}, {size:,} rows")
            measurement = _measure(command, work)
            _check(measurement, name, size, work)
            measured.append(Row(name, _display(command), size, [measurement]))
    return measured


def _measure(command: list[str], work: Path) -> Measurement:
    """Runs ``command`` and returns its wall time, peak RSS and the JSON it wrote (report or stdout)."""
    report_path = work / "report.json"
    report_path.unlink(missing_ok=True)
    with open(work / "stdout.txt", "wb") as stdout, open(work / "stderr.txt", "wb") as stderr:
        started = time.perf_counter()
        process = subprocess.Popen(command, stdout=stdout, stderr=stderr, cwd=REPOSITORY)
        sampler = _MemorySampler(process.pid)
        sampler.start()
        _, status, _ = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
        sampler.stop()
    process.returncode = os.waitstatus_to_exitcode(status)

    if report_path.exists():
        report = json.loads(report_path.read_text(encoding="utf-8"))
    else:
        output = (work / "stdout.txt").read_text(encoding="utf-8").strip()
        report = json.loads(output) if output.startswith("{") else {}
    return Measurement(seconds, sampler.peak_rss_bytes, process.returncode, report, sampler.peak_pss_bytes)


class _MemorySampler(threading.Thread):
    """Samples a process's RSS, and the summed PSS of it and its descendants, until ``stop``."""

    def __init__(self, pid: int):
        super().__init__(daemon=True)
        self.pid = pid
        self.peak_rss_bytes = 0
        self.peak_pss_bytes = 0
        self._stopped = threading.Event()

    def run(self) -> None:
        while not self._stopped.wait(MEMORY_SAMPLE_SECONDS):
            self.peak_rss_bytes = max(self.peak_rss_bytes, _memory_bytes(self.pid, "Rss:"))
            pss = sum(_memory_bytes(pid, "Pss:") for pid in _process_tree(self.pid))
            self.peak_pss_bytes = max(self.peak_pss_bytes, pss)

    def stop(self) -> None:
        self._stopped.set()
        self.join()


def _process_tree(root: int) -> list[int]:
    """Return the pid ``root`` and its descendants, from the parent pid in each /proc/<pid>/stat."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as file:
                # The command name in parentheses may contain spaces, so fields count from its end.
                parent = int(file.read().rpartition(")")[2].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(parent, []).append(int(entry))
    tree, pending = [], [root]
    while pending:
        pid = pending.pop()
        tree.append(pid)
        pending.extend(children.get(pid, ()))
    return tree


def _memory_bytes(pid: int, field: str) -> int:
    """Return one field of /proc/<pid>/smaps_rollup, such as "Rss:" or "Pss:", in bytes."""
    try:
        with open(f"/proc/{pid}/smaps_rollup", encoding="ascii") as file:
            for line in file:
                if line.startswith(field):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass  # the process ended between the listing and the read
    return 0


def _check(measurement: Measurement, name: str, rows: int, work: Path, *, uploaded: bool = False) -> None:
    """Stops the benchmark when a command failed or did not read every row: its time would mean nothing."""
    report = measurement.report
    problems = []
    if measurement.exit_code != 0:
        problems.append(f"exit status {measurement.exit_code}")
    read = report.get("rows_read", report.get("rows"))
    if read != rows:
        problems.append(f"read {read} rows, expected {rows}")
    if uploaded and report.get("elements_accepted") != report.get("members_valid"):
        problems.append(f"{report.get('elements_accepted')} of {report.get('members_valid')} members accepted")
    if problems:
        raise SystemExit(f"bench: {name} failed: {'; '.join(problems)}. Its log is {work / 'stderr.txt'}")


class _sandbox:
    """Runs ``td-output-linkedin sandbox`` in its own process, so its CPU is not the client's."""

    def __init__(self, work: Path, requests_per_minute: int | None):
        self.command = [*_cli(), "sandbox", "--json", "--no-store-members", "--latency", str(SANDBOX_LATENCY_SECONDS)]
        if requests_per_minute is not None:
            self.command += ["--users-rpm", str(requests_per_minute)]
        self.log_path = work / "sandbox.log"
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> dict[str, Any]:
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(self.command, stdout=subprocess.PIPE, stderr=log, cwd=REPOSITORY)
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            raise SystemExit(f"bench: the sandbox did not start; its log is {self.log_path}")
        return json.loads(line)

    def __exit__(self, *exc_info: object) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()


# Commands and configs.


def _cli() -> list[str]:
    script = Path(sys.executable).with_name("td-output-linkedin")
    return [str(script)] if script.exists() else [sys.executable, "-m", "td_output_linkedin.cli"]


def _job(config: Path, input_path: str, work: Path, *flags: str) -> list[str]:
    return [*_cli(), "run", "--config", str(config), "--input", input_path, *flags, "--report", str(work / "report.json")]


def _write_config(
    path: Path,
    *,
    ignore_invalid_records: bool,
    connection: dict[str, Any] | None = None,
    requests_per_minute: int | None = None,
    max_in_flight: int | None = None,
    worker_processes: int | None = None,
) -> Path:
    config: dict[str, Any] = {
        "type": "linkedin",
        "ad_account_id": "512345678",
        "audience_type": "users",
        "segment_name": "Benchmark contacts",
        "mode": "add",
        "ignore_invalid_records": ignore_invalid_records,
    }
    if worker_processes is not None:
        config["worker_processes"] = worker_processes
    if connection is not None:
        config["auth"] = {key: connection[key] for key in ("client_id", "client_secret", "refresh_token")}
        api: dict[str, Any] = {
            "base_url": connection["base_url"],
            "oauth_base_url": connection["base_url"],
            # The sandbox serves a new segment at once; LinkedIn's 5-second pause would only add a constant.
            "new_segment_wait_seconds": 0,
        }
        if requests_per_minute is not None:
            api["users_requests_per_minute"] = requests_per_minute
        if max_in_flight is not None:
            api["max_in_flight"] = max_in_flight
        config["api"] = api
    # JSON is valid YAML. The job warns about a config with literal credentials that others may read,
    # so the file is made readable by its owner only.
    path.write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    path.chmod(0o600)
    return path


def _display(command: list[str]) -> str:
    """Format the command as a person would type it: paths relative to the repository, no report flag."""
    shown = []
    skip_next = False
    for part in command:
        if skip_next:
            skip_next = False
            continue
        if part == "--report":
            skip_next = True
            continue
        if part == sys.executable:
            part = "python"
        elif part.endswith("/td-output-linkedin"):
            part = "td-output-linkedin"
        elif part.endswith(".yml"):
            part = Path(part).name
        elif part.startswith(str(REPOSITORY)):
            part = os.path.relpath(part, REPOSITORY)
        shown.append(part)
    return " ".join(shown)


# The results page.


def _results_markdown(
    args: argparse.Namespace, throughput: list[Row], sandbox_rows: list[Row], memory: list[Row]
) -> str:
    floor = throughput[0]
    dry_run = throughput[1]
    lines = [
        RESULTS_START,
        f"Measured {datetime.date.today().isoformat()} by `{_display([sys.executable, *sys.argv])}` "
        f"at commit {_git_commit()}.",
        "",
        _machine(),
        "",
        f"### Throughput, {args.throughput_rows:,} rows, median of {args.repeat} alternating rounds",
        "",
        "| measure | command | median s | rows/s | ratio to floor | peak RSS MB, job process | peak PSS MB, all processes |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for row in throughput:
        lines.append(
            f"| {row.name} | `{row.command}` | {row.median_seconds:.2f} | {row.rows_per_second:,.0f} | "
            f"{row.rows_per_second / floor.rows_per_second:.2f} | {_mb(row.peak_rss_bytes)} | {_mb(row.peak_pss_bytes)} |"
        )

    if sandbox_rows:
        lines += [
            "",
            f"### Upload to the sandbox, {args.sandbox_rows:,} rows, median of {args.sandbox_repeat} rounds",
            "",
            f"The sandbox runs in its own process with {int(SANDBOX_LATENCY_SECONDS * 1000)} ms added to every "
            f"answer; the job sends at most {args.in_flight} requests at once.",
            "",
            "| measure | command | median s | rows/s | ratio to dry run | peak RSS MB, job process | peak PSS MB, all processes |",
            "|---|---|---:|---:|---:|---:|---:|",
        ]
        for row in sandbox_rows:
            lines.append(
                f"| {row.name} | `{row.command}` | {row.median_seconds:.2f} | {row.rows_per_second:,.0f} | "
                f"{row.rows_per_second / dry_run.rows_per_second:.2f} | {_mb(row.peak_rss_bytes)} | {_mb(row.peak_pss_bytes)} |"
            )

    lines += [
        "",
        "### Peak memory of `run --dry-run`, one run each",
        "",
        "| rows | mode and input | seconds | rows/s | peak RSS MB, job process | peak PSS MB, all processes |",
        "|---:|---|---:|---:|---:|---:|",
    ]
    for row in memory:
        lines.append(
            f"| {row.rows:,} | {row.name} | {row.median_seconds:.1f} | {row.rows_per_second:,.0f} | "
            f"{_mb(row.peak_rss_bytes)} | {_mb(row.peak_pss_bytes)} |"
        )
    lines.append(RESULTS_END)
    return "\n".join(lines) + "\n"


def _write_results(path: Path, results: str) -> None:
    """Replaces the text between the result markers, or appends it when the page has none."""
    text = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n\n"
    start = text.find(RESULTS_START)
    end = text.find(RESULTS_END)
    if start != -1 and end != -1:
        text = text[:start] + results + text[end + len(RESULTS_END) + 1 :]
    else:
        text = text.rstrip("\n") + "\n\n" + results
    path.write_text(text, encoding="utf-8")


def _machine() -> str:
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = ""
    try:
        total_kb = int(Path("/proc/meminfo").read_text(encoding="utf-8").split()[1])
        memory = f", {total_kb / 1024 / 1024:.0f} GB RAM"
    except (OSError, ValueError, IndexError):
        pass
    return (
        f"Machine: {os.cpu_count()} CPUs ({model}){memory}, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}."
    )


def _git_commit() -> str:
    try:
        output = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=REPOSITORY, capture_output=True, text=True, check=True
        )
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return output.stdout.strip()


def _mb(size: int) -> str:
    return f"{size / 1024 / 1024:.0f}"


def _say(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Measure throughput and memory and write BENCHMARKS.md.")
    parser.add_argument(
        "--rows",
        type=_sizes,
        default=DEFAULT_SIZES,
        help="row counts for the memory runs, comma-separated (default: 100000,1000000,10000000)",
    )
    parser.add_argument("--throughput-rows", type=int, default=1_000_000, help="rows in the timed runs (default: 1000000)")
    parser.add_argument("--repeat", type=int, default=3, help="rounds of the timed runs; the median is reported (default: 3)")
    parser.add_argument("--sandbox-rows", type=int, default=1_000_000, help="rows uploaded to the sandbox (default: 1000000)")
    parser.add_argument("--sandbox-repeat", type=int, default=3, help="rounds of each sandbox upload (default: 3)")
    parser.add_argument("--in-flight", type=int, default=8, help="api.max_in_flight of the sandbox upload (default: 8, as in a job)")
    parser.add_argument("--skip-sandbox", action="store_true", help="leave out the sandbox uploads")
    parser.add_argument("--data", type=Path, default=BENCH_DIR / "data", help="input files (default: bench/data)")
    parser.add_argument("--output", type=Path, default=REPOSITORY / "BENCHMARKS.md", help="page to update (default: BENCHMARKS.md)")
    args = parser.parse_args(argv)
    if args.repeat < 1 or args.sandbox_repeat < 1:
        parser.error("--repeat and --sandbox-repeat must be at least 1")
    return args


def _sizes(text: str) -> list[int]:
    try:
        sizes = [int(part.replace("_", "")) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected row counts separated by commas, such as 100000,1000000")
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: every row count must be at least 1")
    return sizes


if __name__ == "__main__":
    sys.exit(main())
