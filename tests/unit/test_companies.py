from __future__ import annotations

import json

import pytest

from td_output_linkedin.columns import resolve_columns
from td_output_linkedin.records import Member, Rejection, make_builder

ALL_COLUMNS = [
    "company_name",
    "company_website_domain",
    "company_email_domain",
    "linkedin_company_id",
    "company_page_url",
    "stock_symbol",
    "industries",
    "city",
    "state",
    "country",
    "postal_code",
]
NO_IDENTIFIER = (
    "no identifier: a row needs company_name, company_web_site_domain, company_email_domain, "
    "organization_urn or company_page_url"
)


def build_row(row: dict, *, header: list[str] | None = None, action: str = "ADD", row_number: int = 5):
    build = make_builder(resolve_columns(header or ALL_COLUMNS, "companies"), action)
    return build(row_number, row)


@pytest.mark.parametrize(
    ("row", "expected_element", "expected_dropped"),
    [
        (
            {
                "company_name": " Acme Corp ",
                "company_website_domain": "https://www.Acme.com/about",
                "company_email_domain": "sales@mail.acme.com",
                "linkedin_company_id": 1035,
                "company_page_url": "linkedin.com/company/acme?trk=x",
                "stock_symbol": "ACME",
                "industries": "Software Development, Retail",
                "city": "Paris",
                "state": "\u00cele-de-France",
                "country": "fr",
                "postal_code": 75001,
            },
            {
                "action": "ADD",
                "companyName": "Acme Corp",
                "companyWebsiteDomain": "acme.com",
                "companyEmailDomain": "mail.acme.com",
                "organizationUrn": "urn:li:organization:1035",
                "companyPageUrl": "https://linkedin.com/company/acme",
                "stockSymbol": "ACME",
                "industries": ["Software Development", "Retail"],
                "city": "Paris",
                "state": "\u00cele-de-France",
                "country": "FR",
                "postalCode": "75001",
            },
            (),
        ),
        (
            {"company_website_domain": "b\u00fccher.de"},
            {"action": "ADD", "companyWebsiteDomain": "xn--bcher-kva.de"},
            (),
        ),
        (
            {"linkedin_company_id": "urn:li:organization:42"},
            {"action": "ADD", "organizationUrn": "urn:li:organization:42"},
            (),
        ),
        (
            {"company_page_url": "https://www.linkedin.com/company/acme/"},
            {"action": "ADD", "companyPageUrl": "https://www.linkedin.com/company/acme/"},
            (),
        ),
        (
            {"company_name": "Acme", "company_website_domain": "not a domain", "stock_symbol": "ACMEXX"},
            {"action": "ADD", "companyName": "Acme"},
            ("company_web_site_domain", "stock_symbol"),
        ),
        (
            {"company_name": "Acme", "industries": "a,b,c,d", "country": "FRA", "postal_code": "1" * 21},
            {"action": "ADD", "companyName": "Acme"},
            ("industries", "country", "postal_code"),
        ),
        (
            {"company_name": "Acme", "city": "x" * 51, "state": ["CA"]},
            {"action": "ADD", "companyName": "Acme"},
            ("city", "state"),
        ),
    ],
)
def test_company_row_becomes_element(row, expected_element, expected_dropped):
    member = build_row(row)

    assert isinstance(member, Member)
    assert member.row == 5
    assert member.element == expected_element
    assert member.dropped == expected_dropped


@pytest.mark.parametrize(
    ("row", "column", "reason"),
    [
        ({}, None, NO_IDENTIFIER),
        ({"company_name": "", "city": "Paris", "country": "FR"}, None, NO_IDENTIFIER),
        ({"company_name": "NULL", "company_website_domain": "  "}, None, NO_IDENTIFIER),
        ({"company_name": "x" * 51}, "company_name", "longer than 50 characters"),
        ({"company_website_domain": "localhost"}, "company_web_site_domain", "not a domain name"),
        ({"company_email_domain": "bob@"}, "company_email_domain", "not a domain name"),
        ({"linkedin_company_id": "acme"}, "organization_urn", "not an organization URN (urn:li:organization:<id>) or a numeric id"),
        ({"company_page_url": "https://example.com/acme"}, "company_page_url", "not a LinkedIn company page URL (https://www.linkedin.com/company/...)"),
        ({"company_name": {"name": "Acme"}}, "company_name", "list or map values are not accepted"),
        # The first identifying column in column order is reported.
        ({"company_name": "x" * 51, "company_website_domain": "localhost"}, "company_name", "longer than 50 characters"),
    ],
)
def test_company_row_rejected(row, column, reason):
    rejection = build_row(row)

    assert rejection == Rejection(5, column, reason)


@pytest.mark.parametrize(
    ("first", "second", "same"),
    [
        ({"company_name": "Acme Corp"}, {"company_name": " acme  CORP "}, True),
        ({"company_website_domain": "acme.com"}, {"company_website_domain": "https://www.ACME.com/"}, True),
        ({"linkedin_company_id": 1035}, {"linkedin_company_id": "urn:li:organization:1035"}, True),
        (
            {"company_page_url": "https://www.linkedin.com/company/acme/"},
            {"company_page_url": "https://www.LinkedIn.com/company/Acme"},
            True,
        ),
        # Attributes that do not identify a company do not make it a different one...
        ({"company_website_domain": "acme.com", "city": "Paris"}, {"company_website_domain": "acme.com", "city": "Lyon"}, True),
        # ...unless the name is all there is to tell two companies apart.
        ({"company_name": "Acme", "country": "US"}, {"company_name": "Acme", "country": "DE"}, False),
        ({"company_name": "Acme", "city": "Paris"}, {"company_name": "acme", "city": "PARIS"}, True),
        ({"company_name": "Acme"}, {"company_name": "Acme", "company_website_domain": "acme.com"}, False),
        ({"company_website_domain": "acme.com"}, {"company_email_domain": "acme.com"}, False),
        ({"company_name": "Acme"}, {"company_name": "Acme Corp"}, False),
    ],
)
def test_company_fingerprint_equality(first, second, same):
    first_member = build_row(first)
    second_member = build_row(second)

    assert (first_member.fingerprint == second_member.fingerprint) is same


@pytest.mark.parametrize("blank", ["", "   ", "NULL", None])
def test_blank_company_cells_left_out(blank):
    row = {column: blank for column in ALL_COLUMNS}
    row["company_name"] = "Acme"

    member = build_row(row)
    body = json.dumps(member.element)

    assert member.element == {"action": "ADD", "companyName": "Acme"}
    assert member.dropped == ()
    assert '""' not in body
    assert "null" not in body


def test_company_builder_sends_action():
    member = build_row({"company_name": "Acme"}, action="REMOVE")

    assert member.element["action"] == "REMOVE"


def test_company_builder_ignores_user_columns():
    header = ["company_name", "email", "first_name"]
    member = build_row({"company_name": "Acme", "email": "mary@example.com", "first_name": "Mary"}, header=header)

    assert member.element == {"action": "ADD", "companyName": "Acme"}
