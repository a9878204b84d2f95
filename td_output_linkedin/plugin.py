"""The plugin's job: settings and rows in, a DMP segment updated, counts out.

``run`` is the entry point for a Python host and for the command line::

    settings -> columns from the header -> builder -> pipeline (dedupe, batches) -> sink -> JobResult

The sink is LinkedIn, the bundled sandbox, or a dry run that sends nothing.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, BinaryIO

from .columns import ColumnMap, resolve_columns
from .config import AuthSettings, Settings, settings_from_mapping
from .dryrun import DryRunSink
from .errors import ConfigError, InputError, PluginError
from .joblog import JobLog, column_names_for_display
from .parallel import ParallelBuilder, parallel_chunks, worker_count
from .pipeline import Builder, JobResult, Pipeline, RowItem
from .records import Rejection, make_builder
from .sink import Segment, Sink

__all__ = ["JobResult", "check", "run", "run_in_sandbox"]

# Distinct key sets of map rows whose column mapping is kept; rows beyond that are resolved each time.
MAX_KEY_SETS = 1024
# Destination statuses under which LinkedIn does not serve the segment to campaigns.
UNUSABLE_SEGMENT_STATUSES = {"EXPIRED", "FAILED", "ERROR"}


def run(
    settings: Settings | Mapping[str, Any],
    rows: Iterable[Any],
    *,
    log: JobLog | logging.Logger | None = None,
    dry_run: bool = False,
    payload_out: BinaryIO | None = None,
    stop: threading.Event | None = None,
    sink: Sink | None = None,
) -> JobResult:
    """Writes ``rows`` into the DMP segment that ``settings`` names and returns the counts.

    ``rows`` is an iterable of mappings (column name -> value), of sequences named by the
    ``columns`` setting, or a ``sources.RowSource``. Raises a ``PluginError`` subclass when the job
    fails; the error's ``result`` attribute contains the counts up to that point.
    """
    job_log = _job_log(log, settings)
    result = JobResult(dry_run=dry_run)
    try:
        return _run(settings, rows, job_log, result, dry_run=dry_run, payload_out=payload_out, stop=stop, sink=sink)
    finally:
        log_summary(result, job_log)


def _run(
    settings: Settings | Mapping[str, Any],
    rows: Iterable[Any],
    job_log: JobLog,
    result: JobResult,
    *,
    dry_run: bool,
    payload_out: BinaryIO | None,
    stop: threading.Event | None,
    sink: Sink | None,
) -> JobResult:
    started = time.monotonic()
    own_sink = sink is None
    parallel: ParallelBuilder | None = None
    try:
        settings, on_tokens = _prepare_settings(settings, job_log, require_auth=not dry_run and sink is None)
        result.mode = settings.mode
        result.audience_type = settings.audience_type
        result.segment_name = settings.segment_name

        header, items = _rows_with_numbers(rows, settings.columns)
        if _keys_vary_by_row(rows, settings.columns):
            columns = resolve_columns(header, settings.audience_type, require_identifier=False)
            if not columns.sources:
                # No accepted column at all: this raises MissingColumnsError, which lists the keys.
                resolve_columns(header, settings.audience_type)
            build = _builder_per_key_set(header, columns, settings, job_log)
        else:
            columns = resolve_columns(header, settings.audience_type)
            build = make_builder(columns, settings.action)
        _warn_about_columns(columns, job_log)

        if sink is None:
            sink = _make_sink(settings, job_log, dry_run=dry_run, payload_out=payload_out, on_tokens=on_tokens)
            # A host's own sink receives elements as dicts, so only the plugin's sinks take elements
            # that worker processes encoded.
            parallel = parallel_chunks(
                rows, columns, settings.action, worker_count(settings.worker_processes), job_log
            )
            if parallel is not None:
                items = parallel
        _log_start(settings, job_log, dry_run=dry_run)

        pipeline = Pipeline(
            build=build,
            sink=sink,
            log=job_log,
            result=result,
            batch_size=settings.batch_size,
            stop_on_invalid=not settings.ignore_invalid_records,
            stop=stop,
        )
        pipeline.run(items, lambda: _resolve_segment(sink, settings, job_log, pipeline.stop))
        result.succeeded = True
        return result
    except PluginError as error:
        result.error = str(error)
        error.result = result  # type: ignore[attr-defined]
        raise
    finally:
        if parallel is not None:
            parallel.close()
        if sink is not None:
            # Every HTTP call counts, the token and segment calls included, not only the uploads.
            result.requests = max(result.requests, getattr(sink, "requests_sent", 0))
            if own_sink:
                sink.close()
        result.duration_seconds = time.monotonic() - started


def run_in_sandbox(
    settings: Settings | Mapping[str, Any],
    rows: Iterable[Any],
    *,
    log: JobLog | logging.Logger | None = None,
    state_file: str | None = None,
    stop: threading.Event | None = None,
) -> JobResult:
    """Runs the job against the bundled LinkedIn-compatible sandbox on 127.0.0.1.

    The sandbox is started for this run and pre-authorizes a member, so no credentials are
    needed; ``state_file`` keeps its segments between runs. The result includes the segment's
    member count after the upload.
    """
    from .sandbox import Sandbox, SandboxOptions

    job_log = _job_log(log, settings)
    if not isinstance(settings, Settings):
        settings = settings_from_mapping(settings, require_auth=False)

    sandbox = Sandbox(SandboxOptions(state_file=state_file))
    sandbox.start()
    result = JobResult(sandbox=True)
    try:
        job_log.info("sandbox: LinkedIn-compatible emulator listening on %s", sandbox.base_url)
        sandbox_settings = _settings_for_sandbox(settings, sandbox)
        try:
            _run(sandbox_settings, rows, job_log, result, dry_run=False, payload_out=None, stop=stop, sink=None)
        finally:
            if result.segment_id:
                result.segment_member_count = _sandbox_member_count(sandbox, result.segment_id)
            log_summary(result, job_log)
    finally:
        try:
            sandbox.stop()
        except OSError as error:
            # The upload itself is done: a state file that cannot be written must not undo its report.
            job_log.error("could not save the sandbox state to %s: %s", state_file, error.strerror)
    return result


def check(
    settings: Settings | Mapping[str, Any],
    *,
    log: JobLog | logging.Logger | None = None,
    sandbox: bool = False,
) -> list[Any]:
    """Tests the settings against LinkedIn (or a fresh sandbox) and uploads nothing.

    Returns one ``CheckLine(name, ok, detail)`` per check: API version, access token, ad account
    and segment. A job runner uses it as "test connection".
    """
    from .linkedin import LinkedInSink

    job_log = _job_log(log, settings)
    if not isinstance(settings, Settings):
        settings = settings_from_mapping(settings, require_auth=not sandbox)
    create = settings.mode == "add"

    if not sandbox:
        settings, on_tokens = _prepare_settings(settings, job_log, require_auth=True)
        sink = LinkedInSink(settings, job_log, on_tokens=on_tokens)
        try:
            return sink.check(create=create)
        finally:
            sink.close()

    from .sandbox import Sandbox

    with Sandbox() as emulator:
        sink = LinkedInSink(_settings_for_sandbox(settings, emulator), job_log)
        try:
            return sink.check(create=create)
        finally:
            sink.close()


def log_summary(result: JobResult, log: JobLog) -> None:
    """Logs the closing summary: one line of counts, and what was left out of elements."""
    outcome = "succeeded" if result.succeeded else "failed"
    log.info(
        "summary: job %s%s; rows read %d, valid members %d, invalid rows %d, duplicates %d; "
        "elements sent %d, accepted %d, failed %d, not sent %d; %d requests in %.1f s",
        outcome,
        " (dry run, nothing sent)" if result.dry_run else "",
        result.rows_read,
        result.members_valid,
        result.rows_invalid,
        result.duplicates,
        result.elements_sent,
        result.elements_accepted,
        result.elements_failed,
        result.elements_not_sent,
        result.requests,
        result.duration_seconds,
    )
    if result.segment_member_count is not None:
        log.info("summary: segment %s now contains %d members", result.segment_id, result.segment_member_count)
    if result.values_left_out:
        listed = ", ".join(f"{column} {count}" for column, count in sorted(result.values_left_out.items()))
        reason = "invalid, or apple_idfa which LinkedIn no longer accepts" if "apple_idfa" in result.values_left_out else "invalid"
        log.info("summary: optional values left out of elements (%s): %s", reason, listed)


# Steps of run().


def _job_log(log: JobLog | logging.Logger | None, settings: Any) -> JobLog:
    if isinstance(log, JobLog):
        job_log = log
    else:
        job_log = JobLog(log)
    auth = getattr(settings, "auth", None)
    if isinstance(settings, Mapping):
        auth = settings.get("auth")
    if isinstance(auth, Mapping):
        for key in ("client_secret", "refresh_token", "access_token"):
            value = auth.get(key)
            if isinstance(value, str):
                job_log.add_secret(value)
    elif isinstance(auth, AuthSettings):
        for value in (auth.client_secret, auth.refresh_token, auth.access_token):
            job_log.add_secret(value)
    return job_log


def _prepare_settings(
    settings: Settings | Mapping[str, Any], log: JobLog, *, require_auth: bool
) -> tuple[Settings, Callable[[Any], None] | None]:
    """Validates a host's mapping and, for a stored connection, loads its credentials."""
    if not isinstance(settings, Settings):
        settings = settings_from_mapping(settings, require_auth=require_auth)

    on_tokens = None
    if settings.auth.connection and require_auth:
        from .connections import ConnectionStore, resolve_connection_auth

        store = ConnectionStore()
        auth, on_tokens = resolve_connection_auth(settings.auth.connection, store=store, log=log)
        for value in (auth.client_secret, auth.refresh_token, auth.access_token):
            log.add_secret(value)
        # A refresh token is only valid at the OAuth server that issued it.
        oauth_base_url = store.get(settings.auth.connection).oauth_base_url
        if oauth_base_url != settings.api.oauth_base_url:
            log.info("connection %r refreshes its tokens at %s, where it was created", settings.auth.connection, oauth_base_url)
        settings = dataclasses.replace(
            settings, auth=auth, api=dataclasses.replace(settings.api, oauth_base_url=oauth_base_url)
        )
    return settings, on_tokens


def _rows_with_numbers(rows: Iterable[Any], columns: Sequence[str] | None) -> tuple[list[str], Iterable[RowItem]]:
    """Returns the header and an iterable of ``(row_number, mapping)`` or ``Rejection`` items."""
    header = getattr(rows, "header", None)
    if header is not None:
        # Not iterated yet, so that parallel_chunks can still take a csv or tsv source over.
        return list(header), rows  # type: ignore[return-value]

    iterator = iter(rows)
    first = next(iterator, None)
    if first is None:
        return list(columns or []), iter(())
    if isinstance(first, Mapping):
        return [str(key) for key in first], _number_mappings(first, iterator)
    if isinstance(first, Sequence) and not isinstance(first, (str, bytes)):
        if not columns:
            raise ConfigError("columns: required when rows are sequences; list the column names in order")
        return list(columns), _number_sequences(first, iterator, list(columns))
    raise ConfigError(f"rows: expected mappings or sequences, got {type(first).__name__}")


def _keys_vary_by_row(rows: Iterable[Any], columns: Sequence[str] | None) -> bool:
    """True when each row is a map that may leave out keys: JSON lines, msgpack maps, a host's dicts."""
    if columns:
        return False
    source_format = getattr(rows, "format", None)
    return source_format in ("jsonl", "msgpack") or not hasattr(rows, "header")


def _builder_per_key_set(header: Sequence[str], first: ColumnMap, settings: Settings, log: JobLog) -> Builder:
    """Builds members from map rows whose keys differ from the first row's.

    Exporters leave out keys whose value is null, so a later row can carry a column the first row
    lacked. Columns are resolved once for each distinct key tuple, and the builder for it is kept.
    A column or an ignored key seen for the first time after row 1 is logged once.
    """
    builders: dict[tuple[str, ...], Builder] = {tuple(header): make_builder(first, settings.action)}
    columns_seen = set(first.sources)
    ignored_seen = set(first.unknown) | set(first.other_type)

    def build(row_number: int, row: Mapping[str, Any]) -> Any:
        keys = tuple(row)
        builder = builders.get(keys)
        if builder is None:
            try:
                columns = resolve_columns(keys, settings.audience_type, require_identifier=False)
            except InputError as error:
                # Two keys of this row name one column; the message names the keys, never values.
                return Rejection(row_number, None, str(error))
            builder = make_builder(columns, settings.action)
            if len(builders) < MAX_KEY_SETS:
                builders[keys] = builder
            _log_new_keys(columns, row_number)
        return builder(row_number, row)

    def _log_new_keys(columns: ColumnMap, row_number: int) -> None:
        new_columns = [name for name in columns.sources if name not in columns_seen]
        new_ignored = [name for name in (*columns.unknown, *columns.other_type) if name not in ignored_seen]
        columns_seen.update(new_columns)
        ignored_seen.update(new_ignored)
        if new_columns:
            log.info("columns first seen in row %d: %s", row_number, ", ".join(new_columns))
        if new_ignored:
            log.warning("ignoring keys first seen in row %d: %s", row_number, column_names_for_display(new_ignored))

    return build


def _number_mappings(first: Mapping[str, Any], rest: Iterator[Any]) -> Iterator[RowItem]:
    yield 1, first
    for number, row in enumerate(rest, start=2):
        if isinstance(row, Mapping):
            yield number, row
        else:
            yield Rejection(number, None, f"row is a {type(row).__name__}, not a mapping of column names to values")


def _number_sequences(first: Sequence[Any], rest: Iterator[Any], columns: list[str]) -> Iterator[RowItem]:
    width = len(columns)
    for number, row in enumerate(itertools.chain((first,), rest), start=1):
        if isinstance(row, Sequence) and not isinstance(row, (str, bytes)) and len(row) == width:
            yield number, dict(zip(columns, row))
        else:
            yield Rejection(number, None, f"row does not have the {width} values the columns setting names")


def _warn_about_columns(columns: ColumnMap, log: JobLog) -> None:
    if columns.unknown:
        log.warning("ignoring columns this audience type does not use: %s", column_names_for_display(columns.unknown))
    if columns.other_type:
        other = "companies" if columns.audience_type == "users" else "users"
        log.warning(
            "columns %s belong to audience_type %s and are ignored; check audience_type if they hold the data",
            column_names_for_display(columns.other_type),
            other,
        )
    log.info("columns used: %s", ", ".join(f"{source} -> {name}" for name, source in columns.sources.items()))


def _make_sink(
    settings: Settings,
    log: JobLog,
    *,
    dry_run: bool,
    payload_out: BinaryIO | None,
    on_tokens: Callable[[Any], None] | None,
) -> Sink:
    if dry_run:
        return DryRunSink(name=settings.segment_name, segment_type=settings.segment_type, payload_out=payload_out)
    from .linkedin import LinkedInSink

    return LinkedInSink(settings, log, on_tokens=on_tokens)


def _log_start(settings: Settings, log: JobLog, *, dry_run: bool) -> None:
    log.info(
        "start: ad account %s, segment %r, mode %s, audience type %s, %s%s",
        settings.ad_account_id,
        settings.segment_name,
        settings.mode,
        settings.audience_type,
        "skip invalid rows" if settings.ignore_invalid_records else "stop on invalid rows (nothing is sent if any row is invalid)",
        ", dry run: nothing is sent" if dry_run else "",
    )


def _resolve_segment(sink: Sink, settings: Settings, log: JobLog, stop: threading.Event) -> Segment:
    segment = sink.resolve_segment(create=settings.mode == "add", stop=stop)
    if segment.status in UNUSABLE_SEGMENT_STATUSES:
        log.warning(
            "segment %s has destination status %s; LinkedIn does not serve it to campaigns in this status",
            segment.id,
            segment.status,
        )
    return segment


def _settings_for_sandbox(settings: Settings, sandbox: Any) -> Settings:
    """Points the settings at a running sandbox, with credentials of a member it pre-authorizes."""
    credentials = sandbox.authorize()
    return dataclasses.replace(
        settings,
        auth=AuthSettings(
            client_id=credentials.client_id,
            client_secret=credentials.client_secret,
            refresh_token=credentials.refresh_token,
        ),
        api=dataclasses.replace(
            settings.api,
            base_url=sandbox.base_url,
            oauth_base_url=sandbox.base_url,
            # The sandbox serves a new segment at once; LinkedIn's 5-second pause only slows a trial.
            new_segment_wait_seconds=0.0,
        ),
    )


def _sandbox_member_count(sandbox: Any, segment_id: str) -> int | None:
    for segment in sandbox.state().get("segments", []):
        if str(segment.get("id")) == str(segment_id):
            count = segment.get("member_count", segment.get("memberCount"))
            if count is None and isinstance(segment.get("members"), list):
                count = len(segment["members"])
            return count
    return None
