"""Worker processes must give exactly what one process gives: the same members, rejections, row numbers and faults.

Most cases build each block in this process (``in_process``) so that hypothesis can try many inputs and
block sizes cheaply. The cut into blocks, the hand-over to the job's process on a csv error and the
tail after a stream fault are the same code either way. A few cases start real worker processes.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import logging
import os
import signal
from dataclasses import dataclass
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from td_output_linkedin import parallel
from td_output_linkedin.columns import resolve_columns
from td_output_linkedin.errors import InputError
from td_output_linkedin.joblog import JobLog
from td_output_linkedin.parallel import BuiltChunk, ParallelBuilder, build_block, parallel_chunks
from td_output_linkedin.records import Member, Rejection, make_builder
from td_output_linkedin.sources import RowSource

HEADER = "email,first_name,last_name,country,google_aid"


@dataclass
class Outcome:
    """Everything a reader gives, in order: comparable between one process and workers."""

    rows_read: int
    members: list[tuple[int, dict[str, Any], int]]
    left_out: dict[str, int]
    rejections: list[tuple[int, str | None, str]]
    error: tuple[str, int | None] | None


def columns_of(source: RowSource, audience_type: str = "users") -> Any:
    return resolve_columns(source.header, audience_type, require_identifier=False)


def builder_for(source: RowSource, audience_type: str = "users") -> Any:
    return make_builder(columns_of(source, audience_type), "ADD")


def read_in_one_process(
    data: bytes, format: str = "csv", columns: list[str] | None = None, audience_type: str = "users"
) -> Outcome:
    source = RowSource(io.BytesIO(data), format, columns=columns)
    build = builder_for(source, audience_type)
    outcomes = []
    error = None
    try:
        for item in source:
            outcomes.append(item if isinstance(item, Rejection) else build(*item))
    except InputError as caught:
        error = (str(caught), caught.row)
    return outcome_of([BuiltChunk.of(outcomes)], error)


def read_with_blocks(
    data: bytes, format: str = "csv", columns: list[str] | None = None, workers: int = 2, audience_type: str = "users"
) -> Outcome:
    source = RowSource(io.BytesIO(data), format, columns=columns)
    log = JobLog(logging.getLogger("test"))
    chunks = parallel_chunks(source, columns_of(source, audience_type), "ADD", workers, log)
    assert chunks is not None
    collected: list[BuiltChunk] = []
    error = None
    try:
        for chunk in chunks:
            collected.append(chunk)
    except InputError as caught:
        error = (str(caught), caught.row)
    finally:
        chunks.close()
    return outcome_of(collected, error)


def outcome_of(chunks: list[BuiltChunk], error: tuple[str, int | None] | None) -> Outcome:
    left_out: dict[str, int] = {}
    for chunk in chunks:
        for column, count in chunk.left_out.items():
            left_out[column] = left_out.get(column, 0) + count
    return Outcome(
        rows_read=sum(chunk.rows_read for chunk in chunks),
        members=[
            (row, element, fingerprint)
            for chunk in chunks
            for row, element, fingerprint in zip(chunk.rows, chunk.elements, chunk.fingerprints)
        ],
        left_out=left_out,
        rejections=[tuple(rejection) for chunk in chunks for rejection in chunk.rejections],  # type: ignore[misc]
        error=error,
    )


@pytest.fixture
def in_process(monkeypatch: pytest.MonkeyPatch) -> None:
    """Build each block in this process, through the same cut and hand-over code as with workers."""
    monkeypatch.setattr(ParallelBuilder, "_submit", lambda self, block: build_block(block, self._job))


def contact_rows(count: int) -> bytes:
    lines = [HEADER]
    for number in range(count):
        if number % 50 == 7:
            lines.append("not-an-email,,,US,")
        elif number % 31 == 3:
            lines.append(f'"quoted{number}@example.com","Smith, Jr.","Line\nBreak",de,')
        else:
            lines.append(f"person{number % 900}@example.com,Ann,Lee,XX,")
    return ("\n".join(lines) + "\n").encode()


# Cells that a careful csv writer produces, and cells that break csv: a quote inside an unquoted cell,
# a quote left open, a line break inside an unquoted cell, bytes that are not UTF-8.
CELLS = [
    "a@example.com", " B@Example.COM ", "", "NULL", "x", "Ann", "García", "us", "ZZ",
    "5d41402abc4b2a76b9719d911017c592aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    '"quoted@example.com"', '"Smith, Jr."', '"two\nlines"', '"say ""hi"""', '"crlf\r\ninside"',
    'a"b', '"open', 'x"', "bad\xff", "\ufeffbom@example.com",
]
TERMINATORS = ["\n", "\n", "\n", "\r\n", "\r"]


@st.composite
def csv_documents(draw: st.DrawFn) -> bytes:
    rows = draw(
        st.lists(
            st.tuples(
                st.lists(st.sampled_from(CELLS), min_size=0, max_size=6),
                st.sampled_from(TERMINATORS),
            ),
            max_size=25,
        )
    )
    text = HEADER + "\n" + "".join(",".join(cells) + terminator for cells, terminator in rows)
    if draw(st.booleans()):
        text = text.rstrip("\r\n")
    return text.encode("utf-8", "surrogateescape").replace("\udcff".encode("utf-8", "surrogateescape"), b"\xff")


# A last line of hex digits that compresses poorly, so that cutting the compressed file leaves the header.
FILLER = "".join(hashlib.sha256(str(number).encode()).hexdigest() for number in range(100)).encode()

BLOCKS = settings(
    max_examples=400,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@BLOCKS
@given(data=csv_documents(), block_chars=st.integers(1, 120), max_carry=st.sampled_from([40, 1 << 20]))
def test_blocks_give_what_one_process_gives(
    in_process: None, monkeypatch: pytest.MonkeyPatch, data: bytes, block_chars: int, max_carry: int
) -> None:
    monkeypatch.setattr(parallel, "BLOCK_CHARS", block_chars)
    monkeypatch.setattr(parallel, "MAX_CARRY_CHARS", max_carry)

    assert read_with_blocks(data) == read_in_one_process(data)


@BLOCKS
@given(data=csv_documents(), block_chars=st.integers(1, 120), cut=st.integers(1, 3000))
def test_truncated_gzip_gives_what_one_process_gives(
    in_process: None, monkeypatch: pytest.MonkeyPatch, data: bytes, block_chars: int, cut: int
) -> None:
    monkeypatch.setattr(parallel, "BLOCK_CHARS", block_chars)
    body = data.partition(b"\n")[2] or b"a@example.com,Ann,Lee,US,\n"
    compressed = gzip.compress(HEADER.encode() + b"\n" + body * 20 + FILLER)
    # The cut falls inside the hard-to-compress filler after the rows, or in the rows before it.
    truncated = compressed[: len(compressed) - cut]

    expected = read_in_one_process(truncated)
    assert read_with_blocks(truncated) == expected


@pytest.mark.parametrize("quoted_header", [False, True])
@BLOCKS
@given(data=csv_documents(), block_chars=st.integers(1, 120))
def test_tsv_blocks_give_what_one_process_gives(
    in_process: None, monkeypatch: pytest.MonkeyPatch, quoted_header: bool, data: bytes, block_chars: int
) -> None:
    monkeypatch.setattr(parallel, "BLOCK_CHARS", block_chars)
    tsv = data.replace(b",", b"\t")
    if quoted_header:
        tsv = b'"email"' + tsv[len(b"email") :]

    assert read_with_blocks(tsv, "tsv") == read_in_one_process(tsv, "tsv")


@pytest.mark.parametrize(
    "first_line",
    [
        pytest.param(HEADER, id="first row equal to columns is the header"),
        pytest.param("c@example.com,Cy,Doe,FR,", id="first row is data"),
    ],
)
def test_columns_setting_numbers_rows_alike(in_process: None, monkeypatch: pytest.MonkeyPatch, first_line: str) -> None:
    monkeypatch.setattr(parallel, "BLOCK_CHARS", 16)
    data = (first_line + "\na@example.com,Ann,Lee,US,\nbad,Bo,Ray,DE,\n").encode()
    columns = HEADER.split(",")

    expected = read_in_one_process(data, columns=columns)
    assert read_with_blocks(data, columns=columns) == expected
    assert expected.rows_read == (3 if first_line != HEADER else 2)


def test_worker_processes_give_what_one_process_gives() -> None:
    data = contact_rows(12_000)

    expected = read_in_one_process(data)
    outcome = read_with_blocks(data, workers=2)

    assert outcome == expected
    assert outcome.rows_read == 12_000
    assert [row for row, _, _ in outcome.members][:5] == [1, 2, 3, 4, 5]
    rejected = [number + 1 for number in range(12_000) if number % 50 == 7]
    assert [row for row, _, _ in outcome.rejections] == rejected
    assert outcome.rejections[0] == (8, "email", "not a valid email address")
    # Plain rows carry the unassigned country XX, quoted ones a last name with a line break.
    quoted = sum(1 for number in range(12_000) if number % 50 != 7 and number % 31 == 3)
    assert outcome.left_out == {"country": 12_000 - len(rejected) - quoted, "last_name": quoted}


def test_worker_processes_build_companies_alike() -> None:
    lines = ["company_name,company_website_domain,company_page_url,country"]
    for number in range(6_000):
        domain = "not a domain" if number % 40 == 3 else f"www.company{number % 700}.example.com"
        lines.append(f"Company {number % 700},{domain},https://www.linkedin.com/company/c{number},de")
    data = ("\r\n".join(lines) + "\r\n").encode()

    expected = read_in_one_process(data, audience_type="companies")
    outcome = read_with_blocks(data, audience_type="companies")

    assert outcome == expected
    assert outcome.rows_read == 6_000
    assert outcome.left_out == {"company_web_site_domain": 150}
    assert orjson.loads(outcome.members[0][1])["companyWebsiteDomain"] == "company0.example.com"


def test_dead_worker_hands_over_rest(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(parallel, "BLOCK_CHARS", 4096)
    data = contact_rows(12_000)
    expected = read_in_one_process(data)
    source = RowSource(io.BytesIO(data), "csv")
    chunks = parallel_chunks(source, columns_of(source), "ADD", 2, JobLog(logging.getLogger("test")))
    assert chunks is not None

    with caplog.at_level(logging.WARNING):
        iterator = iter(chunks)
        collected = [next(iterator), next(iterator)]
        assert chunks._executor is not None
        for pid in list(chunks._executor._processes):  # type: ignore[attr-defined]
            os.kill(pid, signal.SIGKILL)
        collected.extend(iterator)

    assert outcome_of(collected, None) == expected
    assert "worker processes failed or could not start (BrokenProcessPool); reading the rest of the input in the job's process" in caplog.text


def test_small_input_starts_no_process(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_pool(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("a pool was started for a one-block input")

    monkeypatch.setattr(parallel, "ProcessPoolExecutor", no_pool)
    data = contact_rows(100)

    assert read_with_blocks(data) == read_in_one_process(data)


@pytest.mark.parametrize(
    ("format", "data", "columns"),
    [
        ("jsonl", b'{"email": "a@example.com"}\n', None),
        ("msgpack", b"\x81\xa5email\xada@example.com", None),
    ],
)
def test_other_formats_stay_in_one_process(format: str, data: bytes, columns: list[str] | None) -> None:
    source = RowSource(io.BytesIO(data), format, columns=columns)

    assert parallel_chunks(source, columns_of(source), "ADD", 2, JobLog(logging.getLogger("test"))) is None
    assert len(list(source)) == 1


def test_one_worker_means_one_process() -> None:
    source = RowSource(io.BytesIO(contact_rows(10)), "csv")

    assert parallel_chunks(source, columns_of(source), "ADD", 1, JobLog(logging.getLogger("test"))) is None
    assert len(list(source)) == 10


@pytest.mark.parametrize("exact_size", [False, True])
def test_chunk_keeps_builder_outcomes(exact_size: bool) -> None:
    source = RowSource(io.BytesIO(b"email\nA@Example.com\n"), "csv")
    build = builder_for(source)
    outcome = build(1, {"email": "A@Example.com"})
    rejection = build(2, {"email": "not-an-email"})
    assert isinstance(outcome, Member)

    chunk = BuiltChunk.of([outcome, rejection], exact_size=exact_size)

    assert chunk.rows_read == 2
    assert chunk.rows == [1]
    assert chunk.elements == [orjson.dumps(outcome.element)]
    assert chunk.fingerprints == [outcome.fingerprint]
    assert chunk.rejections == [rejection]


@pytest.mark.parametrize(("setting", "expected"), [(1, 1), (3, 3), (0, min(len(os.sched_getaffinity(0)), 8))])
def test_worker_count(setting: int, expected: int) -> None:
    assert parallel.worker_count(setting) == expected


def test_no_fork_reads_in_the_job_process(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    def no_fork(method: str) -> Any:
        raise ValueError(f"cannot find context for {method!r}")

    monkeypatch.setattr(parallel, "get_context", no_fork)
    monkeypatch.setattr(parallel, "BLOCK_CHARS", 4096)
    data = contact_rows(3_000)

    with caplog.at_level(logging.WARNING):
        outcome = read_with_blocks(data)

    assert outcome == read_in_one_process(data)
    assert "worker processes failed or could not start (ValueError)" in caplog.text


def test_csv_error_hands_over_with_a_log_line(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr(parallel, "BLOCK_CHARS", 4096)
    lines = [HEADER + "\n"] + [f"person{number}@example.com,Ann,Lee,US,\n" for number in range(1, 8_001)]
    # A quoted cell followed by more text is a csv error, here in row 6,000.
    lines[6_000] = '"closed"then,Ann,Lee,US,\n'
    data = "".join(lines).encode()

    with caplog.at_level(logging.INFO):
        outcome = read_with_blocks(data)

    assert outcome == read_in_one_process(data)
    assert (6_000, None, "not valid csv: ',' expected after '\"'") in outcome.rejections
    messages = [record.getMessage() for record in caplog.records]
    handed_over = [message for message in messages if "csv error in the block" in message]
    assert len(handed_over) == 1
    first_row = int(handed_over[0].split("from row ")[1].split(" ")[0])
    assert 5_800 < first_row <= 6_000


def test_stray_quote_hands_over_without_growing_blocks(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(parallel, "BLOCK_CHARS", 4096)
    lines = [HEADER + "\n"] + [f"person{number}@example.com,Ann,Lee,US,\n" for number in range(1, 20_001)]
    # csv reads a quote inside an unquoted cell as text, so the quotes never pair up after row 10,000.
    lines[10_000] = 'person10000@example.com,Ann,O"Lee,US,\n'
    data = "".join(lines).encode()
    block_sizes: list[int] = []
    real_submit = ParallelBuilder._submit

    def record_size(self: ParallelBuilder, block: str) -> Any:
        block_sizes.append(len(block))
        return real_submit(self, block)

    monkeypatch.setattr(ParallelBuilder, "_submit", record_size)
    with caplog.at_level(logging.INFO):
        outcome = read_with_blocks(data)

    assert outcome == read_in_one_process(data)
    assert outcome.rows_read == 20_000
    assert "row 10000 has a quote that no later line closes" in caplog.text
    # Without the hand-over, the carried text grew to the end of the input and went out as one block.
    assert max(block_sizes) <= 2 * 4096


def test_narrow_rows_make_smaller_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    data = ("email\n" + "".join(f"u{number}@example.com\n" for number in range(60_000))).encode()
    rows_per_block: list[int] = []
    real_submit = ParallelBuilder._submit

    def record_rows(self: ParallelBuilder, block: str) -> Any:
        rows_per_block.append(block.count("\n"))
        return real_submit(self, block)

    monkeypatch.setattr(ParallelBuilder, "_submit", record_rows)
    outcome = read_with_blocks(data)

    assert outcome.rows_read == 60_000
    # The first block is cut at the character limit, about 13,000 of these rows; the rest at about 3,000.
    assert rows_per_block[0] > 10_000
    assert max(rows_per_block[1:]) <= parallel.BLOCK_ROWS + 1
    assert sum(rows_per_block) == 60_000
