from __future__ import annotations

import hashlib
import json

import pytest

from td_output_linkedin.columns import resolve_columns
from td_output_linkedin.records import Member, Rejection, make_builder

GAID = "6d92078a-8246-4ba4-ae5b-76104861e7dc"
IDFA = "AB5E2F43-5E0F-4F6B-9B8C-0F6A3C1D2E4F"
SHA256_HEX = hashlib.sha256(b"mary@example.com").hexdigest()
SHA512_HEX = hashlib.sha512(b"mary@example.com").hexdigest()
NO_IDENTIFIER = "no identifier: a row needs email, google_aid, or both first_name and last_name"
ONLY_IDFA = "only identifier is apple_idfa, which LinkedIn no longer accepts"
NAME_MISSING = "missing: without email or google_aid, a row needs both first_name and last_name"
ALL_COLUMNS = ["email", "google_aid", "apple_idfa", "first_name", "last_name", "company", "title", "country"]


def sha256_of(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def build_row(row: dict, *, header: list[str] | None = None, action: str = "ADD", row_number: int = 7):
    build = make_builder(resolve_columns(header or ALL_COLUMNS, "users"), action)
    return build(row_number, row)


def email_id(address: str) -> dict[str, str]:
    return {"idType": "SHA256_EMAIL", "idValue": sha256_of(address)}


@pytest.mark.parametrize(
    ("row", "expected_element", "expected_dropped"),
    [
        (
            {"email": "Mary@Example.com", "first_name": "Mary Ann", "country": "us"},
            {"action": "ADD", "userIds": [email_id("mary@example.com")], "firstName": "Mary Ann", "country": "US"},
            (),
        ),
        (
            {"email": SHA256_HEX.upper(), "last_name": " Smith "},
            {"action": "ADD", "userIds": [{"idType": "SHA256_EMAIL", "idValue": SHA256_HEX}], "lastName": "Smith"},
            (),
        ),
        (
            {"email": SHA512_HEX},
            {"action": "ADD", "userIds": [{"idType": "SHA512_EMAIL", "idValue": SHA512_HEX}]},
            (),
        ),
        (
            {"google_aid": GAID.upper().replace("-", "")},
            {"action": "ADD", "userIds": [{"idType": "GOOGLE_AID", "idValue": GAID}]},
            (),
        ),
        (
            {"email": "mary@example.com", "google_aid": GAID},
            {"action": "ADD", "userIds": [email_id("mary@example.com"), {"idType": "GOOGLE_AID", "idValue": GAID}]},
            (),
        ),
        (
            {"first_name": "Mary Ann", "last_name": "Smith", "company": "Acme", "title": "CTO"},
            {"action": "ADD", "userIds": [], "firstName": "Mary Ann", "lastName": "Smith", "company": "Acme", "title": "CTO"},
            (),
        ),
        (
            {"email": "mary@example.com", "title": "x" * 60, "country": "USA", "company": "Acme"},
            {"action": "ADD", "userIds": [email_id("mary@example.com")], "company": "Acme"},
            ("title", "country"),
        ),
        (
            {"email": "mary@example.com", "apple_idfa": IDFA},
            {"action": "ADD", "userIds": [email_id("mary@example.com")]},
            ("apple_idfa",),
        ),
        (
            {"email": "mary@example.com", "apple_idfa": "not-a-uuid"},
            {"action": "ADD", "userIds": [email_id("mary@example.com")]},
            ("apple_idfa",),
        ),
        (
            {"email": "not an address", "google_aid": GAID},
            {"action": "ADD", "userIds": [{"idType": "GOOGLE_AID", "idValue": GAID}]},
            ("email",),
        ),
        (
            {"email": "mary@example.com", "google_aid": "00000000-0000-0000-0000-000000000000"},
            {"action": "ADD", "userIds": [email_id("mary@example.com")]},
            ("google_aid",),
        ),
        (
            {"email": "bad", "google_aid": "bad", "first_name": "Mary", "last_name": "Smith"},
            {"action": "ADD", "userIds": [], "firstName": "Mary", "lastName": "Smith"},
            ("email", "google_aid"),
        ),
        (
            {"email": "mary@example.com", "first_name": "x" * 36, "last_name": ["Smith"]},
            {"action": "ADD", "userIds": [email_id("mary@example.com")]},
            ("first_name", "last_name"),
        ),
    ],
)
def test_user_row_becomes_element(row, expected_element, expected_dropped):
    member = build_row(row)

    assert isinstance(member, Member)
    assert member.row == 7
    assert member.element == expected_element
    assert member.dropped == expected_dropped


@pytest.mark.parametrize(
    ("row", "column", "reason"),
    [
        ({}, None, NO_IDENTIFIER),
        ({"email": "", "title": "CTO", "country": "US"}, None, NO_IDENTIFIER),
        ({"email": "NULL", "google_aid": "  "}, None, NO_IDENTIFIER),
        ({"email": "mary@example"}, "email", "not a valid email address"),
        ({"email": "a" + SHA256_HEX}, "email", "not a valid email address"),
        ({"email": ["mary@example.com"]}, "email", "list or map values are not accepted"),
        ({"email": {"address": "mary@example.com"}}, "email", "list or map values are not accepted"),
        ({"email": "mary\udcc3@example.com"}, "email", "contains bytes that are not valid UTF-8"),
        ({"email": "mary\x00@example.com"}, "email", "contains control characters"),
        ({"email": True}, "email", "true/false values are not accepted"),
        ({"google_aid": "00000000-0000-0000-0000-000000000000"}, "google_aid", "all-zero advertising id (device opted out of tracking)"),
        ({"google_aid": "xyz"}, "google_aid", "not a UUID advertising id"),
        ({"apple_idfa": IDFA}, "apple_idfa", ONLY_IDFA),
        ({"apple_idfa": IDFA, "title": "CTO"}, "apple_idfa", ONLY_IDFA),
        ({"apple_idfa": "xyz"}, "apple_idfa", "not a UUID advertising id"),
        ({"first_name": "Mary"}, "last_name", NAME_MISSING),
        ({"last_name": "Smith", "company": "Acme"}, "first_name", NAME_MISSING),
        ({"first_name": "x" * 36, "last_name": "Smith"}, "first_name", "longer than 35 characters"),
        ({"first_name": "Mary", "last_name": "Sm\x07ith"}, "last_name", "contains control characters"),
        # The email is the most useful reason even when the names are also incomplete.
        ({"email": "mary", "first_name": "Mary"}, "email", "not a valid email address"),
        ({"email": "mary", "google_aid": "xyz"}, "email", "not a valid email address"),
    ],
)
def test_user_row_rejected(row, column, reason):
    rejection = build_row(row)

    assert rejection == Rejection(7, column, reason)


def test_name_with_combining_accent_fits():
    # 35 letters typed as "e" + U+0301 are 70 code points, but 35 characters once composed.
    first_name = "e\u0301" * 35
    member = build_row({"first_name": first_name, "last_name": "Smith"})

    assert isinstance(member, Member)
    assert member.element["firstName"] == "\u00e9" * 35
    assert len(member.element["firstName"]) == 35


def test_builder_reads_original_header_names():
    header = ["\ufeff EMAIL ", "First_Name", "LAST_NAME"]
    build = make_builder(resolve_columns(header, "users"), "REMOVE")

    member = build(3, {"\ufeff EMAIL ": "mary@example.com", "First_Name": "Mary", "LAST_NAME": "Smith"})

    assert member.element == {
        "action": "REMOVE",
        "userIds": [email_id("mary@example.com")],
        "firstName": "Mary",
        "lastName": "Smith",
    }


def test_builder_ignores_columns_not_in_header():
    member = build_row({"email": "mary@example.com", "title": "CTO", "phone": "+1 555"}, header=["email"])

    assert member.element == {"action": "ADD", "userIds": [email_id("mary@example.com")]}


def test_builder_keeps_row_numbers():
    build = make_builder(resolve_columns(["email"], "users"), "ADD")
    rows = [{"email": "a@example.com"}, {"email": "invalid"}, {"email": "c@example.com"}]

    results = [build(number, row) for number, row in enumerate(rows, start=41)]

    assert [result.row for result in results] == [41, 42, 43]
    assert [type(result) for result in results] == [Member, Rejection, Member]


def test_missing_key_in_row_is_absent():
    member = build_row({"email": "mary@example.com"})

    assert set(member.element) == {"action", "userIds"}


@pytest.mark.parametrize("action", ["add", "DELETE", ""])
def test_make_builder_rejects_unknown_action(action):
    with pytest.raises(ValueError, match="action"):
        make_builder(resolve_columns(["email"], "users"), action)


def test_email_spellings_are_one_duplicate():
    first = build_row({"email": "Mary.Ann@Example.com"})
    second = build_row({"email": "  mary.ann@EXAMPLE.COM "})

    assert first.element["userIds"] == second.element["userIds"]
    assert first.element["userIds"][0]["idValue"] == sha256_of("mary.ann@example.com")
    assert first.fingerprint == second.fingerprint


def test_hashed_and_plain_email_are_one_duplicate():
    plain = build_row({"email": "mary@example.com"})
    hashed = build_row({"email": SHA256_HEX.upper()})

    assert plain.element == hashed.element
    assert plain.fingerprint == hashed.fingerprint


@pytest.mark.parametrize(
    ("first", "second", "same"),
    [
        ({"email": "mary@example.com", "title": "CTO"}, {"email": "mary@example.com", "title": "CEO"}, True),
        ({"email": "mary@example.com", "google_aid": GAID}, {"google_aid": GAID.upper(), "email": " MARY@example.com"}, True),
        ({"email": "mary@example.com"}, {"email": "mary@example.com", "google_aid": GAID}, False),
        ({"email": "mary@example.com"}, {"email": "mary@example.org"}, False),
        ({"email": "mary@example.com"}, {"email": hashlib.sha512(b"mary@example.com").hexdigest()}, False),
        ({"google_aid": GAID}, {"google_aid": GAID.replace("-", "")}, True),
        ({"first_name": "Mary", "last_name": "Smith"}, {"first_name": "MARY", "last_name": "smith"}, True),
        ({"first_name": "Mary", "last_name": "Smith", "country": "US"}, {"first_name": "Mary", "last_name": "Smith", "country": "us"}, True),
        ({"first_name": "Mary", "last_name": "Smith", "country": "US"}, {"first_name": "Mary", "last_name": "Smith", "country": "GB"}, False),
        ({"first_name": "Mary", "last_name": "Smith", "company": "Acme"}, {"first_name": "Mary", "last_name": "Smith"}, False),
        ({"first_name": "Mary Ann", "last_name": "Smith"}, {"first_name": "Mary", "last_name": "Ann Smith"}, False),
    ],
)
def test_user_fingerprint_equality(first, second, same):
    first_member = build_row(first)
    second_member = build_row(second)

    assert (first_member.fingerprint == second_member.fingerprint) is same


def test_fingerprint_is_unsigned_64_bit():
    rows = [
        {"email": "mary@example.com"},
        {"google_aid": GAID},
        {"email": SHA512_HEX},
        {"first_name": "Mary", "last_name": "Smith"},
    ]
    for row in rows:
        member = build_row(row)

        assert 0 <= member.fingerprint < 2**64


def test_request_body_has_no_plain_address():
    addresses = ["Mary.Ann+news@Example.com", " bob@mail.example.co.uk", "J\u00f6rg@b\u00fccher.de", "x@y.io"]
    build = make_builder(resolve_columns(["email", "title"], "users"), "ADD")

    members = [build(number, {"email": address, "title": "CTO"}) for number, address in enumerate(addresses, 1)]
    body = json.dumps({"elements": [member.element for member in members]}, ensure_ascii=False)

    assert "@" not in body
    for address in addresses:
        assert address.strip() not in body
        assert address.strip().lower() not in body
        assert address.strip().split("@")[0].lower() not in body


@pytest.mark.parametrize("blank", ["", "   ", "NULL", " NULL ", None, "\t"])
def test_blank_optional_cells_left_out(blank):
    row = {
        "email": "mary@example.com",
        "google_aid": blank,
        "apple_idfa": blank,
        "first_name": blank,
        "last_name": blank,
        "company": blank,
        "title": blank,
        "country": blank,
    }

    member = build_row(row)
    body = json.dumps(member.element)

    assert member.element == {"action": "ADD", "userIds": [email_id("mary@example.com")]}
    assert member.dropped == ()
    assert '""' not in body
    assert "null" not in body
    assert "NULL" not in body


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("email", "mary.ann.private@example"),
        ("email", "Mary Ann <mary@example.com>"),
        ("google_aid", "6d92078a-8246-4ba4-ae5b-76104861e7dz"),
        ("apple_idfa", "mary-device-identifier"),
        ("first_name", "Maryannabelle-Josephine Christabella"),
        ("last_name", "Smithereens-Worthington\x00Esquire"),
        ("first_name", "Mary\udcc3Ann"),
    ],
)
def test_rejection_reason_has_no_value(column, value):
    row = {column: value}
    if column in ("first_name", "last_name"):
        row["last_name" if column == "first_name" else "first_name"] = "Smith"

    rejection = build_row(row)

    assert isinstance(rejection, Rejection)
    assert rejection.column == column
    assert value not in rejection.reason
    for word in value.replace("-", " ").replace("@", " ").replace(".", " ").split():
        if len(word) >= 4:
            assert word.lower() not in rejection.reason.lower()


def test_attribute_cache_keeps_results(monkeypatch):
    from td_output_linkedin.records import users

    monkeypatch.setattr(users, "MAX_CACHED_VALUES", 2)
    build = make_builder(resolve_columns(["email", "title"], "users"), "ADD")
    titles = ["CTO", "x" * 60, "CEO", "CTO", "x" * 60, "VP Sales", "CEO"]

    members = [build(number, {"email": "mary@example.com", "title": title}) for number, title in enumerate(titles, 1)]

    assert [member.element.get("title") for member in members] == ["CTO", None, "CEO", "CTO", None, "VP Sales", "CEO"]
    assert [member.dropped for member in members] == [(), ("title",), (), (), ("title",), (), ()]
