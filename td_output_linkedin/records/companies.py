"""Build account-list (companies) elements from rows.

A row is valid when it has at least one valid identifying field: ``company_name``, either
domain, ``organization_urn`` or ``company_page_url``. Any other field that breaks its rule is
left out and named in ``Member.dropped``. Rules:
https://learn.microsoft.com/en-us/linkedin/marketing/matched-audiences/create-and-manage-segment-companies
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any

from td_output_linkedin.columns import ColumnMap
from td_output_linkedin.records import Member, Rejection
from td_output_linkedin.records.identifiers import (
    Invalid,
    fingerprint,
    limited_text,
    normalize_company_page_url,
    normalize_country,
    normalize_domain,
    normalize_organization_urn,
    split_industries,
)

Normalizer = Callable[[Any], Any]

NO_IDENTIFIER = (
    "no identifier: a row needs company_name, company_web_site_domain, company_email_domain, "
    "organization_urn or company_page_url"
)
UNEXPECTED = "could not be read ({})"

# column -> (element field, normalizer).
# NOTE: the length limits are the ones partner connectors apply, because LinkedIn's page was not
# found to state them. No limit is published for company_name at all, so 50 is assumed.
IDENTIFYING_FIELDS: dict[str, tuple[str, Normalizer]] = {
    "company_name": ("companyName", functools.partial(limited_text, max_length=50)),
    "company_web_site_domain": ("companyWebsiteDomain", normalize_domain),
    "company_email_domain": ("companyEmailDomain", functools.partial(normalize_domain, from_email=True)),
    "organization_urn": ("organizationUrn", normalize_organization_urn),
    "company_page_url": ("companyPageUrl", normalize_company_page_url),
}
OTHER_FIELDS: dict[str, tuple[str, Normalizer]] = {
    "stock_symbol": ("stockSymbol", functools.partial(limited_text, max_length=5)),
    "industries": ("industries", split_industries),
    "city": ("city", functools.partial(limited_text, max_length=50)),
    "state": ("state", functools.partial(limited_text, max_length=50)),
    "country": ("country", normalize_country),
    "postal_code": ("postalCode", functools.partial(limited_text, max_length=20)),
}
# Fields that tell two companies of the same name apart when the name is the only identifier.
_LOCATION_FIELDS = ("country", "state", "city", "postalCode")


def build_companies(
    columns: ColumnMap, action: str, *, positional: bool = False
) -> Callable[[int, Any], Member | Rejection]:
    """Return a function that turns ``(row_number, row)`` into a company ``Member`` or a ``Rejection``.

    ``row`` maps the original header names to raw cell values or, when ``positional``, is a
    sequence of cells that ``columns.sources`` indexes. The function raises no ``Exception`` for
    any row: an unexpected error becomes a ``Rejection`` of the whole row.
    """
    sources = columns.sources
    identifying = [
        (column, sources[column], field, normalize)
        for column, (field, normalize) in IDENTIFYING_FIELDS.items()
        if column in sources
    ]
    others = [
        (column, sources[column], field, normalize)
        for column, (field, normalize) in OTHER_FIELDS.items()
        if column in sources
    ]

    def build(row_number: int, row: Any) -> Member | Rejection:
        try:
            get = row.__getitem__ if positional else row.get
            element: dict[str, Any] = {"action": action}
            dropped: list[str] = []

            first_problem = _fill(element, dropped, identifying, get)
            if len(element) == 1:
                column, reason = first_problem or (None, NO_IDENTIFIER)
                return Rejection(row_number, column, reason)
            _fill(element, dropped, others, get)

            return Member(row_number, element, company_fingerprint(element), tuple(dropped))
        except Exception as error:  # the contract: a row never raises, whatever its cells contain
            return Rejection(row_number, None, UNEXPECTED.format(type(error).__name__))

    return build


def _fill(
    element: dict[str, Any],
    dropped: list[str],
    fields: list[tuple[str, str, str, Normalizer]],
    get: Callable[[Any], Any],
) -> tuple[str, str] | None:
    """Put each valid field into ``element`` and each invalid column into ``dropped``.

    Returns ``(column, reason)`` of the first invalid field, or None.
    """
    first_problem = None
    for column, key, field, normalize in fields:
        value = normalize(get(key))
        if value is None:
            continue
        if isinstance(value, Invalid):
            dropped.append(column)
            if first_problem is None:
                first_problem = (column, value.reason)
        else:
            element[field] = value
    return first_problem


def company_fingerprint(element: Mapping[str, Any]) -> int:
    """Equal for elements with the same identifying fields after normalization.

    Names compare without regard to case and repeated spaces, and page URLs without regard to
    case and a trailing slash. When the name is the only identifier, the location fields count
    too, so that two companies of one name in different places are both sent.
    """
    name = element.get("companyName")
    page_url = element.get("companyPageUrl")
    parts = [
        "" if name is None else " ".join(name.casefold().split()),
        element.get("companyWebsiteDomain", ""),
        element.get("companyEmailDomain", ""),
        element.get("organizationUrn", ""),
        "" if page_url is None else page_url.lower().rstrip("/"),
    ]
    if name is not None and not any(parts[1:]):
        parts.extend(element.get(field, "").casefold() for field in _LOCATION_FIELDS)
    return fingerprint(parts)
