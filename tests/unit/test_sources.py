"""Input sources: formats, gzip, stdin, row numbering, rejected rows and faults that end the stream."""

from __future__ import annotations

import gzip
import io
import json
from pathlib import Path
from typing import Any

import msgpack
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from td_output_linkedin import sources
from td_output_linkedin.errors import InputError, UsageError
from td_output_linkedin.records import Rejection
from td_output_linkedin.sources import FORMATS, MAX_ROW_SIZE, RowSource, open_source


def read_all(source: RowSource) -> list[Any]:
    with source:
        return list(source)


def read_bytes(data: bytes, format: str, **kwargs: Any) -> tuple[list[str], list[Any]]:
    source = open_source("-", format=format, stdin=io.BytesIO(data), **kwargs)
    header = source.header
    return header, read_all(source)


def read_until_fault(source: RowSource) -> tuple[list[Any], InputError]:
    """Return the items yielded before the InputError that ends the stream, and the error."""
    items: list[Any] = []
    with source, pytest.raises(InputError) as caught:
        for item in source:
            items.append(item)
    return items, caught.value


def pack(*rows: Any) -> bytes:
    return b"".join(msgpack.packb(row) for row in rows)


def rejection(row: int, reason: str) -> Rejection:
    return Rejection(row, None, reason)


# Format detection


@pytest.mark.parametrize(
    ("name", "data", "expected"),
    [
        ("in.csv", b"email\na@example.com\n", "csv"),
        ("IN.CSV", b"email\na@example.com\n", "csv"),
        ("in.tsv", b"email\na@example.com\n", "tsv"),
        ("in.jsonl", b'{"email": "a@example.com"}\n', "jsonl"),
        ("in.ndjson", b'{"email": "a@example.com"}\n', "jsonl"),
        ("in.json", b'{"email": "a@example.com"}\n', "jsonl"),
        ("in.msgpack", pack({"email": "a@example.com"}), "msgpack"),
        ("in.mpk", pack({"email": "a@example.com"}), "msgpack"),
        ("in.csv.gz", gzip.compress(b"email\na@example.com\n"), "csv"),
        ("in.msgpack.gz", gzip.compress(pack({"email": "a@example.com"})), "msgpack"),
    ],
)
def test_format_from_extension(tmp_path: Path, name: str, data: bytes, expected: str) -> None:
    path = tmp_path / name
    path.write_bytes(data)
    source = open_source(path)
    assert source.format == expected
    assert source.header == ["email"]
    assert read_all(source) == [(1, {"email": "a@example.com"})]


@pytest.mark.parametrize(
    ("flag", "expected"),
    [("csv", "csv"), ("TSV", "tsv"), ("json", "jsonl"), ("jsonl", "jsonl"), ("msgpack.gz", "msgpack"), ("mpk", "msgpack")],
)
def test_format_flag_overrides_name(tmp_path: Path, flag: str, expected: str) -> None:
    path = tmp_path / "result.txt"
    path.write_bytes(b"")
    with open_source(path, format=flag) as source:
        assert source.format == expected


def test_gzip_detected_by_content(tmp_path: Path) -> None:
    path = tmp_path / "result.csv"
    path.write_bytes(gzip.compress(b"email\na@example.com\n"))
    assert read_all(open_source(path)) == [(1, {"email": "a@example.com"})]


@pytest.mark.parametrize(
    ("name", "flag", "message"),
    [
        ("in.txt", None, "cannot tell the format of input file {path} from its name; use --format with one of csv, tsv, jsonl, msgpack"),
        ("in.csv", "parquet", "unknown input format 'parquet'; use --format with one of csv, tsv, jsonl, msgpack"),
    ],
)
def test_unknown_format_message(tmp_path: Path, name: str, flag: str | None, message: str) -> None:
    path = tmp_path / name
    path.write_bytes(b"email\n")
    with pytest.raises(UsageError) as caught:
        open_source(path, format=flag)
    assert str(caught.value) == message.format(path=path)
    assert caught.value.exit_code == 2


def test_stdin_without_format_message() -> None:
    with pytest.raises(UsageError) as caught:
        open_source("-", stdin=io.BytesIO(b"email\n"))
    assert str(caught.value) == "cannot tell the format of stdin from its name; use --format with one of csv, tsv, jsonl, msgpack"


def test_missing_file_message(tmp_path: Path) -> None:
    path = tmp_path / "absent.csv"
    with pytest.raises(InputError) as caught:
        open_source(path)
    assert str(caught.value) == f"cannot open input file {path}: No such file or directory"


def test_formats_constant() -> None:
    assert FORMATS == ("csv", "tsv", "jsonl", "msgpack")


# stdin


class UnpeekableReader(io.RawIOBase):
    """A binary stream without ``peek``, like a pipe handed over by a host."""

    def __init__(self, data: bytes):
        self._data = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        return self._data.readinto(buffer)


@pytest.mark.parametrize("compress", [False, True])
def test_stdin_left_open(compress: bool) -> None:
    data = b"email\na@example.com\n"
    stdin = io.BufferedReader(io.BytesIO(gzip.compress(data) if compress else data))
    source = open_source("-", format="csv", stdin=stdin)
    assert read_all(source) == [(1, {"email": "a@example.com"})]
    assert not stdin.closed


def test_stdin_without_peek() -> None:
    stdin = UnpeekableReader(gzip.compress(b"email\na@example.com\n"))
    source = open_source("-", format="csv", stdin=stdin)
    assert read_all(source) == [(1, {"email": "a@example.com"})]
    assert not stdin.closed


def test_file_closed_after_source(tmp_path: Path) -> None:
    path = tmp_path / "in.csv"
    path.write_bytes(b"email\na@example.com\n")
    source = open_source(path)
    stream = source._stream
    read_all(source)
    assert stream.closed


# csv and tsv


@pytest.mark.parametrize(
    ("data", "header", "items"),
    [
        (b"email,name\na@example.com,Ann\n", ["email", "name"], [(1, {"email": "a@example.com", "name": "Ann"})]),
        (b"email,name\r\na@example.com,Ann\r\n", ["email", "name"], [(1, {"email": "a@example.com", "name": "Ann"})]),
        (b"email,name\na@example.com,Ann", ["email", "name"], [(1, {"email": "a@example.com", "name": "Ann"})]),
        (b"\xef\xbb\xbfemail\na@example.com\n", ["email"], [(1, {"email": "a@example.com"})]),
        (b'"\xef\xbb\xbfemail"\na@example.com\n', ["\ufeffemail"], [(1, {"\ufeffemail": "a@example.com"})]),
        (b"email,name\na@example.com,\n", ["email", "name"], [(1, {"email": "a@example.com", "name": ""})]),
        (b'email,name\n"a@example.com","Ann, ""Jr"""\n', ["email", "name"], [(1, {"email": "a@example.com", "name": 'Ann, "Jr"'})]),
        (b'email,name\na@example.com,"two\nlines"\nb@example.com,Bo\n', ["email", "name"], [(1, {"email": "a@example.com", "name": "two\nlines"}), (2, {"email": "b@example.com", "name": "Bo"})]),
        (b"email\n\n\na@example.com\n\nb@example.com\n\n", ["email"], [(1, {"email": "a@example.com"}), (2, {"email": "b@example.com"})]),
        (b"\n\nemail\na@example.com\n", ["email"], [(1, {"email": "a@example.com"})]),
        (b"email,name\n,\n", ["email", "name"], [(1, {"email": "", "name": ""})]),
        (b"email\n   \n", ["email"], [(1, {"email": "   "})]),
        (b"email\na\x00b\n", ["email"], [(1, {"email": "a\x00b"})]),
        (b"email\n\xff@example.com\n", ["email"], [(1, {"email": "\udcff@example.com"})]),
        (b"", [], []),
        (b"email,name\n", ["email", "name"], []),
    ],
)
def test_csv_rows(data: bytes, header: list[str], items: list[Any]) -> None:
    assert read_bytes(data, "csv") == (header, items)


@pytest.mark.parametrize(
    ("data", "items"),
    [
        (
            b"email,name\na@example.com\nb@example.com,Bo\nc@example.com,Cy,extra\nd@example.com,Di\n",
            [
                rejection(1, "has 1 cells but the header has 2 columns"),
                (2, {"email": "b@example.com", "name": "Bo"}),
                rejection(3, "has 3 cells but the header has 2 columns"),
                (4, {"email": "d@example.com", "name": "Di"}),
            ],
        ),
        (
            b'email,name\na@example.com,"Ann"x\nb@example.com,Bo\n',
            [rejection(1, "not valid csv: ',' expected after '\"'"), (2, {"email": "b@example.com", "name": "Bo"})],
        ),
    ],
)
def test_csv_bad_rows_rejected(data: bytes, items: list[Any]) -> None:
    assert read_bytes(data, "csv")[1] == items


@pytest.mark.parametrize(
    ("data", "good", "row"),
    [
        (b'email,name\na@example.com,Ann\nb@example.com,"Bo\nc@example.com,Cy\n', 1, 2),
        (b'email,name\na@example.com,"Ann', 0, 1),
    ],
)
def test_csv_open_quote_ends_stream(data: bytes, good: int, row: int) -> None:
    items, error = read_until_fault(open_source("-", format="csv", stdin=io.BytesIO(data)))
    assert len(items) == good
    assert error.row == row
    assert "a quote is probably not closed" in str(error)


def test_csv_open_quote_in_header() -> None:
    with pytest.raises(InputError) as caught:
        open_source("-", format="csv", stdin=io.BytesIO(b'email,"name\n'))
    assert str(caught.value) == "the header row is not valid csv: unexpected end of data"


def test_csv_ten_megabyte_cell_read() -> None:
    cell = "x" * (10 * 1024 * 1024)
    _, items = read_bytes(f"email,note\na@example.com,{cell}\n".encode(), "csv")
    assert len(items) == 1
    assert len(items[0][1]["note"]) == len(cell)


@pytest.mark.slow
def test_csv_cell_over_bound_ends_stream() -> None:
    data = b'email\n"' + b"x" * (MAX_ROW_SIZE + 10) + b'"\n'
    items, error = read_until_fault(open_source("-", format="csv", stdin=io.BytesIO(data)))
    assert items == []
    assert error.row == 1


@pytest.mark.parametrize(
    ("data", "header", "items"),
    [
        (b"email\tname\na@example.com\tAnn\n", ["email", "name"], [(1, {"email": "a@example.com", "name": "Ann"})]),
        # td job:show --format tsv --column-header ends the header with a tab.
        (b"email\tname\t\na@example.com\tAnn\n", ["email", "name"], [(1, {"email": "a@example.com", "name": "Ann"})]),
        (b"email\tname\t\na@example.com\tAnn\t\n", ["email", "name"], [(1, {"email": "a@example.com", "name": "Ann"})]),
        (b'email\tname\na@example.com\t"Ann\n', ["email", "name"], [(1, {"email": "a@example.com", "name": '"Ann'})]),
        (b"email\tname\na@example.com,Ann\n", ["email", "name"], [rejection(1, "has 1 cells but the header has 2 columns")]),
        (b"email\tname\t\na@example.com\tAnn\tx\n", ["email", "name"], [rejection(1, "has 3 cells but the header has 2 columns")]),
    ],
)
def test_tsv_rows(data: bytes, header: list[str], items: list[Any]) -> None:
    assert read_bytes(data, "tsv") == (header, items)


@pytest.mark.parametrize(
    ("data", "items"),
    [
        (b"a@example.com,Ann\n", [(1, {"email": "a@example.com", "name": "Ann"})]),
        (b"email,name\na@example.com,Ann\n", [(1, {"email": "a@example.com", "name": "Ann"})]),
        (b"a@example.com\n", [rejection(1, "has 1 cells but the header has 2 columns")]),
    ],
)
def test_csv_columns_without_header(data: bytes, items: list[Any]) -> None:
    assert read_bytes(data, "csv", columns=["email", "name"]) == (["email", "name"], items)


# JSON lines and td's JSON arrays


@pytest.mark.parametrize(
    ("data", "header", "items"),
    [
        (b'{"email": "a@example.com", "n": 1}\n', ["email", "n"], [(1, {"email": "a@example.com", "n": 1})]),
        (b'\xef\xbb\xbf{"email": "a@example.com"}\r\n', ["email"], [(1, {"email": "a@example.com"})]),
        (b'\n{"email": "a@example.com"}\n\n{"email": null}', ["email"], [(1, {"email": "a@example.com"}), (2, {"email": None})]),
        (b'{"email": "\xff@example.com"}\n', ["email"], [(1, {"email": "\udcff@example.com"})]),
        (
            b'{"email": "a@example.com"}\n{"email": \n[1]\n"text"\n{"email": "b@example.com", "extra": true}\n',
            ["email"],
            [
                (1, {"email": "a@example.com"}),
                rejection(2, "not valid JSON (column 12: Expecting value)"),
                rejection(3, "is an array, but no columns are set to name its values"),
                rejection(4, "is a string, not a JSON object or an array"),
                (5, {"email": "b@example.com", "extra": True}),
            ],
        ),
        (b'not json\n{"email": "a@example.com"}\n', ["email"], [rejection(1, "not valid JSON (column 1: Expecting value)"), (2, {"email": "a@example.com"})]),
        (b'{"a":' * 100_000 + b"\n" + b'{"email": "a@example.com"}\n', ["email"], [rejection(1, "not valid JSON: nested too deeply"), (2, {"email": "a@example.com"})]),
        (b"", [], []),
    ],
)
def test_jsonl_rows(data: bytes, header: list[str], items: list[Any]) -> None:
    assert read_bytes(data, "jsonl") == (header, items)


@pytest.mark.parametrize(
    ("data", "items"),
    [
        (b'["a@example.com", 1]\n["b@example.com"]\n', [(1, {"email": "a@example.com", "n": 1}), rejection(2, "has 1 values but columns names 2")]),
        # td job:show --format json: "[" + rows joined by ",\n" + "]".
        (b'[["a@example.com",1],\n["b@example.com",2]]', [(1, {"email": "a@example.com", "n": 1}), (2, {"email": "b@example.com", "n": 2})]),
        (b'[\n  {"email": "a@example.com", "n": 1},\n  12345678901234567890,\n  ["b@example.com", 2]\n]\n', [(1, {"email": "a@example.com", "n": 1}), rejection(2, "is a number, not a JSON object or an array"), (3, {"email": "b@example.com", "n": 2})]),
        (b"[]", []),
        (b"[\n]\n", []),
    ],
)
def test_json_arrays_with_columns(data: bytes, items: list[Any]) -> None:
    assert read_bytes(data, "jsonl", columns=["email", "n"]) == (["email", "n"], items)


def test_jsonl_line_over_bound_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sources, "MAX_ROW_SIZE", 100)
    data = b'{"email": "a@example.com"}\n{"note": "' + b"x" * 250 + b'"}\n{"email": "b@example.com"}\n'
    assert read_bytes(data, "jsonl")[1] == [
        (1, {"email": "a@example.com"}),
        rejection(2, "line is longer than 100 characters"),
        (3, {"email": "b@example.com"}),
    ]


def test_json_array_over_many_lines() -> None:
    rows = [[f"user{index}@example.com", index] for index in range(5000)]
    data = ("[" + ",\n".join(json.dumps(row) for row in rows) + "]").encode()
    _, items = read_bytes(data, "jsonl", columns=["email", "n"])
    assert len(items) == 5000
    assert items[-1] == (5000, {"email": "user4999@example.com", "n": 4999})


@pytest.mark.parametrize(
    ("data", "good", "row", "message"),
    [
        (b'[["a@example.com",1],\n["b@example.com",2]', 2, 3, "the JSON array is not closed with ] (the file is truncated)"),
        (b'[["a@example.com",1],\n["b@example.com",', 1, 2, "not valid JSON: Expecting value"),
        (b'[["a@example.com",1] ["b@example.com",2]]', 1, 2, "not valid JSON: expected , or ] after a row"),
    ],
)
def test_json_array_fault_ends_stream(data: bytes, good: int, row: int, message: str) -> None:
    source = open_source("-", format="jsonl", stdin=io.BytesIO(data), columns=["email", "n"])
    items, error = read_until_fault(source)
    assert len(items) == good
    assert error.row == row
    assert str(error) == f"row {row}: {message}"


@pytest.mark.parametrize(
    ("data", "format"),
    [
        (b'["a@example.com", 1]\n', "jsonl"),
        (b'[["a@example.com", 1]]', "jsonl"),
        (pack(["a@example.com", 1]), "msgpack"),
    ],
)
def test_array_rows_need_columns(data: bytes, format: str) -> None:
    with pytest.raises(InputError) as caught:
        open_source("-", format=format, stdin=io.BytesIO(data))
    assert caught.value.row == 1
    assert str(caught.value) == "row 1: rows are arrays without column names; set columns in the settings to name the values"


# msgpack


@pytest.mark.parametrize(
    ("rows", "columns", "header", "items"),
    [
        ([{"email": "a@example.com", "n": 1}], None, ["email", "n"], [(1, {"email": "a@example.com", "n": 1})]),
        ([["a@example.com", 1]], ["email", "n"], ["email", "n"], [(1, {"email": "a@example.com", "n": 1})]),
        ([{1: "x", b"raw": "y"}], None, ["1", "raw"], [(1, {"1": "x", "raw": "y"})]),
        (
            [["a@example.com", 1], ["b@example.com"], 7, None, {"email": "c@example.com"}, ["d@example.com", 4]],
            ["email", "n"],
            ["email", "n"],
            [
                (1, {"email": "a@example.com", "n": 1}),
                rejection(2, "has 1 values but columns names 2"),
                rejection(3, "is a number, not a map or an array"),
                rejection(4, "is null, not a map or an array"),
                (5, {"email": "c@example.com"}),
                (6, {"email": "d@example.com", "n": 4}),
            ],
        ),
        ([7, {"email": "a@example.com"}], None, ["email"], [rejection(1, "is a number, not a map or an array"), (2, {"email": "a@example.com"})]),
        ([], None, [], []),
        ([], ["email"], ["email"], []),
    ],
)
@pytest.mark.parametrize("compress", [False, True])
def test_msgpack_rows(rows: list[Any], columns: list[str] | None, header: list[str], items: list[Any], compress: bool) -> None:
    data = pack(*rows)
    assert read_bytes(gzip.compress(data) if compress else data, "msgpack", columns=columns) == (header, items)


def test_msgpack_keeps_types() -> None:
    _, items = read_bytes(pack({"email": "a@example.com", "n": 1.5, "ok": True, "tags": ["x"], "blob": b"\x00"}), "msgpack")
    assert items == [(1, {"email": "a@example.com", "n": 1.5, "ok": True, "tags": ["x"], "blob": b"\x00"})]


def test_msgpack_invalid_utf8_kept_as_surrogates() -> None:
    data = msgpack.packb({"email": "x"}).replace(b"\xa1x", b"\xa1\xff")
    assert read_bytes(data, "msgpack")[1] == [(1, {"email": "\udcff"})]


@pytest.mark.parametrize(
    ("data", "good", "row", "message"),
    [
        (pack(["a@example.com", 1], ["b@example.com", 2]) + msgpack.packb(["c@example.com", 3])[:-1], 2, 3, "the msgpack stream ends inside a row (the file is truncated)"),
        (pack(["a@example.com", 1]) + b"\xc1" + pack(["b@example.com", 2]), 1, 2, "the msgpack stream cannot be decoded further: "),
        # A string length prefix of 4 GiB must fail, not allocate.
        (pack(["a@example.com", 1]) + b"\xdb\xff\xff\xff\xff" + b"x" * (MAX_ROW_SIZE + 1), 1, 2, None),
        (pack(["a@example.com", 1]) + b"\xdd\xff\xff\xff\xff" + b"\x01" * 16, 1, 2, None),
        (pack(["a@example.com", 1]) + b"\x81\x80\x01\x02", 1, 2, "the msgpack stream cannot be decoded further: "),
    ],
)
def test_msgpack_fault_ends_stream(data: bytes, good: int, row: int, message: str | None) -> None:
    source = open_source("-", format="msgpack", stdin=io.BytesIO(data), columns=["email", "n"])
    items, error = read_until_fault(source)
    assert len(items) == good
    assert error.row == row
    if message is not None:
        assert str(error).startswith(f"row {row}: {message}")


# Truncated and corrupt gzip


def big_input(format: str, rows: int) -> bytes:
    emails = [f"user{index}@example.com" for index in range(rows)]
    if format == "csv":
        return ("email,n\n" + "".join(f"{email},{index}\n" for index, email in enumerate(emails))).encode()
    if format == "tsv":
        return ("email\tn\n" + "".join(f"{email}\t{index}\n" for index, email in enumerate(emails))).encode()
    if format == "jsonl":
        return "".join(json.dumps({"email": email, "n": index}) + "\n" for index, email in enumerate(emails)).encode()
    return pack(*({"email": email, "n": index} for index, email in enumerate(emails)))


@pytest.mark.parametrize("format", FORMATS)
def test_truncated_gzip_keeps_earlier_rows(tmp_path: Path, format: str) -> None:
    compressed = gzip.compress(big_input(format, 50_000))
    path = tmp_path / f"result.{format}.gz"
    path.write_bytes(compressed[: len(compressed) * 3 // 4])

    items, error = read_until_fault(open_source(path))

    assert 30_000 < len(items) < 50_000
    assert [item[0] for item in items] == list(range(1, len(items) + 1))
    assert items[-1][1]["email"] == f"user{len(items) - 1}@example.com"
    assert error.row == len(items) + 1
    assert str(error) == f"row {error.row}: the compressed input ends early (the file is truncated)"


@pytest.mark.parametrize("format", FORMATS)
def test_corrupt_gzip_ends_stream(tmp_path: Path, format: str) -> None:
    compressed = bytearray(gzip.compress(big_input(format, 2000)))
    compressed[len(compressed) // 2 : len(compressed) // 2 + 16] = b"\x00" * 16
    path = tmp_path / f"result.{format}.gz"
    path.write_bytes(bytes(compressed))
    try:
        source = open_source(path)
    except InputError as error:
        assert "compressed input" in str(error)
        return
    items, error = read_until_fault(source)
    assert error.row == len(items) + 1
    assert items[0] == (1, {"email": "user0@example.com", "n": "0" if format in ("csv", "tsv") else 0})


# Streaming


@pytest.mark.parametrize("format", FORMATS)
def test_reads_without_loading_whole_input(format: str) -> None:
    class CountingStream(io.BytesIO):
        """A stream that records the largest single read request."""

        largest_read = 0

        def read1(self, size: int = -1) -> bytes:
            CountingStream.largest_read = max(CountingStream.largest_read, size)
            return super().read1(size)

        def read(self, size: int | None = -1) -> bytes:
            CountingStream.largest_read = max(CountingStream.largest_read, size if size is not None and size >= 0 else 1 << 62)
            return super().read(size)

    data = big_input(format, 20_000)
    source = open_source("-", format=format, stdin=CountingStream(data))
    assert sum(1 for _ in source) == 20_000
    assert CountingStream.largest_read <= 1 << 20


# Properties: any bytes give rows, rejections or an InputError, never another exception


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(data=st.binary(max_size=400), format=st.sampled_from(["csv", "tsv"]))
def test_delimited_any_bytes(data: bytes, format: str) -> None:
    check_any_bytes(data, format)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(
    data=st.one_of(
        st.binary(max_size=400),
        st.lists(st.text(alphabet='{}[]",:0123456789 \n\tabcenulrtf\\\x00\udc80é', max_size=40), max_size=10).map(
            lambda lines: "\n".join(lines).encode("utf-8", "surrogateescape")
        ),
    ),
    columns=st.sampled_from([None, ["email", "n"]]),
)
def test_jsonl_any_bytes(data: bytes, columns: list[str] | None) -> None:
    check_any_bytes(data, "jsonl", columns=columns)


@settings(max_examples=200, deadline=None)
@given(rows=st.lists(st.lists(st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=12), min_size=2, max_size=2), max_size=20))
def test_csv_round_trip(rows: list[list[str]]) -> None:
    import csv

    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer)
    writer.writerow(["email", "name"])
    writer.writerows(rows)
    _, items = read_bytes(buffer.getvalue().encode(), "csv")
    expected = [dict(zip(["email", "name"], row)) for row in rows]
    assert [item[1] for item in items] == expected
    assert [item[0] for item in items] == list(range(1, len(expected) + 1))


def check_any_bytes(data: bytes, format: str, columns: list[str] | None = None) -> None:
    try:
        source = open_source("-", format=format, stdin=io.BytesIO(data), columns=columns)
    except InputError:
        return
    numbers = []
    try:
        with source:
            for item in source:
                if isinstance(item, Rejection):
                    numbers.append(item.row)
                    assert item.column is None
                else:
                    number, row = item
                    numbers.append(number)
                    assert isinstance(row, dict)
    except InputError as error:
        assert error.row == (numbers[-1] if numbers else 0) + 1
    assert numbers == list(range(1, len(numbers) + 1))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # Quoted, as spreadsheet programs and pandas write tsv: quotes are syntax.
        ('"email"\t"name"\n"a@example.com"\t"Bo ""B"" Lee"\n', {"email": "a@example.com", "name": 'Bo "B" Lee'}),
        # Unquoted, as td job:show writes it: a quote is plain text.
        ('email\tname\na@example.com\tAnn "A"\n', {"email": "a@example.com", "name": 'Ann "A"'}),
    ],
)
def test_tsv_quoting_follows_header(tmp_path: Path, text: str, expected: dict) -> None:
    path = tmp_path / "result.tsv"
    path.write_text(text, encoding="utf-8")
    assert read_all(open_source(path)) == [(1, expected)]
