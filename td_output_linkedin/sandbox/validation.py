"""Field rules of LinkedIn's DMP segment, user and company bodies, applied as the API applies them.

Each ``check_*`` function returns the accepted value or a message naming the field that broke a rule.
Messages name fields and rules, never the values: element values are personal data.
Rules: https://learn.microsoft.com/en-us/linkedin/marketing/matched-audiences/create-and-manage-segment-users
and .../create-and-manage-segment-companies; limits marked NOTE are published only by LinkedIn partners.
"""

from __future__ import annotations

import re
from typing import Any, TypeAlias

import orjson

from td_output_linkedin.sandbox.countries import ISO_COUNTRY_CODES

ACTIONS = frozenset({"ADD", "REMOVE"})
SEGMENT_TYPES = frozenset({"USER", "COMPANY"})
MAX_SEGMENT_NAME_LENGTH = 255  # NOTE: LinkedIn publishes no limit; this project's choice.

ACCOUNT_URN = re.compile(r"urn:li:sponsoredAccount:([1-9][0-9]{0,18})")
SOURCE_PLATFORM = re.compile(r"[A-Z][A-Z0-9_]{0,63}")
SEGMENT_FIELDS = frozenset(
    {"name", "account", "type", "sourcePlatform", "sourceSegmentId", "description", "destinations"}
)

# idType -> (tag byte in a member key, byte length). Members are keyed by the raw bytes of their ids,
# so a million SHA-256 members cost about 33 bytes of key each instead of a 64-character str.
# An idValue is valid when it is the canonical text of its bytes (``_id_text``): lowercase hexadecimal
# digits, and for GOOGLE_AID the dashed UUID form.
USER_ID_TYPES: dict[str, tuple[bytes, int]] = {
    "SHA256_EMAIL": (b"\x01", 32),
    "SHA512_EMAIL": (b"\x02", 64),
    "GOOGLE_AID": (b"\x03", 16),
}
ID_TYPE_BY_TAG = {tag: (name, length) for name, (tag, length) in USER_ID_TYPES.items()}
ID_RULE_TEXT = {
    "SHA256_EMAIL": "64 lowercase hexadecimal digits",
    "SHA512_EMAIL": "128 lowercase hexadecimal digits",
    "GOOGLE_AID": "a lowercase UUID",
}
# LinkedIn removed APPLE_IDFA from the idType table in 2025 (reported by Adobe's LinkedIn connector docs).
RETIRED_ID_TYPES = frozenset({"APPLE_IDFA"})
NAME_ONLY_TAG = b"\x00"
NOT_AN_OBJECT = "the element must be a JSON object"
USER_ID_FIELDS = frozenset({"idType", "idValue"})
COUNTRY_RULE_TEXT = "country must be an ISO 3166-1 alpha-2 code in upper case, such as US"
# Default of ``dict.get`` that distinguishes a missing field from a JSON null, which is present and invalid.
_ABSENT = object()

# NOTE: these lengths come from partner docs (Tealium, HCL), not from LinkedIn's own pages.
USER_TEXT_LIMITS = {"firstName": 35, "lastName": 35, "title": 50, "company": 50}
USER_FIELDS = frozenset({"action", "userIds", "country", *USER_TEXT_LIMITS})

COMPANY_TEXT_LIMITS = {
    "companyName": 50,
    "companyPageUrl": 100,
    "stockSymbol": 5,
    "city": 50,
    "state": 50,
    "postalCode": 20,
}
COMPANY_IDENTIFYING_FIELDS = (
    "companyName",
    "companyWebsiteDomain",
    "companyEmailDomain",
    "organizationUrn",
    "companyPageUrl",
)
COMPANY_FIELDS = frozenset(
    {"action", "companyWebsiteDomain", "companyEmailDomain", "organizationUrn", "industries", "country"}
    | set(COMPANY_TEXT_LIMITS)
)
MAX_INDUSTRIES = 3
MAX_INDUSTRY_LENGTH = 50
# NOTE: ASCII only: an internationalized domain must arrive in its IDNA (xn--) form. re.ASCII keeps
# IGNORECASE from matching the few non-ASCII letters that fold to ASCII, such as the Kelvin sign.
DOMAIN = re.compile(
    r"(?=.{1,253}\Z)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+(?:[a-z]{2,63}|xn--[a-z0-9-]{1,59})",
    re.IGNORECASE | re.ASCII,
)
ORGANIZATION_URN = re.compile(r"urn:li:organization:[1-9][0-9]{0,18}")
COMPANY_PAGE_URL = re.compile(r"https?://(?:[a-z]{2,3}\.)?linkedin\.com/company/[^/?#\s]+/?", re.IGNORECASE)


# A valid element: (action, the key that identifies the member, what is kept about it or None).
# A plain tuple, because building a NamedTuple costs a Python-level call for every element of a batch.
Accepted: TypeAlias = tuple[str, bytes, dict[str, Any] | None]


def account_id_of(urn: object) -> str | None:
    """Return the numeric id of an ``urn:li:sponsoredAccount:N``, or None when it is not one."""
    if not isinstance(urn, str):
        return None
    match = ACCOUNT_URN.fullmatch(urn)
    return match.group(1) if match else None


def check_segment(body: object) -> dict[str, Any] | str:
    """Check a create-segment body; return its fields or the first broken rule."""
    if not isinstance(body, dict):
        return "the body must be a JSON object"

    unknown = sorted(set(body) - SEGMENT_FIELDS)
    if "accessPolicy" in unknown:
        return "accessPolicy is not a field of dmpSegments since version 202406; leave it out"
    if unknown:
        return f"unknown field {_field_name(unknown[0])}"

    for required in ("name", "account", "type", "sourcePlatform", "destinations"):
        if required not in body:
            return f"{required} is required"
    name = body["name"]
    if not isinstance(name, str) or not 1 <= len(name) <= MAX_SEGMENT_NAME_LENGTH:
        return f"name must be a string of 1 to {MAX_SEGMENT_NAME_LENGTH} characters"
    if account_id_of(body["account"]) is None:
        return "account must be an urn:li:sponsoredAccount:{id} with a numeric id"
    if body["type"] not in SEGMENT_TYPES:
        return "type must be USER or COMPANY"
    if not isinstance(body["sourcePlatform"], str) or not SOURCE_PLATFORM.fullmatch(body["sourcePlatform"]):
        return "sourcePlatform must be an enum value such as LIST_UPLOAD, in upper case"
    for optional in ("description", "sourceSegmentId"):
        if optional in body and (not isinstance(body[optional], str) or body[optional] == ""):
            return f"{optional} must be a non-empty string when present"

    destinations = body["destinations"]
    if not isinstance(destinations, list) or not destinations:
        return 'destinations must be a non-empty array such as [{"destination": "LINKEDIN"}]'
    for index, destination in enumerate(destinations):
        if not isinstance(destination, dict) or destination != {"destination": "LINKEDIN"}:
            return f'destinations[{index}] must be {{"destination": "LINKEDIN"}}'
    return body


def check_batch(body: object, max_elements: int) -> list[Any] | str:
    """Check the envelope of a BATCH_CREATE body and return its elements."""
    if not isinstance(body, dict):
        return "the body must be a JSON object"
    if set(body) != {"elements"}:
        return 'the body must contain only "elements"'
    elements = body["elements"]
    if not isinstance(elements, list):
        return "elements must be an array"
    if not elements:
        # NOTE: what LinkedIn does with an empty batch is not published; the sandbox rejects it.
        return "elements must not be empty"
    if len(elements) > max_elements:
        return f"elements has {len(elements)} entries; at most {max_elements} are allowed per request"
    return elements


def check_user(element: object) -> Accepted | str:
    """Check one element of ``/dmpSegments/{id}/users``."""
    if not isinstance(element, dict):
        return NOT_AN_OBJECT
    problem = _fields_problem(element, USER_FIELDS)
    if problem:
        return problem

    # The rules run in a fixed order (text fields, country, userIds), so an element that breaks several
    # always gets the same message.
    attributes: dict[str, Any] = {}
    for name, limit in USER_TEXT_LIMITS.items():
        value = element.get(name, _ABSENT)
        if value is _ABSENT:
            continue
        if not (isinstance(value, str) and 0 < len(value) <= limit):
            return _text_problem(name, value, limit)
        attributes[name] = value
    country = element.get("country", _ABSENT)
    if country is not _ABSENT:
        if not (isinstance(country, str) and country in ISO_COUNTRY_CODES):
            return COUNTRY_RULE_TEXT
        attributes["country"] = country

    user_ids = element.get("userIds", [])
    if isinstance(user_ids, list) and len(user_ids) == 1:
        # Most elements carry one id, and a set of one piece would sort and join to the piece itself.
        key = _user_id_piece(0, user_ids[0])
    else:
        key = _user_ids_key(user_ids)
    if isinstance(key, str):
        return key
    if not key:
        if "firstName" not in attributes or "lastName" not in attributes:
            return "userIds may be empty only when both firstName and lastName are given"
        key = NAME_ONLY_TAG + orjson.dumps(attributes, option=orjson.OPT_SORT_KEYS)
    return element["action"], key, attributes or None


def check_company(element: object) -> Accepted | str:
    """Check one element of ``/dmpSegments/{id}/companies``."""
    if not isinstance(element, dict):
        return NOT_AN_OBJECT
    problem = _fields_problem(element, COMPANY_FIELDS)
    if problem:
        return problem

    for name, limit in COMPANY_TEXT_LIMITS.items():
        value = element.get(name, _ABSENT)
        if value is not _ABSENT and not (isinstance(value, str) and 0 < len(value) <= limit):
            return _text_problem(name, value, limit)
    for name in ("companyWebsiteDomain", "companyEmailDomain"):
        value = element.get(name, _ABSENT)
        if value is not _ABSENT and not (isinstance(value, str) and DOMAIN.fullmatch(value)):
            return f"{name} must be a domain such as example.com, without scheme or path"
    urn = element.get("organizationUrn", _ABSENT)
    if urn is not _ABSENT and not (isinstance(urn, str) and ORGANIZATION_URN.fullmatch(urn)):
        return "organizationUrn must be urn:li:organization:{id} with a numeric id"
    if "companyPageUrl" in element and not COMPANY_PAGE_URL.fullmatch(element["companyPageUrl"]):
        return "companyPageUrl must be a LinkedIn company page URL such as https://www.linkedin.com/company/name"
    if "industries" in element:
        problem = _industries_problem(element["industries"])
        if problem:
            return problem
    country = element.get("country", _ABSENT)
    if country is not _ABSENT and not (isinstance(country, str) and country in ISO_COUNTRY_CODES):
        return COUNTRY_RULE_TEXT

    identity = [element.get(name) for name in COMPANY_IDENTIFYING_FIELDS]
    if identity.count(None) == len(identity):
        return "at least one of " + ", ".join(COMPANY_IDENTIFYING_FIELDS) + " is required"
    attributes = element.copy()
    del attributes["action"]
    return element["action"], orjson.dumps(identity), attributes


def user_ids_of(key: bytes) -> list[dict[str, str]]:
    """Turn a member key back into the ``userIds`` it was made from (in canonical order)."""
    if key[:1] == NAME_ONLY_TAG:
        return []
    user_ids = []
    position = 0
    while position < len(key):
        id_type, length = ID_TYPE_BY_TAG[key[position : position + 1]]
        raw = key[position + 1 : position + 1 + length]
        user_ids.append({"idType": id_type, "idValue": _id_text(id_type, raw)})
        position += 1 + length
    return user_ids


def _fields_problem(element: dict[str, Any], fields: frozenset[str]) -> str | None:
    if not element.keys() <= fields:
        return f"unknown field {_field_name(sorted(element.keys() - fields)[0])}"
    action = element.get("action")
    # A JSON array or object cannot be looked up in a set: checking the type first keeps it a 400.
    if not isinstance(action, str) or action not in ACTIONS:
        return "action must be ADD or REMOVE"
    return None


def _user_ids_key(user_ids: object) -> bytes | str:
    if not isinstance(user_ids, list):
        return "userIds must be an array"
    pieces = set()
    for index, user_id in enumerate(user_ids):
        piece = _user_id_piece(index, user_id)
        if isinstance(piece, str):
            return piece
        pieces.add(piece)
    return b"".join(sorted(pieces))


def _user_id_piece(index: int, user_id: object) -> bytes | str:
    """Return the tag and raw bytes of ``userIds[index]``, or the rule it breaks."""
    if not isinstance(user_id, dict) or user_id.keys() != USER_ID_FIELDS:
        return f"userIds[{index}] must be an object with exactly idType and idValue"
    id_type = user_id["idType"]
    rule = USER_ID_TYPES.get(id_type) if isinstance(id_type, str) else None
    if rule is None:
        if isinstance(id_type, str) and id_type in RETIRED_ID_TYPES:
            return f"userIds[{index}].idType {id_type} is no longer accepted"
        return f"userIds[{index}].idType must be one of {', '.join(USER_ID_TYPES)}"
    tag, length = rule
    value = user_id["idValue"]
    if isinstance(value, str):
        try:
            raw = bytes.fromhex(value.replace("-", "") if id_type == "GOOGLE_AID" else value)
        except ValueError:
            raw = b""
        # fromhex also accepts upper case and whitespace, so the value must be the canonical text of
        # its bytes. This round trip costs about half of what a regex match would.
        if len(raw) == length and _id_text(id_type, raw) == value:
            return tag + raw
    return f"userIds[{index}].idValue of type {id_type} must be {ID_RULE_TEXT[id_type]}"


def _id_text(id_type: str, raw: bytes) -> str:
    digits = raw.hex()
    if id_type == "GOOGLE_AID":
        return f"{digits[:8]}-{digits[8:12]}-{digits[12:16]}-{digits[16:20]}-{digits[20:]}"
    return digits


def _text_problem(name: str, value: object, limit: int) -> str:
    """Return the message for a ``value`` that is not a string of 1 to ``limit`` characters.

    Callers test ``isinstance(value, str) and 0 < len(value) <= limit`` inline and call this only when
    the test fails, so that a valid field, of thousands in a batch, costs no call.
    """
    if not isinstance(value, str):
        return f"{name} must be a string"
    if value == "":
        return f"{name} must not be an empty string; leave the field out instead"
    return f"{name} is {len(value)} characters long; at most {limit} are allowed"


def _industries_problem(value: object) -> str | None:
    if not isinstance(value, list) or not 1 <= len(value) <= MAX_INDUSTRIES:
        return f"industries must be an array of 1 to {MAX_INDUSTRIES} strings"
    for index, industry in enumerate(value):
        if not (isinstance(industry, str) and 0 < len(industry) <= MAX_INDUSTRY_LENGTH):
            return _text_problem(f"industries[{index}]", industry, MAX_INDUSTRY_LENGTH)
    return None


def _field_name(name: str) -> str:
    """Quote a field name from a request, shortened: it comes from the client and may be anything."""
    return repr(name[:40])
