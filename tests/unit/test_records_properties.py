"""Properties that hold for any row: a member or a rejection, never an exception or a leak."""

from __future__ import annotations

import hashlib
import json
import unicodedata

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from td_output_linkedin.columns import COMPANY_COLUMNS, USER_COLUMNS, resolve_columns
from td_output_linkedin.errors import InputError
from td_output_linkedin.records import Member, Rejection, make_builder
from td_output_linkedin.records.identifiers import normalize_email

ALIASES_BY_COLUMN = {"company_web_site_domain": "company_website_domain"}
USER_HEADER = list(USER_COLUMNS)
# The website-domain column under its alias, to read rows through an alias too.
COMPANY_HEADER = [ALIASES_BY_COLUMN.get(column, column) for column in COMPANY_COLUMNS]
INTERNAL_ERROR_PREFIX = "could not be read"

# Every code point, surrogates and control characters included.
any_character = st.characters(min_codepoint=0, max_codepoint=0x10FFFF, exclude_categories=())
plausible = st.sampled_from(
    [
        "mary@example.com",
        " Mary.Ann+x@Example.COM ",
        hashlib.sha256(b"x").hexdigest().upper(),
        hashlib.sha512(b"x").hexdigest(),
        "6d92078a-8246-4ba4-ae5b-76104861e7dc",
        "00000000-0000-0000-0000-000000000000",
        "US",
        "NULL",
        "",
        "   ",
        "e\u0301" * 40,
        "https://www.linkedin.com/company/acme",
        "https://www.b\u00fccher.de/x",
        "urn:li:organization:1035",
        "a,b,c,d",
        "x" * 100_000,
    ]
)
cell = st.one_of(
    st.none(),
    st.text(any_character, max_size=80),
    st.text(any_character, min_size=5_000, max_size=20_000),
    plausible,
    st.integers(),
    st.integers(min_value=10**4300, max_value=10**4400),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.binary(max_size=64),
    st.lists(st.text(max_size=5), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
    st.tuples(st.integers()),
    st.builds(object),
)


def check_result(result, row_number: int, row: dict, action: str) -> None:
    assert isinstance(result, (Member, Rejection))
    assert result.row == row_number

    if isinstance(result, Rejection):
        assert isinstance(result.reason, str)
        assert result.reason
        assert not result.reason.startswith(INTERNAL_ERROR_PREFIX)
        for value in row.values():
            if isinstance(value, str) and len(value.strip()) >= 6:
                assert value.strip() not in result.reason
        return

    element = result.element
    assert element["action"] == action
    assert 0 <= result.fingerprint < 2**64
    body = json.dumps(element, ensure_ascii=False, allow_nan=False)
    body.encode("utf-8")
    for field, value in element.items():
        assert value is not None, field
        assert value != "", field
        texts = value if isinstance(value, list) else [value]
        for text in texts:
            if isinstance(text, str):
                assert text == text.strip(), field
                assert not any(unicodedata.category(character) == "Cc" for character in text), field


def check_user_element(element: dict) -> None:
    assert isinstance(element["userIds"], list)
    if not element["userIds"]:
        assert "firstName" in element
        assert "lastName" in element
    for user_id in element["userIds"]:
        assert user_id["idType"] in ("SHA256_EMAIL", "SHA512_EMAIL", "GOOGLE_AID")
        assert "@" not in user_id["idValue"]
    for field, limit in (("firstName", 35), ("lastName", 35), ("company", 50), ("title", 50)):
        if field in element:
            assert len(element[field]) <= limit


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.large_base_example])
@given(row=st.fixed_dictionaries({}, optional={name: cell for name in USER_HEADER}), row_number=st.integers(1, 10**9))
def test_any_user_row_gives_result(row, row_number):
    build = make_builder(resolve_columns(USER_HEADER, "users"), "ADD")

    result = build(row_number, row)

    check_result(result, row_number, row, "ADD")
    if isinstance(result, Member):
        check_user_element(result.element)
        assert build(row_number, row) == result


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.large_base_example])
@given(row=st.fixed_dictionaries({}, optional={name: cell for name in COMPANY_HEADER}), row_number=st.integers(1, 10**9))
def test_any_company_row_gives_result(row, row_number):
    build = make_builder(resolve_columns(COMPANY_HEADER, "companies"), "REMOVE")

    result = build(row_number, row)

    check_result(result, row_number, row, "REMOVE")
    if isinstance(result, Member):
        identifying = {"companyName", "companyWebsiteDomain", "companyEmailDomain", "organizationUrn", "companyPageUrl"}
        assert identifying & set(result.element)
        assert build(row_number, row) == result


@settings(max_examples=100, deadline=None)
@given(row=st.one_of(st.none(), st.integers(), st.lists(st.integers()), st.text()))
def test_row_that_is_no_mapping_is_rejected(row):
    build = make_builder(resolve_columns(["email"], "users"), "ADD")

    result = build(1, row)

    assert isinstance(result, Rejection)
    assert result.row == 1
    assert result.reason.startswith(INTERNAL_ERROR_PREFIX)


@settings(max_examples=300, deadline=None)
@given(address=st.emails(), padding=st.sampled_from(["", " ", "\t", "  \n"]))
def test_plain_address_hash_is_exact(address, padding):
    assume(len(address) <= 254)

    result = normalize_email(padding + address + padding)

    assert result == ("SHA256_EMAIL", hashlib.sha256(address.lower().encode("utf-8")).hexdigest())


@settings(max_examples=200, deadline=None)
@given(
    header=st.lists(
        st.one_of(st.sampled_from(USER_HEADER + COMPANY_HEADER), st.text(any_character, max_size=12)),
        max_size=8,
    ),
    audience_type=st.sampled_from(["users", "companies"]),
)
def test_any_header_resolves_or_raises_input_error(header, audience_type):
    try:
        columns = resolve_columns(header, audience_type)
    except InputError:
        return

    assert set(columns.sources.values()) <= set(header)
    assert len(columns.sources) + len(columns.unknown) + len(columns.other_type) == len(header)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.large_base_example])
@given(
    audience_type=st.sampled_from(["users", "companies"]),
    data=st.data(),
    row_number=st.integers(1, 10**9),
)
def test_cells_in_header_order_build_alike(audience_type, data, row_number):
    header = USER_HEADER if audience_type == "users" else COMPANY_HEADER
    # csv cells are text, so only text cells: every column present, as in a csv row.
    text_cell = st.one_of(st.text(any_character, max_size=80), plausible)
    values = data.draw(st.lists(text_cell, min_size=len(header), max_size=len(header)))
    columns = resolve_columns(header, audience_type)

    from_mapping = make_builder(columns, "ADD")(row_number, dict(zip(header, values)))
    from_cells = make_builder(columns, "ADD", header=header)(row_number, values)

    assert from_cells == from_mapping
    assert not (isinstance(from_cells, Rejection) and from_cells.reason.startswith(INTERNAL_ERROR_PREFIX))
