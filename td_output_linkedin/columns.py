"""Column names: map an input header onto the canonical columns of one audience type.

Header names match without regard to letter case and surrounding spaces, and a UTF-8 byte-order
mark is ignored. The mapping is decided once, from the header, before the first row is read.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from td_output_linkedin.errors import InputError, MissingColumnsError

USERS = "users"
COMPANIES = "companies"

# Contact list (users) columns. The element fields they fill are described on
# https://learn.microsoft.com/en-us/linkedin/marketing/matched-audiences/create-and-manage-segment-users
USER_COLUMNS: tuple[str, ...] = (
    "email",
    "google_aid",
    "apple_idfa",
    "first_name",
    "last_name",
    "company",
    "title",
    "country",
)

# Account list (companies) columns. The element fields they fill are described on
# https://learn.microsoft.com/en-us/linkedin/marketing/matched-audiences/create-and-manage-segment-companies
COMPANY_COLUMNS: tuple[str, ...] = (
    "company_name",
    "company_web_site_domain",
    "company_email_domain",
    "organization_urn",
    "company_page_url",
    "stock_symbol",
    "industries",
    "city",
    "state",
    "country",
    "postal_code",
)

# Each group is one way to identify a member: a row needs every column of at least one group.
# An IDFA alone cannot identify a member, because LinkedIn no longer accepts APPLE_IDFA.
_IDENTIFYING_GROUPS: dict[str, tuple[tuple[str, ...], ...]] = {
    USERS: (("email",), ("google_aid",), ("first_name", "last_name")),
    COMPANIES: (
        ("company_name",),
        ("company_web_site_domain",),
        ("company_email_domain",),
        ("organization_urn",),
        ("company_page_url",),
    ),
}

IDENTIFYING_COLUMNS: dict[str, tuple[str, ...]] = {
    audience_type: tuple(column for group in groups for column in group)
    for audience_type, groups in _IDENTIFYING_GROUPS.items()
}

# Alternative header names. LinkedIn's pages spell the website-domain column both ways, and
# linkedin_company_id contains the numeric organization id.
ALIASES: dict[str, str] = {
    "company_website_domain": "company_web_site_domain",
    "linkedin_company_id": "organization_urn",
}

_CANONICAL: dict[str, tuple[str, ...]] = {USERS: USER_COLUMNS, COMPANIES: COMPANY_COLUMNS}
_BYTE_ORDER_MARK = "\ufeff"


@dataclass(frozen=True)
class ColumnMap:
    """The columns found in one input header.

    ``sources`` maps each canonical column to the header name exactly as it appears in the input,
    so rows can be read by their original keys. ``unknown`` lists header names that match no column
    and ``other_type`` those that belong only to the other audience type.
    """

    audience_type: str
    sources: dict[str, str]
    unknown: tuple[str, ...] = ()
    other_type: tuple[str, ...] = ()


def accepted_columns(audience_type: str) -> tuple[str, ...]:
    """Return the canonical column names of ``audience_type`` followed by their aliases."""
    canonical = _columns_of(audience_type)
    aliases = tuple(alias for alias, target in ALIASES.items() if target in canonical)
    return canonical + aliases


def resolve_columns(header: Sequence[str], audience_type: str, *, require_identifier: bool = True) -> ColumnMap:
    """Map a header onto the canonical columns of ``audience_type``.

    Raises ``InputError`` when two header names map to one column, and ``MissingColumnsError``
    when the header cannot identify a member (for users: no email, no google_aid, and not both
    first_name and last_name), unless ``require_identifier`` is False. Rows of JSON or msgpack maps
    can leave out keys, so their columns are resolved per set of keys without that check.
    """
    canonical = _columns_of(audience_type)
    other = _CANONICAL[COMPANIES if audience_type == USERS else USERS]

    sources: dict[str, str] = {}
    unknown: list[str] = []
    other_type: list[str] = []
    for name in header:
        key = _match_key(name)
        column = ALIASES.get(key, key)
        if column in canonical:
            if column in sources:
                raise InputError(
                    f"header names {sources[column]!r} and {name!r} both map to column {column!r}; "
                    "rename or remove one of them"
                )
            sources[column] = name
        elif column in other:
            other_type.append(str(name))
        else:
            unknown.append(str(name))

    identifiable = any(all(column in sources for column in group) for group in _IDENTIFYING_GROUPS[audience_type])
    if require_identifier and not identifiable:
        found = [_display_name(name) for name in header]
        raise MissingColumnsError(found, _identifying_choices(audience_type), audience_type)

    return ColumnMap(audience_type, sources, tuple(unknown), tuple(other_type))


def _columns_of(audience_type: str) -> tuple[str, ...]:
    try:
        return _CANONICAL[audience_type]
    except KeyError:
        raise ValueError(f"unknown audience type {audience_type!r}; expected 'users' or 'companies'") from None


def _match_key(name: object) -> str:
    text = name if isinstance(name, str) else str(name)
    return text.replace(_BYTE_ORDER_MARK, "").strip().lower()


def _display_name(name: object) -> str:
    text = name if isinstance(name, str) else str(name)
    return text.replace(_BYTE_ORDER_MARK, "")


def _identifying_choices(audience_type: str) -> list[str]:
    """List what a header must contain, with aliases, e.g. ``first_name and last_name``."""
    choices = []
    for group in _IDENTIFYING_GROUPS[audience_type]:
        names = []
        for column in group:
            aliases = [alias for alias, target in ALIASES.items() if target == column]
            names.append(" or ".join([column, *aliases]))
        choices.append(" and ".join(names))
    return choices
