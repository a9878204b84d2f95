"""Normalize single cell values into the form LinkedIn receives.

Every function takes one raw cell value (whatever the source produced: str, int, float, bool,
bytes, None, list, dict, ...) and returns the normalized value, ``None`` when the cell is absent,
or an ``Invalid`` that carries the reason. None of them raises for any input value.

Rules for contacts come from
https://learn.microsoft.com/en-us/linkedin/marketing/matched-audiences/create-and-manage-segment-users
and for accounts from
https://learn.microsoft.com/en-us/linkedin/marketing/matched-audiences/create-and-manage-segment-companies
"""

from __future__ import annotations

import functools
import hashlib
import math
import numbers
import re
import unicodedata
from collections.abc import Iterable
from typing import Any, Final
from urllib.parse import urlsplit

import idna


class Invalid:
    """A cell value that breaks its column's rule. ``reason`` never contains the value."""

    __slots__ = ("reason",)

    def __init__(self, reason: str):
        self.reason = reason

    def __repr__(self) -> str:
        return f"Invalid({self.reason!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Invalid) and other.reason == self.reason

    def __hash__(self) -> int:
        return hash(self.reason)


NOT_UTF8: Final = Invalid("contains bytes that are not valid UTF-8")
SURROGATES: Final = Invalid("contains unpaired UTF-16 surrogates")
CONTROL_CHARACTERS: Final = Invalid("contains control characters")
LIST_OR_MAP: Final = Invalid("list or map values are not accepted")
BOOLEAN: Final = Invalid("true/false values are not accepted")
NOT_FINITE: Final = Invalid("not a finite number")
NUMBER_TOO_LONG: Final = Invalid("number has too many digits")
NOT_AN_EMAIL: Final = Invalid("not a valid email address")
EMAIL_TOO_LONG: Final = Invalid("longer than 254 characters, the maximum for an email address")
NOT_A_UUID: Final = Invalid("not a UUID advertising id")
ZERO_ADVERTISING_ID: Final = Invalid("all-zero advertising id (device opted out of tracking)")
NOT_A_COUNTRY: Final = Invalid("not an assigned ISO 3166-1 alpha-2 country code")
NOT_A_DOMAIN: Final = Invalid("not a domain name")
NOT_AN_IDN: Final = Invalid("not a valid internationalized domain name")
NOT_AN_ORGANIZATION: Final = Invalid("not an organization URN (urn:li:organization:<id>) or a numeric id")
NOT_A_PAGE_URL: Final = Invalid("not a LinkedIn company page URL (https://www.linkedin.com/company/...)")
TOO_MANY_INDUSTRIES: Final = Invalid("more than 3 industries")
INDUSTRY_TOO_LONG: Final = Invalid("an industry is longer than 50 characters")

# The cell text that means "no value", as SQL engines write a null into CSV.
NULL_TEXT: Final = "NULL"

MAX_EMAIL_LENGTH: Final = 254
MAX_INDUSTRIES: Final = 3
MAX_INDUSTRY_LENGTH: Final = 50
MAX_PAGE_URL_LENGTH: Final = 100

# C0 and C1 controls, DEL and the Unicode line and paragraph separators.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
# Sources decode with errors="surrogateescape", which turns each undecodable byte into U+DC80..U+DCFF.
_ESCAPED_BYTE = re.compile("[\udc80-\udcff]")
_SURROGATE = re.compile("[\ud800-\udfff]")

_EDGE_INVISIBLE = re.compile("^[\\s\u00ad\u200b-\u200d\u2060\ufeff]+|[\\s\u00ad\u200b-\u200d\u2060\ufeff]+$")
_HEX = re.compile(r"[0-9a-f]+")
# One "@", a local part of letters, digits and the symbols RFC 5322 allows in an unquoted local
# part, and a domain of at least two dot-separated labels of letters, digits and hyphens. Quotes,
# angle brackets, colons, semicolons, commas and invisible characters are rejected rather than
# hashed, because "<a@example.com>" or "mailto:a@example.com" would hash to an address that
# matches nobody. Letters include non-ASCII ones for internationalized addresses.
_EMAIL = re.compile(r"[\w!#$%&'*+/=?^`{|}~.-]++@[\w-]++(?:\.[\w-]++)++")
# The same rule for ASCII text, which matches faster.
_ASCII_EMAIL = re.compile(r"[a-z0-9!#$%&'*+/=?^_`{|}~.-]++@[a-z0-9_-]++(?:\.[a-z0-9_-]++)++")
_UUID_HYPHENATED = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_ZERO_UUID = "00000000-0000-0000-0000-000000000000"

# Letters, digits and inner hyphens, at most 63 characters a label. The last label starts with a
# letter, so IPv4 addresses are not taken for domains.
_DOMAIN = re.compile(r"(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z](?:[a-z0-9-]{0,61}[a-z0-9])?")
_MAX_DOMAIN_LENGTH = 253

_ORGANIZATION_PREFIX = "urn:li:organization:"
_DIGITS = re.compile(r"[0-9]{1,19}")
_PAGE_PATH = re.compile(r"/(?:company|showcase|school)/[^/?#]+(?:/[^?#]*)?")

# Officially assigned ISO 3166-1 alpha-2 codes: the 249 of the iso-codes 4.15 list. Reserved
# codes such as UK, EU and XK are not assigned and are rejected.
COUNTRY_CODES: Final = frozenset(
    """
    AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS
    BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE
    EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM
    HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC
    LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ NA
    NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW
    SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO
    TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW
    """.split()
)

# Every letter-case spelling of each code ("us", "Us", "uS", "US"), mapped to the upper-case code.
_COUNTRY_SPELLINGS: Final = {
    first + second: code
    for code in COUNTRY_CODES
    for first in (code[0], code[0].lower())
    for second in (code[1], code[1].lower())
}


def to_text(value: Any) -> str | Invalid | None:
    """Convert a cell to trimmed, NFC-normalized text; ``None`` when empty, blank or ``NULL``.

    Numbers become their decimal text. Booleans, lists, maps, invalid UTF-8 and control
    characters are invalid.
    """
    if type(value) is str:
        text = value.strip()
    elif value is None:
        return None
    else:
        converted = _convert(value)
        if type(converted) is not str:
            return converted
        text = converted.strip()

    if not text or text == NULL_TEXT:
        return None
    if text.isascii():
        # For ASCII text, isprintable() is False exactly when a control character is present.
        return text if text.isprintable() else CONTROL_CHARACTERS
    checked = _check_unicode(text)
    if checked == "" or checked == NULL_TEXT:
        # Only invisible characters around nothing, or around NULL.
        return None
    return checked


def to_identifier_text(value: Any) -> str | Invalid | None:
    """Convert an identifier cell like ``to_text``, and also take ``null`` in any letter case as absent.

    Export tools write a missing value as ``null`` or ``Null`` too. No email, advertising id,
    country code, domain or URN is spelled that way, while a name can be, so free-text columns
    keep ``to_text``'s rule of upper-case ``NULL`` only.
    """
    text = to_text(value)
    if type(text) is str and len(text) == 4 and text.lower() == "null":
        return None
    return text


def limited_text(value: Any, max_length: int) -> str | Invalid | None:
    """Text of at most ``max_length`` characters, counted after NFC normalization."""
    if type(value) is str:
        # Fast path: printable text has no control characters or surrogates to report.
        text = value.strip()
        if text.isprintable():
            if not text or text == NULL_TEXT:
                return None
            if not text.isascii() and not unicodedata.is_normalized("NFC", text):
                text = unicodedata.normalize("NFC", text)
            return text if len(text) <= max_length else too_long(max_length)

    text = to_text(value)
    if type(text) is str and len(text) > max_length:
        return too_long(max_length)
    return text


@functools.cache
def too_long(max_length: int) -> Invalid:
    return Invalid(f"longer than {max_length} characters")


def normalize_email(value: Any) -> tuple[str, str] | Invalid | None:
    """Return ``(idType, idValue)`` for an email cell.

    Exactly 64 hex digits is an existing SHA-256 and exactly 128 an existing SHA-512: both pass
    through in lower case, not hashed again. Anything else must be a plain address and is
    SHA-256 hashed as UTF-8 after trimming and lower-casing. There is no provider-specific
    rewriting: dots and ``+tags`` stay.
    """
    text = value.strip() if type(value) is str else None
    if text is None or not text.isascii() or not text.isprintable():
        text = to_identifier_text(value)
        if type(text) is not str:
            return text
    elif not text:
        return None
    text = text.lower()
    if text == "null":
        return None

    length = len(text)
    if length == 64 and _HEX.fullmatch(text):
        return "SHA256_EMAIL", text
    if length == 128 and _HEX.fullmatch(text):
        return "SHA512_EMAIL", text
    if length > MAX_EMAIL_LENGTH:
        return EMAIL_TOO_LONG
    if not (_ASCII_EMAIL if text.isascii() else _EMAIL).fullmatch(text):
        return NOT_AN_EMAIL
    return "SHA256_EMAIL", hashlib.sha256(text.encode()).hexdigest()


def normalize_advertising_id(value: Any) -> str | Invalid | None:
    """Normalize a Google or Apple advertising id: a UUID with or without hyphens, returned hyphenated in lower case.

    The all-zero id is what a device reports when its user opted out of tracking, so it is invalid.
    """
    if value is None or value == "":
        # Most rows leave the column empty; this skips the conversion for them.
        return None
    text = to_identifier_text(value)
    if type(text) is not str:
        return text
    text = text.lower()

    length = len(text)
    if length == 32 and _HEX.fullmatch(text):
        text = f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"
    elif length != 36 or not _UUID_HYPHENATED.fullmatch(text):
        return NOT_A_UUID
    if text == _ZERO_UUID:
        return ZERO_ADVERTISING_ID
    return text


def normalize_country(value: Any) -> str | Invalid | None:
    """Normalize an assigned ISO 3166-1 alpha-2 country code: any case in, upper case out."""
    if type(value) is str:
        code = _COUNTRY_SPELLINGS.get(value.strip())
        if code is not None:
            return code

    text = to_identifier_text(value)
    if type(text) is not str:
        return text
    return _COUNTRY_SPELLINGS.get(text, NOT_A_COUNTRY)


def normalize_domain(value: Any, *, from_email: bool = False) -> str | Invalid | None:
    """Reduce a domain, URL or (with ``from_email``) email address to a lower-case ASCII host name.

    Scheme, user, port, path, query, a trailing dot and a leading ``www.`` are removed. An
    internationalized name is returned in its IDNA 2008 ASCII form (``xn--``). IP addresses and
    anything else that is not a host name are invalid.
    """
    text = to_identifier_text(value)
    if type(text) is not str:
        return text
    host = text.lower()

    if from_email and "@" in host:
        host = host.rpartition("@")[2]
    if _DOMAIN.fullmatch(host) is None or host.startswith("www.") or "xn--" in host:
        return _normalize_host(host)
    return host if len(host) <= _MAX_DOMAIN_LENGTH else NOT_A_DOMAIN


def normalize_organization_urn(value: Any) -> str | Invalid | None:
    """Normalize an organization to ``urn:li:organization:<id>``, from that URN (any case) or the bare numeric id."""
    text = to_identifier_text(value)
    if type(text) is not str:
        return text

    if text[: len(_ORGANIZATION_PREFIX)].lower() == _ORGANIZATION_PREFIX:
        text = text[len(_ORGANIZATION_PREFIX) :]
    if not _DIGITS.fullmatch(text):
        return NOT_AN_ORGANIZATION
    number = int(text)
    if number == 0:
        return NOT_AN_ORGANIZATION
    return f"{_ORGANIZATION_PREFIX}{number}"


def normalize_company_page_url(value: Any) -> str | Invalid | None:
    """Normalize a LinkedIn company, showcase or school page URL to ``https://<host><path>``.

    A missing scheme is taken as https, and the query and fragment (tracking parameters) are
    removed. The result must fit in 100 characters.
    """
    text = to_identifier_text(value)
    if type(text) is not str:
        return text

    if "://" not in text:
        text = "https://" + text
    try:
        parts = urlsplit(text)
        host = parts.hostname
    except ValueError:
        return NOT_A_PAGE_URL
    if parts.scheme.lower() not in ("http", "https") or host is None:
        return NOT_A_PAGE_URL
    if host != "linkedin.com" and not host.endswith(".linkedin.com"):
        return NOT_A_PAGE_URL
    if not _PAGE_PATH.fullmatch(parts.path):
        return NOT_A_PAGE_URL

    url = f"https://{host}{parts.path}"
    return url if len(url) <= MAX_PAGE_URL_LENGTH else too_long(MAX_PAGE_URL_LENGTH)


def split_industries(value: Any) -> list[str] | Invalid | None:
    """Split comma-separated industry names: at most 3, each at most 50 characters. Empty parts are skipped."""
    text = to_text(value)
    if type(text) is not str:
        return text

    # NOTE: a comma always separates, so an industry whose own name contains a comma (LinkedIn's
    # taxonomy has some, such as "Oil, Gas, and Mining") is split in two.
    industries = [part for part in (piece.strip() for piece in text.split(",")) if part]
    if not industries:
        return None
    if len(industries) > MAX_INDUSTRIES:
        return TOO_MANY_INDUSTRIES
    if any(len(industry) > MAX_INDUSTRY_LENGTH for industry in industries):
        return INDUSTRY_TOO_LONG
    return industries


def fingerprint(parts: Iterable[str]) -> int:
    """Digest a sequence of normalized values into an unsigned 64-bit integer.

    The parts are joined with NUL, which no normalized value contains (control characters are
    invalid), so different sequences cannot encode to the same bytes.
    """
    data = "\x00".join(parts).encode()
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "big")


def _check_unicode(text: str) -> str | Invalid:
    # isprintable() is False for every control character and surrogate (and for some allowed
    # characters, such as no-break space), so True skips both searches.
    if not text.isprintable():
        # Invisible characters at either end (a byte-order mark from joined files, a zero-width
        # space pasted from a web page) are trimmed like spaces: a person cannot see them, and
        # hashing them would silently produce an address that matches nobody.
        text = _EDGE_INVISIBLE.sub("", text)
        if _SURROGATE.search(text):
            return NOT_UTF8 if _ESCAPED_BYTE.search(text) else SURROGATES
        if _CONTROL.search(text):
            return CONTROL_CHARACTERS
    if not unicodedata.is_normalized("NFC", text):
        text = unicodedata.normalize("NFC", text)
    return text


def _convert(value: Any) -> str | Invalid:
    """Convert a cell that is not a plain ``str`` to text (the slow path)."""
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, bool):
        return BOOLEAN
    if isinstance(value, numbers.Integral):
        try:
            return str(int(value))
        except ValueError:
            # str(int) raises ValueError above 4,300 digits (sys.int_info.default_max_str_digits).
            return NUMBER_TOO_LONG
    if isinstance(value, numbers.Real):
        number = float(value)
        if not math.isfinite(number):
            return NOT_FINITE
        if number.is_integer() and abs(number) < 1e16:
            return str(int(number))
        return repr(number)
    if isinstance(value, (bytes, bytearray, memoryview)):
        try:
            return bytes(value).decode("utf-8")
        except UnicodeDecodeError:
            return NOT_UTF8
    if isinstance(value, (list, tuple, dict, set, frozenset)):
        return LIST_OR_MAP
    return Invalid(f"values of type {type(value).__name__} are not accepted")


def _normalize_host(host: str) -> str | Invalid:
    """Extract the host name from a URL, ``www.`` or IDNA value: the slow path of ``normalize_domain``."""
    try:
        parts = urlsplit(host if "://" in host else "//" + host)
        hostname = parts.hostname
    except ValueError:
        return NOT_A_DOMAIN
    if not hostname:
        return NOT_A_DOMAIN
    if hostname.endswith("."):
        hostname = hostname[:-1]

    if not hostname.isascii() or "xn--" in hostname:
        try:
            # uts46=True applies the UTS #46 mapping (case folding, full-width dots) before IDNA 2008.
            hostname = idna.encode(hostname, uts46=True).decode("ascii")
            idna.decode(hostname)
        except (idna.IDNAError, UnicodeError, ValueError):
            return NOT_AN_IDN

    if hostname.startswith("www.") and "." in hostname[4:]:
        hostname = hostname[4:]
    if len(hostname) > _MAX_DOMAIN_LENGTH or not _DOMAIN.fullmatch(hostname):
        return NOT_A_DOMAIN
    return hostname
