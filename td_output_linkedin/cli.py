"""Command line: ``td-output-linkedin run | check | about | sandbox | connection``.

Exit status: 0 success, 1 failed job, 2 usage or configuration error, 130/143 after SIGINT/SIGTERM.
The job log goes to stderr; stdout carries only machine output (``about``, ``--report -``, the
sandbox's base URL).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from . import __version__
from .errors import EXIT_FAILED, EXIT_OK, EXIT_USAGE, ConfigError, PluginError, UsageError
from .joblog import JobLog, Redactor, configure_stderr

DEBUG_ENV = "TD_OUTPUT_LINKEDIN_DEBUG"


class StopSignal(threading.Event):
    """Set by SIGINT or SIGTERM; remembers which signal arrived and the exit status it implies."""

    signal_name: str | None = None
    exit_code: int = 130


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    return args.func(args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="td-output-linkedin",
        description="Write query result rows into a LinkedIn Matched Audiences DMP segment.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")

    run_parser = commands.add_parser("run", help="run an export job")
    run_parser.add_argument("--config", required=True, metavar="FILE", help="job settings, YAML or JSON")
    run_parser.add_argument(
        "--input", required=True, metavar="PATH", help="query result file (csv, tsv, jsonl, msgpack, optionally .gz), or - for stdin"
    )
    run_parser.add_argument("--format", choices=("csv", "tsv", "jsonl", "msgpack"), help="input format when the file name does not tell it")
    mode = run_parser.add_mutually_exclusive_group()
    mode.add_argument("--dry-run", action="store_true", help="do everything except contacting LinkedIn")
    mode.add_argument(
        "--sandbox", action="store_true", help="upload to the bundled LinkedIn-compatible emulator on 127.0.0.1; no credentials needed"
    )
    run_parser.add_argument("--payload-out", metavar="FILE", help="with --dry-run: write each request as one JSON line {method, path, body}")
    run_parser.add_argument("--sandbox-state", metavar="FILE", help="with --sandbox: load and save the emulator's segments in FILE")
    run_parser.add_argument("--report", metavar="FILE", help="write a JSON report of the job's counts to FILE (- for stdout)")
    _add_log_level(run_parser)
    run_parser.set_defaults(func=command_run)

    check_parser = commands.add_parser("check", help="test the connection and settings; uploads nothing")
    check_parser.add_argument("--config", required=True, metavar="FILE", help="job settings, YAML or JSON")
    check_parser.add_argument("--sandbox", action="store_true", help="check against the bundled emulator")
    _add_log_level(check_parser)
    check_parser.set_defaults(func=command_check)

    about_parser = commands.add_parser("about", help="print the plugin's registration (plugin.yaml) as JSON")
    about_parser.set_defaults(func=command_about)

    from .sandbox.cli import add_sandbox_arguments, run_sandbox_command

    sandbox_parser = commands.add_parser("sandbox", help="serve the LinkedIn-compatible emulator on 127.0.0.1")
    add_sandbox_arguments(sandbox_parser)
    sandbox_parser.set_defaults(func=run_sandbox_command)

    try:
        from .connection_cli import add_connection_commands
    except ImportError:  # pragma: no cover - the connection commands ship with the package
        pass
    else:
        add_connection_commands(commands)
    return parser


def _add_log_level(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--log-level", default="INFO", choices=("DEBUG", "INFO", "WARNING", "ERROR"), help="job log detail on stderr (default INFO)"
    )


# Commands.


def command_run(args: argparse.Namespace) -> int:
    from .config import load_settings
    from .pipeline import JobResult
    from .plugin import run, run_in_sandbox
    from .sources import open_source

    redactor = Redactor()
    handler = configure_stderr(getattr(logging, args.log_level), redactor)
    log = JobLog(redactor=redactor)
    stop = StopSignal()
    previous_handlers = _install_signal_handlers(stop)
    result = None
    payload_file = None
    try:
        if args.payload_out and not args.dry_run:
            raise UsageError("--payload-out: only valid with --dry-run")
        if args.sandbox_state and not args.sandbox:
            raise UsageError("--sandbox-state: only valid with --sandbox")
        if args.sandbox_state:
            folder = Path(args.sandbox_state).resolve().parent
            if not folder.is_dir() or not os.access(folder, os.W_OK):
                raise UsageError(f"--sandbox-state: folder {folder} does not exist or is not writable")
        if args.payload_out:
            try:
                payload_file = open(args.payload_out, "wb")
            except OSError as error:
                raise UsageError(f"--payload-out: cannot write {args.payload_out}: {error.strerror}") from None
        loaded = load_settings(args.config, require_auth=not (args.dry_run or args.sandbox))
        settings = loaded.settings
        for secret in (settings.auth.client_secret, settings.auth.refresh_token, settings.auth.access_token):
            log.add_secret(secret)
        for warning in loaded.warnings:
            log.warning("%s", warning)

        with open_source(args.input, format=args.format, columns=settings.columns) as source:
            if args.sandbox:
                result = run_in_sandbox(settings, source, log=log, state_file=args.sandbox_state, stop=stop)
            else:
                result = run(settings, source, log=log, dry_run=args.dry_run, payload_out=payload_file, stop=stop)
        exit_code = EXIT_OK
    except PluginError as error:
        # A failure before the job started (settings, the input's header) still gets a report.
        result = getattr(error, "result", None) or JobResult(
            dry_run=args.dry_run, sandbox=args.sandbox, error=redactor.redact(str(error))
        )
        log.error("%s", error)
        exit_code = error.exit_code
    except Exception as error:  # noqa: BLE001 - the job log must not carry a traceback with row values
        exit_code = _internal_error(log, error)
        if result is None:
            result = JobResult(dry_run=args.dry_run, sandbox=args.sandbox, error=f"internal error ({type(error).__name__})")
    finally:
        if payload_file is not None:
            payload_file.close()
        _restore_signal_handlers(previous_handlers)

    if args.report and result is not None:
        _write_report(args.report, result.to_report(), log)
    logging.getLogger("td_output_linkedin").removeHandler(handler)
    return exit_code


def command_check(args: argparse.Namespace) -> int:
    redactor = Redactor()
    handler = configure_stderr(getattr(logging, args.log_level), redactor)
    try:
        return _check(args, JobLog(redactor=redactor), redactor)
    finally:
        logging.getLogger("td_output_linkedin").removeHandler(handler)


def _check(args: argparse.Namespace, log: JobLog, redactor: Redactor) -> int:
    from .config import load_settings
    from .plugin import check

    try:
        loaded = load_settings(args.config, require_auth=not args.sandbox)
    except ConfigError as error:
        print(f"FAIL settings: {error}", file=sys.stdout)
        return error.exit_code
    print("ok   settings: valid", file=sys.stdout)
    for warning in loaded.warnings:
        print(f"warn settings: {warning}", file=sys.stdout)

    try:
        lines = check(loaded.settings, log=log, sandbox=args.sandbox)
    except PluginError as error:
        print(f"FAIL {redactor.redact(str(error))}", file=sys.stdout)
        return error.exit_code
    except Exception as error:  # noqa: BLE001
        return _internal_error(log, error)
    for line in lines:
        print(f"{'ok  ' if line.ok else 'FAIL'} {line.name}: {redactor.redact(line.detail)}", file=sys.stdout)
    return EXIT_OK if all(line.ok for line in lines) else EXIT_FAILED


def command_about(args: argparse.Namespace) -> int:
    import yaml

    registration_path = Path(__file__).with_name("plugin.yaml")
    registration = yaml.safe_load(registration_path.read_text(encoding="utf-8"))
    registration["installed_version"] = __version__
    json.dump(registration, sys.stdout, indent=2, default=str)
    sys.stdout.write("\n")
    return EXIT_OK


# Helpers.


def _install_signal_handlers(stop: StopSignal) -> dict[int, Any]:
    """Makes SIGINT and SIGTERM stop the job cleanly; a second signal ends the process at once."""
    if threading.current_thread() is not threading.main_thread():
        return {}

    def handle(signum: int, frame: Any) -> None:
        # The pipeline also sets the event (stop mode after a rejected element), so only a signal
        # that arrives after another signal ends the process at once.
        if stop.signal_name is not None:
            os._exit(128 + signum)
        stop.signal_name = signal.Signals(signum).name
        stop.exit_code = 128 + signum
        stop.set()

    previous = {}
    for signum in (signal.SIGINT, signal.SIGTERM):
        previous[signum] = signal.signal(signum, handle)
    return previous


def _restore_signal_handlers(previous: dict[int, Any]) -> None:
    for signum, handler in previous.items():
        signal.signal(signum, handler)


def _write_report(path: str, report: dict[str, Any], log: JobLog) -> None:
    text = json.dumps(report, indent=2, ensure_ascii=False) + "\n"
    # Input bytes that are not UTF-8 are read as lone surrogates, and a header name in an error
    # message can carry one into the report. UTF-8 cannot encode them, so each is written as its
    # JSON escape (\udcXX) instead.
    text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    if path == "-":
        sys.stdout.write(text)
        return
    target = Path(path)
    try:
        # Written to a temporary file first, so a reader never sees half a report.
        with tempfile.NamedTemporaryFile("w", encoding="utf-8", dir=target.parent or ".", delete=False, suffix=".tmp") as file:
            file.write(text)
        os.replace(file.name, target)
    except OSError as error:
        log.error("could not write the report to %s: %s", path, error.strerror)


def _internal_error(log: JobLog, error: Exception) -> int:
    # The exception text can contain a row's values, so only its type is logged unless debugging.
    log.error(
        "internal error (%s); nothing more is logged because the message may contain row values. "
        "Set %s=1 to see the traceback, and report the problem",
        type(error).__name__,
        DEBUG_ENV,
    )
    if os.environ.get(DEBUG_ENV) == "1":
        import traceback

        traceback.print_exc()
    return EXIT_FAILED


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
