from __future__ import annotations

import pytest

from td_output_linkedin.columns import (
    ALIASES,
    COMPANY_COLUMNS,
    IDENTIFYING_COLUMNS,
    USER_COLUMNS,
    accepted_columns,
    resolve_columns,
)
from td_output_linkedin.errors import InputError, MissingColumnsError


@pytest.mark.parametrize(
    ("header", "audience_type", "expected_sources"),
    [
        (["email"], "users", {"email": "email"}),
        (["Email", " FIRST_NAME ", "Last_Name"], "users", {"email": "Email", "first_name": " FIRST_NAME ", "last_name": "Last_Name"}),
        (["\ufeffemail", "title"], "users", {"email": "\ufeffemail", "title": "title"}),
        (["\ufeff Google_AID", "country"], "users", {"google_aid": "\ufeff Google_AID", "country": "country"}),
        (["first_name", "last_name"], "users", {"first_name": "first_name", "last_name": "last_name"}),
        (["company_name", "country"], "companies", {"company_name": "company_name", "country": "country"}),
        (["Company_Website_Domain"], "companies", {"company_web_site_domain": "Company_Website_Domain"}),
        (["company_web_site_domain"], "companies", {"company_web_site_domain": "company_web_site_domain"}),
        (["linkedin_company_id"], "companies", {"organization_urn": "linkedin_company_id"}),
        (["company_email_domain", "INDUSTRIES"], "companies", {"company_email_domain": "company_email_domain", "industries": "INDUSTRIES"}),
    ],
)
def test_resolve_maps_header_names(header, audience_type, expected_sources):
    columns = resolve_columns(header, audience_type)

    assert columns.audience_type == audience_type
    assert columns.sources == expected_sources


@pytest.mark.parametrize(
    ("header", "audience_type", "unknown", "other_type"),
    [
        (["email", "phone", "zip"], "users", ("phone", "zip"), ()),
        (["email", "company_name", "Company_Website_Domain"], "users", (), ("company_name", "Company_Website_Domain")),
        # "company" is the member's employer, a users column, not a companies column.
        (["company_name", "company"], "companies", (), ("company",)),
        (["company_name", "email", "first_name", "title"], "companies", (), ("email", "first_name", "title")),
        # "country" belongs to both audience types, so it is never of the other type.
        (["email", "country"], "users", (), ()),
        (["company_name", "country"], "companies", (), ()),
    ],
)
def test_resolve_lists_unknown_and_other_type(header, audience_type, unknown, other_type):
    columns = resolve_columns(header, audience_type)

    assert columns.unknown == unknown
    assert columns.other_type == other_type
    assert not set(columns.sources.values()) & set(unknown + other_type)


@pytest.mark.parametrize(
    ("header", "audience_type"),
    [
        ([], "users"),
        (["phone", "zip"], "users"),
        (["title", "company", "country"], "users"),
        # An IDFA alone cannot identify a member, because LinkedIn no longer accepts APPLE_IDFA.
        (["apple_idfa", "title"], "users"),
        # A name identifies a member only together with the other half.
        (["first_name", "title"], "users"),
        (["last_name"], "users"),
        (["company_name", "organization_urn"], "users"),
        (["email", "first_name", "last_name"], "companies"),
        (["industries", "country", "city"], "companies"),
    ],
)
def test_resolve_without_identifier_raises(header, audience_type):
    with pytest.raises(MissingColumnsError) as raised:
        resolve_columns(header, audience_type)

    error = raised.value
    assert error.audience_type == audience_type
    assert error.found == header
    assert error.exit_code == 1
    for name in header:
        assert name in str(error)
    for column in IDENTIFYING_COLUMNS[audience_type]:
        assert column in str(error)


def test_missing_columns_message_names_choices():
    with pytest.raises(MissingColumnsError) as raised:
        resolve_columns(["\ufefffirst_name", "zip"], "users")

    assert raised.value.found == ["first_name", "zip"]
    assert raised.value.accepted == ["email", "google_aid", "first_name and last_name"]


def test_missing_columns_message_names_aliases():
    with pytest.raises(MissingColumnsError) as raised:
        resolve_columns(["city"], "companies")

    assert "company_web_site_domain or company_website_domain" in raised.value.accepted
    assert "organization_urn or linkedin_company_id" in raised.value.accepted


@pytest.mark.parametrize(
    ("header", "audience_type", "first", "second"),
    [
        (["Email", "email "], "users", "Email", "email "),
        (["email", "EMAIL"], "users", "email", "EMAIL"),
        (["email", "email"], "users", "email", "email"),
        (["\ufeffemail", "email"], "users", "\ufeffemail", "email"),
        (["company_web_site_domain", "company_website_domain"], "companies", "company_web_site_domain", "company_website_domain"),
        (["linkedin_company_id", "Organization_URN"], "companies", "linkedin_company_id", "Organization_URN"),
    ],
)
def test_resolve_two_names_for_one_column_raises(header, audience_type, first, second):
    with pytest.raises(InputError) as raised:
        resolve_columns(header, audience_type)

    message = str(raised.value)
    assert repr(first) in message
    assert repr(second) in message
    assert not isinstance(raised.value, MissingColumnsError)


def test_resolve_unknown_audience_type_raises():
    with pytest.raises(ValueError, match="audience type"):
        resolve_columns(["email"], "accounts")


@pytest.mark.parametrize(
    ("audience_type", "expected"),
    [
        ("users", USER_COLUMNS),
        ("companies", COMPANY_COLUMNS + ("company_website_domain", "linkedin_company_id")),
    ],
)
def test_accepted_columns_lists_aliases_last(audience_type, expected):
    assert accepted_columns(audience_type) == expected


def test_aliases_point_at_company_columns():
    assert ALIASES == {
        "company_website_domain": "company_web_site_domain",
        "linkedin_company_id": "organization_urn",
    }
    assert set(ALIASES.values()) <= set(COMPANY_COLUMNS)


def test_identifying_columns_are_canonical():
    assert IDENTIFYING_COLUMNS["users"] == ("email", "google_aid", "first_name", "last_name")
    assert set(IDENTIFYING_COLUMNS["companies"]) <= set(COMPANY_COLUMNS)
    assert "apple_idfa" not in IDENTIFYING_COLUMNS["users"]
    assert "company" not in COMPANY_COLUMNS
    assert "country" in USER_COLUMNS
    assert "country" in COMPANY_COLUMNS
