"""Build contact-list (users) elements from rows.

A row is valid when it has a valid ``email`` or ``google_aid``, or a valid ``first_name`` and
``last_name``. An optional attribute that breaks its rule is left out and named in
``Member.dropped``. It rejects the row only when the row needs it as its identifier. Rules:
https://learn.microsoft.com/en-us/linkedin/marketing/matched-audiences/create-and-manage-segment-users
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
    normalize_advertising_id,
    normalize_country,
    normalize_email,
    to_identifier_text,
)

MAX_NAME_LENGTH = 35
MAX_COMPANY_LENGTH = 50
MAX_TITLE_LENGTH = 50

NO_IDENTIFIER = "no identifier: a row needs email, google_aid, or both first_name and last_name"
ONLY_IDFA = "only identifier is apple_idfa, which LinkedIn no longer accepts"
NAME_WITHOUT_PARTNER = "missing: without email or google_aid, a row needs both first_name and last_name"
UNEXPECTED = "could not be read ({})"

Normalizer = Callable[[Any], Any]

# column -> (element field, normalizer) of the attributes, in the order they enter the element.
_ATTRIBUTES: dict[str, tuple[str, Normalizer]] = {
    "first_name": ("firstName", functools.partial(limited_text, max_length=MAX_NAME_LENGTH)),
    "last_name": ("lastName", functools.partial(limited_text, max_length=MAX_NAME_LENGTH)),
    "company": ("company", functools.partial(limited_text, max_length=MAX_COMPANY_LENGTH)),
    "title": ("title", functools.partial(limited_text, max_length=MAX_TITLE_LENGTH)),
    "country": ("country", normalize_country),
}
# Attribute values repeat (first names, titles, countries), so each builder remembers the result
# for up to this many distinct cells per column, an estimated 2 MB per column at most.
MAX_CACHED_VALUES = 10_000
_NOT_CACHED = object()

# Member(...) runs a Python-level __new__. tuple.__new__ builds the same named tuple in C, which
# matters at tens of millions of rows.
_new_member = tuple.__new__


def build_users(
    columns: ColumnMap, action: str, *, positional: bool = False
) -> Callable[[int, Any], Member | Rejection]:
    """Return a function that turns ``(row_number, row)`` into a user ``Member`` or a ``Rejection``.

    ``row`` maps the original header names to raw cell values or, when ``positional``, is a
    sequence of cells that ``columns.sources`` indexes. The function raises no ``Exception`` for
    any row: an unexpected error becomes a ``Rejection`` of the whole row.
    """
    sources = columns.sources
    email_key = sources.get("email")
    google_aid_key = sources.get("google_aid")
    apple_idfa_key = sources.get("apple_idfa")
    # (column, header name, element field, normalizer, cache) of each attribute in the header.
    attributes = tuple(
        (column, sources[column], field, normalize, {})
        for column, (field, normalize) in _ATTRIBUTES.items()
        if column in sources
    )

    def build(row_number: int, row: Any) -> Member | Rejection:
        try:
            get = row.__getitem__ if positional else row.get
            user_ids: list[dict[str, str]] = []
            # (column, reason) of each identifier that broke its rule. Rarely needed, so built lazily.
            problems: list[tuple[str, str]] | None = None

            if email_key is not None:
                email = normalize_email(get(email_key))
                if type(email) is tuple:
                    user_ids.append({"idType": email[0], "idValue": email[1]})
                elif email is not None:
                    problems = [("email", email.reason)]

            if google_aid_key is not None:
                google_aid = normalize_advertising_id(get(google_aid_key))
                if type(google_aid) is str:
                    user_ids.append({"idType": "GOOGLE_AID", "idValue": google_aid})
                elif google_aid is not None:
                    problems = [*(problems or ()), ("google_aid", google_aid.reason)]

            element: dict[str, Any] = {"action": action, "userIds": user_ids}
            # An identifier that broke its rule is left out when another one carries the row.
            dropped = None if problems is None else [column for column, _ in problems]
            for column, key, field, normalize, cache in attributes:
                value = get(key)
                result = cache.get(value, _NOT_CACHED) if type(value) is str else _NOT_CACHED
                if result is _NOT_CACHED:
                    result = normalize(value)
                    if type(value) is str and len(cache) < MAX_CACHED_VALUES:
                        cache[value] = result
                if type(result) is str:
                    element[field] = result
                elif result is not None:
                    dropped = [*(dropped or ()), column]

            if not user_ids and ("firstName" not in element or "lastName" not in element):
                return _reject(row_number, get, problems, sources)

            # APPLE_IDFA is never sent, because LinkedIn no longer accepts it.
            if apple_idfa_key is not None and to_identifier_text(get(apple_idfa_key)) is not None:
                dropped = [*(dropped or ()), "apple_idfa"]

            if len(user_ids) == 1 and user_ids[0]["idType"] == "SHA256_EMAIL":
                # A SHA-256 digest is uniformly distributed already: its first 64 bits serve as is.
                member_fingerprint = int(user_ids[0]["idValue"][:16], 16)
            else:
                member_fingerprint = _fingerprint(element, user_ids)
            dropped_columns = () if dropped is None else tuple(dropped)
            return _new_member(Member, (row_number, element, member_fingerprint, dropped_columns))
        except Exception as error:  # the contract: a row never raises, whatever its cells contain
            return Rejection(row_number, None, UNEXPECTED.format(type(error).__name__))

    return build


def _fingerprint(element: dict[str, Any], user_ids: list[dict[str, str]]) -> int:
    """Digest the set of ids, or for a name-only row its names and attributes, into 64 bits."""
    if user_ids:
        return fingerprint(sorted(f"{user_id['idType']}:{user_id['idValue']}" for user_id in user_ids))
    return fingerprint(
        [
            "name",
            element["firstName"].casefold(),
            element["lastName"].casefold(),
            element.get("company", "").casefold(),
            element.get("title", "").casefold(),
            element.get("country", ""),
        ]
    )


def _reject(
    row_number: int,
    get: Callable[[Any], Any],
    problems: list[tuple[str, str]] | None,
    sources: Mapping[str, Any],
) -> Rejection:
    """Name the most useful reason why a row without a usable identifier is rejected."""
    if problems is not None:
        column, reason = problems[0]
        return Rejection(row_number, column, reason)

    names = {}
    for column in ("first_name", "last_name"):
        key = sources.get(column)
        name = None if key is None else limited_text(get(key), MAX_NAME_LENGTH)
        if isinstance(name, Invalid):
            return Rejection(row_number, column, name.reason)
        names[column] = name
    if names["first_name"] is not None:
        return Rejection(row_number, "last_name", NAME_WITHOUT_PARTNER)
    if names["last_name"] is not None:
        return Rejection(row_number, "first_name", NAME_WITHOUT_PARTNER)

    key = sources.get("apple_idfa")
    apple_idfa = None if key is None else normalize_advertising_id(get(key))
    if isinstance(apple_idfa, Invalid):
        return Rejection(row_number, "apple_idfa", apple_idfa.reason)
    if apple_idfa is not None:
        return Rejection(row_number, "apple_idfa", ONLY_IDFA)
    return Rejection(row_number, None, NO_IDENTIFIER)
