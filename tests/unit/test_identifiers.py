from __future__ import annotations

import hashlib
import json
import pathlib
import unicodedata

import numpy
import pytest

from td_output_linkedin.records import identifiers
from td_output_linkedin.records.identifiers import (
    BOOLEAN,
    CONTROL_CHARACTERS,
    COUNTRY_CODES,
    EMAIL_TOO_LONG,
    INDUSTRY_TOO_LONG,
    Invalid,
    LIST_OR_MAP,
    NOT_AN_EMAIL,
    NOT_AN_IDN,
    NOT_AN_ORGANIZATION,
    NOT_A_COUNTRY,
    NOT_A_DOMAIN,
    NOT_A_PAGE_URL,
    NOT_A_UUID,
    NOT_FINITE,
    NOT_UTF8,
    NUMBER_TOO_LONG,
    SURROGATES,
    TOO_MANY_INDUSTRIES,
    ZERO_ADVERTISING_ID,
    fingerprint,
    limited_text,
    normalize_advertising_id,
    normalize_company_page_url,
    normalize_country,
    normalize_domain,
    normalize_email,
    normalize_organization_urn,
    split_industries,
    to_text,
    too_long,
)

SHA256_HEX = hashlib.sha256(b"mary@example.com").hexdigest()
SHA512_HEX = hashlib.sha512(b"mary@example.com").hexdigest()


def sha256_of(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        ("", None),
        ("   ", None),
        ("\t \n", None),
        ("NULL", None),
        (" NULL ", None),
        ("null", "null"),
        ("  Mary Ann  ", "Mary Ann"),
        ("\tMary\r\n", "Mary"),
        ("Mary\u00a0Ann", "Mary\u00a0Ann"),
        (123, "123"),
        (-7, "-7"),
        (0, "0"),
        (12.0, "12"),
        (1.5, "1.5"),
        (-0.25, "-0.25"),
        (1e20, "1e+20"),
        (numpy.int64(42), "42"),
        (numpy.float64(3.0), "3"),
        (b"  abc ", "abc"),
        (bytearray(b"xyz"), "xyz"),
        ("e\u0301", "\u00e9"),
        (b"e\xcc\x81", "\u00e9"),
    ],
)
def test_to_text_values(value, expected):
    assert to_text(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (True, BOOLEAN),
        (False, BOOLEAN),
        (float("nan"), NOT_FINITE),
        (float("-inf"), NOT_FINITE),
        pytest.param(10**5000, NUMBER_TOO_LONG, id="int-of-5001-digits"),
        ([], LIST_OR_MAP),
        (["a@example.com"], LIST_OR_MAP),
        ({"email": "a@example.com"}, LIST_OR_MAP),
        (("a",), LIST_OR_MAP),
        ({"a"}, LIST_OR_MAP),
        (b"\xff\xfe", NOT_UTF8),
        ("Mary\udcc3", NOT_UTF8),
        ("Mary\ud800", SURROGATES),
        ("Ma\x00ry", CONTROL_CHARACTERS),
        ("Ma\try", CONTROL_CHARACTERS),
        ("Ma\x7fry", CONTROL_CHARACTERS),
        ("Jos\u00e9\x85Smith", CONTROL_CHARACTERS),
        ("Jos\u00e9\u2028Smith", CONTROL_CHARACTERS),
        (object(), Invalid("values of type object are not accepted")),
    ],
)
def test_to_text_invalid(value, expected):
    assert to_text(value) == expected


@pytest.mark.parametrize(
    ("value", "max_length", "expected"),
    [
        ("x" * 35, 35, "x" * 35),
        ("x" * 36, 35, too_long(35)),
        ("  " + "x" * 35 + "  ", 35, "x" * 35),
        # 35 letters typed with a combining accent are 70 code points but 35 characters in NFC.
        ("e\u0301" * 35, 35, "\u00e9" * 35),
        ("e\u0301" * 36, 35, too_long(35)),
        ("\u00e9" * 50, 50, "\u00e9" * 50),
        ("\u00e9" * 51, 50, too_long(50)),
        (12345, 5, "12345"),
        (123456, 5, too_long(5)),
        ("", 35, None),
        ("NULL", 35, None),
        ("Ma\x00ry", 35, CONTROL_CHARACTERS),
    ],
)
def test_limited_text_counts_composed_characters(value, max_length, expected):
    assert limited_text(value, max_length) == expected


def test_too_long_reason_names_limit():
    assert too_long(35).reason == "longer than 35 characters"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("mary@example.com", ("SHA256_EMAIL", sha256_of("mary@example.com"))),
        ("  Mary.Ann+news@Example.COM ", ("SHA256_EMAIL", sha256_of("mary.ann+news@example.com"))),
        ("first.last@sub.example.co.uk", ("SHA256_EMAIL", sha256_of("first.last@sub.example.co.uk"))),
        ("JOSE\u0301@Exa\u0308mple.com", ("SHA256_EMAIL", sha256_of("jos\u00e9@ex\u00e4mple.com"))),
        (b"Mary@Example.com", ("SHA256_EMAIL", sha256_of("mary@example.com"))),
        (SHA256_HEX, ("SHA256_EMAIL", SHA256_HEX)),
        (SHA256_HEX.upper(), ("SHA256_EMAIL", SHA256_HEX)),
        (f"  {SHA256_HEX.upper()} ", ("SHA256_EMAIL", SHA256_HEX)),
        (SHA512_HEX, ("SHA512_EMAIL", SHA512_HEX)),
        (SHA512_HEX.upper(), ("SHA512_EMAIL", SHA512_HEX)),
        (None, None),
        ("", None),
        ("  ", None),
        ("NULL", None),
    ],
)
def test_normalize_email_values(value, expected):
    assert normalize_email(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        "a" + SHA256_HEX,
        SHA256_HEX[:-1],
        "g" * 64,
        SHA256_HEX + "0",
        SHA512_HEX[:-1],
        "mary",
        "mary@example",
        "@example.com",
        "mary@",
        "mary@@example.com",
        "ma@ry@example.com",
        "mary ann@example.com",
        "mary@exa mple.com",
        "mary@.example.com",
        "mary@example..com",
        "mary@example.com.",
        12345,
        "x" * 250 + "@example.com",
    ],
)
def test_normalize_email_invalid(value):
    result = normalize_email(value)

    assert isinstance(result, Invalid)
    assert result in (NOT_AN_EMAIL, EMAIL_TOO_LONG)


def test_normalize_email_too_long_reason():
    assert normalize_email("x" * 250 + "@example.com") == EMAIL_TOO_LONG


def test_email_spellings_hash_equal():
    first = normalize_email("Mary.Ann@Example.com")
    second = normalize_email("  mary.ann@EXAMPLE.COM\t")

    assert first == second
    assert first[1] == sha256_of("mary.ann@example.com")


def test_plain_email_hash_is_exact():
    for address in ["a@b.co", "Some.One+Tag@Mail.Example.org", " x_y-z@domain.io "]:
        id_type, id_value = normalize_email(address)

        assert id_type == "SHA256_EMAIL"
        assert id_value == hashlib.sha256(address.strip().lower().encode("utf-8")).hexdigest()
        assert "@" not in id_value


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("6D92078A-8246-4BA4-AE5B-76104861E7DC", "6d92078a-8246-4ba4-ae5b-76104861e7dc"),
        ("6d92078a-8246-4ba4-ae5b-76104861e7dc", "6d92078a-8246-4ba4-ae5b-76104861e7dc"),
        ("6D92078A82464BA4AE5B76104861E7DC", "6d92078a-8246-4ba4-ae5b-76104861e7dc"),
        (" 6d92078a82464ba4ae5b76104861e7dc ", "6d92078a-8246-4ba4-ae5b-76104861e7dc"),
        ("00000000-0000-0000-0000-000000000000", ZERO_ADVERTISING_ID),
        ("00000000000000000000000000000000", ZERO_ADVERTISING_ID),
        ("6d92078a-82464ba4-ae5b-76104861e7dc", NOT_A_UUID),
        ("{6d92078a-8246-4ba4-ae5b-76104861e7dc}", NOT_A_UUID),
        ("6d92078a-8246-4ba4-ae5b-76104861e7d", NOT_A_UUID),
        ("6d92078a-8246-4ba4-ae5b-76104861e7dg", NOT_A_UUID),
        ("not-an-id", NOT_A_UUID),
        (12345, NOT_A_UUID),
        ("", None),
        (None, None),
    ],
)
def test_normalize_advertising_id_values(value, expected):
    assert normalize_advertising_id(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("US", "US"),
        ("us", "US"),
        ("uS", "US"),
        (" gb ", "GB"),
        ("de\n", "DE"),
        ("USA", NOT_A_COUNTRY),
        ("UK", NOT_A_COUNTRY),
        ("EU", NOT_A_COUNTRY),
        ("XX", NOT_A_COUNTRY),
        ("U", NOT_A_COUNTRY),
        ("\u017fe", NOT_A_COUNTRY),
        ("\uff35\uff33", NOT_A_COUNTRY),
        (1, NOT_A_COUNTRY),
        ("", None),
        ("NULL", None),
    ],
)
def test_normalize_country_values(value, expected):
    assert normalize_country(value) == expected


def test_country_codes_are_assigned_codes():
    assert len(COUNTRY_CODES) == 249
    assert all(len(code) == 2 and code.isascii() and code.isupper() for code in COUNTRY_CODES)


ISO_CODES_FILE = pathlib.Path("/usr/share/iso-codes/json/iso_3166-1.json")


@pytest.mark.skipif(not ISO_CODES_FILE.exists(), reason="the iso-codes package is not installed")
def test_country_codes_match_iso_codes_package():
    assigned = {entry["alpha_2"] for entry in json.loads(ISO_CODES_FILE.read_text())["3166-1"]}

    assert COUNTRY_CODES == assigned


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("example.com", "example.com"),
        ("Example.COM", "example.com"),
        ("  example.com  ", "example.com"),
        ("sub.example.co.uk", "sub.example.co.uk"),
        ("www.example.com", "example.com"),
        ("WWW.Example.com", "example.com"),
        ("www.com", "www.com"),
        ("www2.example.com", "www2.example.com"),
        ("example.com.", "example.com"),
        ("https://www.example.com", "example.com"),
        ("https://www.Example.com:8443/path/page?q=1#top", "example.com"),
        ("http://user:secret@shop.example.com/cart", "shop.example.com"),
        ("example.com/about", "example.com"),
        ("example.com:8080", "example.com"),
        ("b\u00fccher.de", "xn--bcher-kva.de"),
        ("https://B\u00fccher.DE/katalog", "xn--bcher-kva.de"),
        ("xn--bcher-kva.de", "xn--bcher-kva.de"),
        ("stra\u00dfe.de", "xn--strae-oqa.de"),
        ("\uff25\uff38\uff21\uff2d\uff30\uff2c\uff25.com", "example.com"),
        ("a-b.example", "a-b.example"),
        ("", None),
        (None, None),
    ],
)
def test_normalize_domain_values(value, expected):
    assert normalize_domain(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("localhost", NOT_A_DOMAIN),
        ("192.168.0.1", NOT_A_DOMAIN),
        ("http://10.0.0.1/", NOT_A_DOMAIN),
        ("http://[::1]/", NOT_A_DOMAIN),
        ("http://[/", NOT_A_DOMAIN),
        ("exa mple.com", NOT_A_DOMAIN),
        ("exa_mple.com", NOT_A_DOMAIN),
        ("-example.com", NOT_A_DOMAIN),
        ("example-.com", NOT_A_DOMAIN),
        ("example..com", NOT_A_DOMAIN),
        ("a" * 64 + ".com", NOT_A_DOMAIN),
        (".".join(["a" * 60] * 5), NOT_A_DOMAIN),
        ("https://", NOT_A_DOMAIN),
        ("xn--zz.de", NOT_AN_IDN),
        ("\u2603.net", NOT_AN_IDN),
        ("example.com\x00", CONTROL_CHARACTERS),
        (["example.com"], LIST_OR_MAP),
    ],
)
def test_normalize_domain_invalid(value, expected):
    assert normalize_domain(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("bob@Acme.com", "acme.com"),
        ("  BOB.SMITH+sales@mail.acme.co.uk ", "mail.acme.co.uk"),
        ("acme.com", "acme.com"),
        ("@acme.com", "acme.com"),
        ("bob@b\u00fccher.de", "xn--bcher-kva.de"),
        ("bob@", NOT_A_DOMAIN),
        ("bob@localhost", NOT_A_DOMAIN),
    ],
)
def test_normalize_email_domain_values(value, expected):
    assert normalize_domain(value, from_email=True) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("urn:li:organization:1035", "urn:li:organization:1035"),
        ("URN:LI:Organization:1035", "urn:li:organization:1035"),
        (" urn:li:organization:1035 ", "urn:li:organization:1035"),
        ("1035", "urn:li:organization:1035"),
        ("01035", "urn:li:organization:1035"),
        (1035, "urn:li:organization:1035"),
        (1035.0, "urn:li:organization:1035"),
        ("9" * 19, "urn:li:organization:" + "9" * 19),
        ("0", NOT_AN_ORGANIZATION),
        ("-5", NOT_AN_ORGANIZATION),
        ("1035.5", NOT_AN_ORGANIZATION),
        ("urn:li:company:1035", NOT_AN_ORGANIZATION),
        ("urn:li:organization:", NOT_AN_ORGANIZATION),
        ("urn:li:organization:abc", NOT_AN_ORGANIZATION),
        ("1" * 20, NOT_AN_ORGANIZATION),
        ("\u0661\u0662", NOT_AN_ORGANIZATION),
        (True, BOOLEAN),
        ("", None),
    ],
)
def test_normalize_organization_urn_values(value, expected):
    assert normalize_organization_urn(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("https://www.linkedin.com/company/microsoft/", "https://www.linkedin.com/company/microsoft/"),
        ("https://www.linkedin.com/company/1035", "https://www.linkedin.com/company/1035"),
        ("linkedin.com/company/acme?trk=public_profile#about", "https://linkedin.com/company/acme"),
        ("http://WWW.LinkedIn.com/company/acme", "https://www.linkedin.com/company/acme"),
        ("https://uk.linkedin.com/showcase/acme-labs", "https://uk.linkedin.com/showcase/acme-labs"),
        ("https://www.linkedin.com/school/acme-university/about/", "https://www.linkedin.com/school/acme-university/about/"),
        ("https://www.linkedin.com/in/mary-ann", NOT_A_PAGE_URL),
        ("https://www.linkedin.com/company/", NOT_A_PAGE_URL),
        ("https://example.com/company/acme", NOT_A_PAGE_URL),
        ("https://linkedin.com.example.com/company/acme", NOT_A_PAGE_URL),
        ("https://notlinkedin.com/company/acme", NOT_A_PAGE_URL),
        ("ftp://www.linkedin.com/company/acme", NOT_A_PAGE_URL),
        ("https://[/company/acme", NOT_A_PAGE_URL),
        ("acme", NOT_A_PAGE_URL),
        ("https://www.linkedin.com/company/" + "a" * 67, "https://www.linkedin.com/company/" + "a" * 67),
        ("https://www.linkedin.com/company/" + "a" * 68, too_long(100)),
        ("", None),
    ],
)
def test_normalize_company_page_url_values(value, expected):
    assert normalize_company_page_url(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Software Development", ["Software Development"]),
        ("Software, Retail , Banking", ["Software", "Retail", "Banking"]),
        ("Software,,Retail,", ["Software", "Retail"]),
        (" , , ", None),
        ("", None),
        ("a,b,c,d", TOO_MANY_INDUSTRIES),
        ("x" * 50, ["x" * 50]),
        ("Retail," + "x" * 51, INDUSTRY_TOO_LONG),
        (["Software"], LIST_OR_MAP),
    ],
)
def test_split_industries_values(value, expected):
    assert split_industries(value) == expected


@pytest.mark.parametrize(
    ("first", "second", "equal"),
    [
        (["a", "b"], ["a", "b"], True),
        (["ab", "c"], ["a", "bc"], False),
        (["a", ""], ["a"], False),
        ([], [""], True),
        (["SHA256_EMAIL:" + SHA256_HEX], ["SHA256_EMAIL:" + SHA256_HEX], True),
    ],
)
def test_fingerprint_equality(first, second, equal):
    assert (fingerprint(first) == fingerprint(second)) is equal


def test_fingerprint_is_unsigned_64_bit():
    for parts in (["a"], ["b", "c"], ["\u00e9" * 1000]):
        value = fingerprint(parts)

        assert 0 <= value < 2**64


def test_invalid_compares_by_reason():
    assert Invalid("x") == Invalid("x")
    assert Invalid("x") != Invalid("y")
    assert Invalid("x") != "x"


def test_reasons_are_short_lowercase_phrases():
    reasons = [value.reason for value in vars(identifiers).values() if isinstance(value, Invalid)]

    assert len(reasons) >= 15
    for reason in reasons:
        assert reason == reason.strip()
        assert len(reason) <= 90
        assert reason[0].islower()


def test_nfc_is_applied_before_length():
    decomposed = unicodedata.normalize("NFD", "Zo\u00eb Se\u0301verine")

    assert limited_text(decomposed, 35) == "Zo\u00eb S\u00e9verine"


@pytest.mark.parametrize("cell", ["null", "Null", "NULL", " null ", "nUlL"])
@pytest.mark.parametrize(
    "normalize",
    [
        normalize_email,
        normalize_advertising_id,
        normalize_country,
        normalize_domain,
        normalize_organization_urn,
        normalize_company_page_url,
    ],
)
def test_identifier_null_any_case_absent(normalize, cell):
    assert normalize(cell) is None


@pytest.mark.parametrize(("cell", "expected"), [("Null", "Null"), ("null", "null"), ("NULL", None)])
def test_name_null_only_upper_case(cell, expected):
    # "Null" is a real surname, so free text keeps it unless it is the SQL spelling NULL.
    assert limited_text(cell, 35) == expected


@pytest.mark.parametrize(
    "cell",
    [
        "\ufeffjohn@example.com",  # byte-order mark left by joined files
        "john@example.com\u200b",  # zero-width space pasted from a web page
        "\u2060 John@Example.com \u00ad",
        "\u00a0john@example.com\u00a0",
    ],
)
def test_email_invisible_edges_trimmed(cell):
    assert normalize_email(cell) == ("SHA256_EMAIL", hashlib.sha256(b"john@example.com").hexdigest())


@pytest.mark.parametrize(
    "cell",
    [
        "jo\u200bhn@example.com",
        '"john@example.com"',
        "<john@example.com>",
        "John Doe <john@example.com>",
        "mailto:john@example.com",
        "john@example.com;",
        "john@example.com,jane@example.com",
        "john@example.com/",
    ],
)
def test_email_wrapped_address_invalid(cell):
    # Hashing any of these would give a digest that matches nobody, so they are rejected instead.
    assert normalize_email(cell) == identifiers.NOT_AN_EMAIL


@pytest.mark.parametrize(
    ("cell", "address"),
    [
        ("john.o'brien+news@example.co.uk", "john.o'brien+news@example.co.uk"),
        ("First_Last-1@Sub.Example-Mail.com", "first_last-1@sub.example-mail.com"),
        ("Jürgen@Bücher.de", "jürgen@bücher.de"),
    ],
)
def test_email_valid_symbols_hashed(cell, address):
    assert normalize_email(cell) == ("SHA256_EMAIL", hashlib.sha256(address.encode()).hexdigest())


@pytest.mark.parametrize("cell", ["\u200b", "\ufeff \u200b", "\ufeffNULL"])
def test_invisible_only_cell_absent(cell):
    assert to_text(cell) is None
    assert limited_text(cell, 35) is None
