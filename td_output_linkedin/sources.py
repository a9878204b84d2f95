"""Input sources: read csv, tsv, JSON lines or msgpack, each optionally gzipped, as numbered rows.

A source yields ``(row_number, row)`` for each data row, counted from 1 and not counting the
header or blank lines, or a ``Rejection`` for a row that cannot be read as a row. A fault that
ends the stream (truncated gzip, undecodable msgpack, a quote left open at the end of a csv file)
raises ``InputError`` after every row before it has been yielded.

Text is decoded as UTF-8 with ``errors="surrogateescape"``: an invalid byte becomes a lone
surrogate in U+DC80..U+DCFF, which the records stage rejects, instead of failing the whole file.
Memory does not grow with the number of rows: every reader streams.
"""

from __future__ import annotations

import csv
import gzip
import io
import itertools
import json
import os
import re
import sys
import zlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, BinaryIO

import msgpack

from td_output_linkedin.errors import InputError, UsageError
from td_output_linkedin.records import Rejection

FORMATS = ("csv", "tsv", "jsonl", "msgpack")

BUFFER_SIZE = 1 << 20
# Bound on one csv cell and one JSON line (in characters) and one msgpack item (in bytes). A 10 MB
# cell is still read (the records stage rejects it by length), but a quote left open cannot make
# a cell grow without end.
MAX_ROW_SIZE = 64 << 20

_EXTENSIONS = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
    ".msgpack": "msgpack",
    ".mpk": "msgpack",
}
_FORMAT_ALIASES = {"json": "jsonl", "ndjson": "jsonl", "mpk": "msgpack"}
_GZIP_MAGIC = b"\x1f\x8b"
_STREAM_ERRORS = (OSError, EOFError, zlib.error)
_JSON_WHITESPACE = re.compile(r"[ \t\n\r]*")

Item = tuple[int, dict[str, Any]] | Rejection


def open_source(
    path: str | os.PathLike[str],
    *,
    format: str | None = None,
    columns: Sequence[str] | None = None,
    stdin: BinaryIO | None = None,
) -> RowSource:
    """Open an input file, or stdin for ``"-"``, and read its header.

    The format comes from ``format`` (the ``--format`` flag), else from the file name's extension.
    Gzip is recognized by its magic bytes, whatever the name. ``columns`` names the values of
    rows that are arrays. For csv and tsv it means the file has no header row, except that a
    first row equal to ``columns`` is taken as the header. Raises InputError when the file cannot
    be opened, the format is unknown, or the header cannot be read.
    """
    name = os.fspath(path)
    resolved = _resolve_format(name, format)
    if name == "-":
        stream: BinaryIO = stdin if stdin is not None else sys.stdin.buffer
        owned = False
    else:
        try:
            stream = open(name, "rb", buffering=BUFFER_SIZE)  # noqa: SIM115 - closed by RowSource
        except OSError as exc:
            raise InputError(f"cannot open input file {name}: {exc.strerror}") from exc
        owned = True
    return RowSource(stream, resolved, columns=columns, owns_stream=owned)


class RowSource:
    """The rows of one input, as a context manager and a one-pass iterable.

    ``header`` is the list of column names: the header row of a csv or tsv file, the keys of the first
    row that is a map, or ``columns`` when rows are arrays.
    """

    def __init__(
        self,
        stream: BinaryIO,
        format: str,
        *,
        columns: Sequence[str] | None = None,
        owns_stream: bool = True,
    ):
        self.format = format
        self.header: list[str] = []
        self._columns = list(columns) if columns is not None else None
        self._owns_stream = owns_stream
        self._stream = stream
        self._buffered: io.BufferedReader | None = None
        self._gzip: gzip.GzipFile | None = None
        self._text: io.TextIOWrapper | None = None
        self._pending: list[Item] = []
        self._first_row_read = False
        # csv and tsv: what _open_delimited learned from the header, for take_delimited_rest.
        self._fault_holder: _FaultHolder | None = None
        self._delimiter = ","
        self._quoting = csv.QUOTE_MINIMAL
        self._trailing_empty = False
        self._rows_before = 0
        self._iteration_started = False
        try:
            self._binary = self._decompress_if_gzip(stream)
            if format in ("csv", "tsv"):
                self._items = self._open_delimited("\t" if format == "tsv" else ",")
            elif format == "jsonl":
                self._items = self._read_ahead(self._read_json())
            else:
                self._items = self._read_ahead(self._read_msgpack())
        except BaseException:
            self.close()
            raise

    def __iter__(self) -> Iterator[Item]:
        self._iteration_started = True
        if self._pending:
            pending, self._pending = self._pending, []
            return itertools.chain(pending, self._items)
        return self._items

    def __enter__(self) -> RowSource:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        # Wrappers are detached, not closed, because closing one closes the stream below it,
        # and this source does not own stdin.
        if self._text is not None:
            self._text.detach()
            self._text = None
        if self._gzip is not None:
            self._gzip.close()
            self._gzip = None
        if self._buffered is not None:
            self._buffered.detach()
            self._buffered = None
        if self._owns_stream:
            self._stream.close()

    def _decompress_if_gzip(self, stream: BinaryIO) -> BinaryIO:
        if not hasattr(stream, "peek"):
            self._buffered = io.BufferedReader(stream, BUFFER_SIZE)  # type: ignore[arg-type]
            stream = self._buffered  # type: ignore[assignment]
        if stream.peek(2)[:2] == _GZIP_MAGIC:  # type: ignore[attr-defined]
            self._gzip = gzip.GzipFile(fileobj=stream, mode="rb")
            return self._gzip  # type: ignore[return-value]
        return stream

    # csv and tsv

    def _open_delimited(self, delimiter: str) -> Iterator[Item]:
        """Read the header row and return the iterator of data rows."""
        # The limit is process-wide. It is set, not only raised, so that the bound always applies.
        csv.field_size_limit(MAX_ROW_SIZE)
        self._fault_holder = _FaultHolder(self._binary)
        self._text = io.TextIOWrapper(self._fault_holder, encoding="utf-8-sig", errors="surrogateescape", newline="")
        self._delimiter = delimiter
        if delimiter == "\t":
            # td job:show and most tsv writers do not quote, so a quote character is plain text.
            # Spreadsheet programs and pandas quote, and then the header row usually starts with a
            # quote: such a file is read with csv quoting rules.
            try:
                first_line = self._text.readline()
            except _STREAM_ERRORS as exc:
                raise InputError(_stream_fault(exc)) from exc
            lines = itertools.chain((first_line,), self._text)
            self._quoting = csv.QUOTE_MINIMAL if first_line.startswith('"') else csv.QUOTE_NONE
            reader = self._csv_reader(lines)
        else:
            reader = self._csv_reader(self._text)

        try:
            first = next((values for values in reader if values), None)
        except csv.Error as exc:
            raise InputError(f"the header row is not valid {self.format}: {exc}") from exc
        except _STREAM_ERRORS as exc:
            raise InputError(_stream_fault(exc)) from exc
        if first is None:
            return iter(())

        if self._columns is not None:
            self.header = list(self._columns)
            if first != self.header:
                self._pending.append(_delimited_row(1, first, self.header, trailing_empty=False))
                self._rows_before = 1
                return self._delimited_rows(reader, 1)
            return self._delimited_rows(reader, 0)

        # td job:show writes a tsv header with a tab after every name, data rows without one.
        self._trailing_empty = len(first) > 1 and first[-1] == ""
        self.header = first[:-1] if self._trailing_empty else first
        return self._delimited_rows(reader, 0)

    def _csv_reader(self, lines: Iterable[str]) -> Any:
        return csv.reader(lines, delimiter=self._delimiter, quoting=self._quoting, strict=True)

    def take_delimited_rest(self) -> DelimitedRest | None:
        """Hand the unread text of a csv or tsv source to a caller that parses it in parallel.

        Returns None for other formats and once iteration has started. After this call a stream
        fault (a truncated gzip member, a read error) is kept instead of raised, and the text reads
        as ending there. ``DelimitedRest.fault`` then returns the error, so that the caller can raise
        it after the complete rows before it, as iteration does.
        """
        if self._fault_holder is None or self._text is None or self._iteration_started:
            return None
        self._iteration_started = True
        self._fault_holder.hold = True
        return DelimitedRest(
            source=self,
            text=self._text,
            pending=self._pending,
            rows_before=self._rows_before,
            quoting=self._quoting,
            delimiter=self._delimiter,
        )

    def rows_from_lines(self, lines: Iterable[str], rows_before: int) -> Iterator[Item]:
        """Parse ``lines`` as this source's data rows, numbering them after ``rows_before``.

        ``lines`` must start at a row boundary, split as ``open(newline="")`` splits lines. A held
        stream fault is raised again after the lines, as iteration raises it.
        """
        holder = self._fault_holder
        if holder is not None:
            holder.hold = False
        return self._delimited_rows(self._csv_reader(lines), rows_before)

    def _delimited_rows(self, reader: Any, number: int) -> Iterator[Item]:
        header = self.header
        width = len(header)
        trailing_empty = self._trailing_empty
        try:
            while True:
                try:
                    for values in reader:
                        if not values:
                            continue  # a blank line is not a row
                        number += 1
                        if len(values) == width:
                            yield number, dict(zip(header, values))
                        else:
                            yield _delimited_row(number, values, header, trailing_empty=trailing_empty)
                    return
                except csv.Error as exc:
                    message = str(exc)
                    if message.startswith(("unexpected end of data", "field larger than field limit")):
                        raise InputError(
                            f"not valid {self.format}: {message} (a quote is probably not closed)", row=number + 1
                        ) from exc
                    # The reader goes on at the next line, so only this row is lost.
                    number += 1
                    yield Rejection(number, None, f"not valid {self.format}: {message}")
        except _STREAM_ERRORS as exc:
            raise InputError(_stream_fault(exc), row=number + 1) from exc

    # JSON lines, and JSON arrays as td job:show --format json writes them

    def _read_json(self) -> Iterator[Item]:
        self._text = io.TextIOWrapper(self._binary, encoding="utf-8-sig", errors="surrogateescape", newline="")
        try:
            first = self._text.readline(MAX_ROW_SIZE)
        except _STREAM_ERRORS as exc:
            raise InputError(_stream_fault(exc), row=1) from exc

        stripped = first.lstrip()
        if stripped.startswith("[") and stripped[1:].lstrip()[:1] in ("[", "{", "]", ""):
            # A JSON array of rows: td job:show writes "[" + rows joined by ",\n" + "]".
            return self._json_array_rows(stripped[1:])
        return self._json_lines(first)

    def _json_lines(self, first: str) -> Iterator[Item]:
        text = self._text
        assert text is not None
        number = 0
        line = first
        try:
            while line:
                if len(line) >= MAX_ROW_SIZE and not line.endswith("\n"):
                    number += 1
                    while line and not line.endswith("\n"):
                        line = text.readline(MAX_ROW_SIZE)
                    yield Rejection(number, None, f"line is longer than {MAX_ROW_SIZE} characters")
                elif not line.isspace():
                    number += 1
                    try:
                        item = json.loads(line)
                    except json.JSONDecodeError as exc:
                        # exc.colno restarts after a line break, and the line ends with one.
                        yield Rejection(number, None, f"not valid JSON (column {exc.pos + 1}: {exc.msg})")
                    except RecursionError:
                        yield Rejection(number, None, "not valid JSON: nested too deeply")
                    else:
                        yield self._to_row(number, item, "a JSON object")
                line = text.readline(MAX_ROW_SIZE)
        except _STREAM_ERRORS as exc:
            raise InputError(_stream_fault(exc), row=number + 1) from exc

    def _json_array_rows(self, buffer: str) -> Iterator[Item]:
        """Yield the elements of a JSON array, reading it line by line. ``buffer`` is the text after the ``[``.

        Reading by lines, not fixed chunks, means a truncated gzip file loses no row before the fault.
        """
        text = self._text
        assert text is not None
        decoder = json.JSONDecoder()
        number = 0
        position = 0
        at_end = False
        expect_value = True
        try:
            while True:
                position = _JSON_WHITESPACE.match(buffer, position).end()
                if position == len(buffer):
                    if at_end:
                        raise InputError("the JSON array is not closed with ] (the file is truncated)", row=number + 1)
                    buffer = text.readline(MAX_ROW_SIZE)
                    position = 0
                    at_end = not buffer
                    continue

                char = buffer[position]
                if char == "]":
                    return
                if char == "," and not expect_value:
                    position += 1
                    expect_value = True
                    continue
                if not expect_value:
                    raise InputError("not valid JSON: expected , or ] after a row", row=number + 1)

                try:
                    item, end = decoder.raw_decode(buffer, position)
                    complete = end < len(buffer) or at_end
                except json.JSONDecodeError as exc:
                    if at_end or len(buffer) - position > MAX_ROW_SIZE:
                        raise InputError(f"not valid JSON: {exc.msg}", row=number + 1) from exc
                    complete = False
                except RecursionError as exc:
                    raise InputError("not valid JSON: nested too deeply", row=number + 1) from exc
                if not complete:
                    # The row may continue on the next line (a number can be cut anywhere).
                    more = text.readline(MAX_ROW_SIZE)
                    buffer = buffer[position:] + more
                    position = 0
                    at_end = not more
                    continue

                number += 1
                position = end
                expect_value = False
                yield self._to_row(number, item, "a JSON object")
        except _STREAM_ERRORS as exc:
            raise InputError(_stream_fault(exc), row=number + 1) from exc

    # msgpack

    def _read_msgpack(self) -> Iterator[Item]:
        counted = _CountingReader(self._binary)
        unpacker = msgpack.Unpacker(
            counted,
            read_size=BUFFER_SIZE,
            # Also bounds each string, binary, array and map length, so that a hostile length
            # prefix fails instead of allocating gigabytes.
            max_buffer_size=MAX_ROW_SIZE,
            raw=False,
            unicode_errors="surrogateescape",
            strict_map_key=False,
        )
        number = 0
        end_of_last_item = 0
        try:
            for item in unpacker:
                number += 1
                end_of_last_item = unpacker.tell()
                yield self._to_row(number, item, "a map")
        except (ValueError, TypeError, msgpack.UnpackException, *_STREAM_ERRORS) as exc:
            # TypeError: a map key that Python cannot hash, such as a map.
            raise InputError(_stream_fault(exc, "msgpack"), row=number + 1) from exc
        # At the end of the data the unpacker stops without an error even inside an item, and its
        # tell() then counts the bytes of that partial item too.
        if counted.bytes_read > end_of_last_item:
            raise InputError("the msgpack stream ends inside a row (the file is truncated)", row=number + 1)

    # shared by JSON and msgpack

    def _read_ahead(self, items: Iterator[Item]) -> Iterator[Item]:
        """Read up to the first good row so that ``header`` is known before iteration starts."""
        for item in items:
            self._pending.append(item)
            if not isinstance(item, Rejection):
                row = item[1]
                self.header = list(self._columns) if self._columns is not None else list(row)
                self._first_row_read = True
                break
        else:
            self.header = list(self._columns or ())
        return items

    def _to_row(self, number: int, item: Any, expected: str) -> Item:
        if isinstance(item, dict):
            if all(type(key) is str for key in item):
                return number, item
            return number, {_key_text(key): value for key, value in item.items()}
        if isinstance(item, list):
            if self._columns is None and not self._first_row_read:
                # Before the first good row this is a settings problem, not a bad row.
                raise InputError(
                    "rows are arrays without column names; set columns in the settings to name the values",
                    row=number,
                )
            if self._columns is None:
                return Rejection(number, None, "is an array, but no columns are set to name its values")
            if len(item) != len(self._columns):
                return Rejection(number, None, f"has {len(item)} values but columns names {len(self._columns)}")
            return number, dict(zip(self._columns, item))
        return Rejection(number, None, f"is {_type_name(item)}, not {expected} or an array")


@dataclass
class DelimitedRest:
    """The unread part of a csv or tsv source, after its header: see ``RowSource.take_delimited_rest``.

    ``pending`` contains the items already parsed (a first row that was not the header), ``rows_before``
    the number of rows before ``text``'s first line, and ``quoting`` the csv quoting rule
    (``csv.QUOTE_NONE`` when a quote is plain text).
    """

    source: RowSource
    text: io.TextIOWrapper
    pending: list[Item]
    rows_before: int
    quoting: int
    delimiter: str

    @property
    def fault(self) -> BaseException | None:
        holder = self.source._fault_holder
        return None if holder is None else holder.fault


class _FaultHolder:
    """A binary reader below the text layer of csv and tsv sources.

    With ``hold`` set, a stream error ends the data instead of being raised and is kept in
    ``fault``, so that no text decoded before the error is lost inside a ``read`` call.
    """

    def __init__(self, stream: BinaryIO):
        self._stream = stream
        self.hold = False
        self.fault: BaseException | None = None

    def readable(self) -> bool:
        return True

    def writable(self) -> bool:
        return False

    def seekable(self) -> bool:
        return False

    def flush(self) -> None:
        pass

    @property
    def closed(self) -> bool:
        return self._stream.closed

    def read1(self, size: int = -1) -> bytes:
        if self.fault is not None:
            return b""
        try:
            return self._stream.read1(size)  # type: ignore[attr-defined,no-any-return]
        except _STREAM_ERRORS as exc:
            if not self.hold:
                raise
            self.fault = exc
            return b""

    read = read1


class _CountingReader:
    """A binary reader that counts the bytes it has returned."""

    def __init__(self, stream: BinaryIO):
        self._stream = stream
        self.bytes_read = 0

    def read(self, size: int = -1) -> bytes:
        # read1 returns what one read of the stream below gives. read would keep reading to fill
        # ``size`` and drop the bytes it has when gzip then reports a truncated file.
        data = self._stream.read1(size)
        self.bytes_read += len(data)
        return data


def _resolve_format(name: str, format: str | None) -> str:
    if format is not None:
        key = format.strip().lower().removesuffix(".gz")
        key = _FORMAT_ALIASES.get(key, key)
        if key in FORMATS:
            return key
        raise UsageError(f"unknown input format {format!r}; use --format with one of {', '.join(FORMATS)}")

    base = name.lower().removesuffix(".gz")
    extension = os.path.splitext(base)[1]
    if extension in _EXTENSIONS:
        return _EXTENSIONS[extension]
    where = "stdin" if name == "-" else f"input file {name}"
    raise UsageError(
        f"cannot tell the format of {where} from its name; use --format with one of {', '.join(FORMATS)}"
    )


def _delimited_row(number: int, values: list[str], header: list[str], *, trailing_empty: bool) -> Item:
    width = len(header)
    if len(values) == width:
        return number, dict(zip(header, values))
    if trailing_empty and len(values) == width + 1 and values[-1] == "":
        return number, dict(zip(header, values))
    return Rejection(number, None, f"has {len(values)} cells but the header has {width} columns")


def _stream_fault(exc: BaseException, format: str | None = None) -> str:
    if isinstance(exc, EOFError):
        return "the compressed input ends early (the file is truncated)"
    if isinstance(exc, (gzip.BadGzipFile, zlib.error)):
        return f"the compressed input is corrupt: {exc}"
    if isinstance(exc, OSError):
        return f"cannot read the input: {exc.strerror or exc}"
    if format == "msgpack":
        return f"the msgpack stream cannot be decoded further: {exc or type(exc).__name__}"
    return str(exc)


def _key_text(key: Any) -> str:
    if isinstance(key, bytes):
        return key.decode("utf-8", "surrogateescape")
    return str(key)


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return f"a {type(value).__name__}"
