"""The element checks and member updates behind /users and /companies, called directly: ids, rule order, keys."""

from __future__ import annotations

import hashlib
import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sandbox_http import FakeClock
from td_output_linkedin.sandbox.state import SandboxState
from td_output_linkedin.sandbox.validation import Accepted, check_company, check_user, user_ids_of

SHA256 = hashlib.sha256(b"ana@example.com").hexdigest()
SHA512 = hashlib.sha512(b"ana@example.com").hexdigest()
GAID = "38400000-8cf0-11bd-b23e-10b96e40000d"
# The form each idType must take, as the messages state it, written as regular expressions.
ID_FORMS = {
    "SHA256_EMAIL": re.compile(r"[0-9a-f]{64}"),
    "SHA512_EMAIL": re.compile(r"[0-9a-f]{128}"),
    "GOOGLE_AID": re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"),
}
ID_RULES = {
    "SHA256_EMAIL": "64 lowercase hexadecimal digits",
    "SHA512_EMAIL": "128 lowercase hexadecimal digits",
    "GOOGLE_AID": "a lowercase UUID",
}


def with_id(id_type: str, value: object, **fields: Any) -> dict[str, Any]:
    return {"action": "ADD", "userIds": [{"idType": id_type, "idValue": value}], **fields}


def id_message(id_type: str) -> str:
    return f"userIds[0].idValue of type {id_type} must be {ID_RULES[id_type]}"


@pytest.mark.parametrize(
    ("id_type", "value"),
    [
        ("SHA256_EMAIL", SHA256[:-1] + "A"),
        ("SHA256_EMAIL", " ".join(SHA256[index : index + 2] for index in range(0, 64, 2))[:64]),
        ("SHA256_EMAIL", " " + SHA256[1:]),
        ("SHA256_EMAIL", SHA256 + "\n"),
        ("SHA256_EMAIL", SHA256[:62] + "\u0661\u0662"),
        ("SHA256_EMAIL", SHA256[:62] + "\uff11\uff12"),
        ("SHA256_EMAIL", SHA512),
        ("SHA256_EMAIL", ""),
        ("SHA256_EMAIL", 7),
        ("SHA256_EMAIL", None),
        ("SHA512_EMAIL", SHA256),
        ("SHA512_EMAIL", SHA512 + " "),
        ("GOOGLE_AID", GAID.replace("-", "")),
        ("GOOGLE_AID", GAID[:8] + GAID[9] + "-" + GAID[10:]),
        ("GOOGLE_AID", GAID.replace("-", " ")),
        ("GOOGLE_AID", GAID[:-1] + "D"),
        ("GOOGLE_AID", GAID + "-"),
        ("GOOGLE_AID", "-" + GAID[:-1]),
        ("GOOGLE_AID", GAID[:-2]),
    ],
)
def test_id_value_not_in_documented_form(id_type: str, value: object) -> None:
    assert check_user(with_id(id_type, value)) == id_message(id_type)


@pytest.mark.parametrize(
    ("id_type", "value", "key"),
    [
        ("SHA256_EMAIL", SHA256, b"\x01" + bytes.fromhex(SHA256)),
        ("SHA512_EMAIL", SHA512, b"\x02" + bytes.fromhex(SHA512)),
        ("GOOGLE_AID", GAID, b"\x03" + bytes.fromhex(GAID.replace("-", ""))),
    ],
)
def test_id_value_in_documented_form(id_type: str, value: str, key: bytes) -> None:
    assert check_user(with_id(id_type, value)) == ("ADD", key, None)
    assert user_ids_of(key) == [{"idType": id_type, "idValue": value}]


@settings(max_examples=300, deadline=None)
@given(
    id_type=st.sampled_from(sorted(ID_FORMS)),
    value=st.text(alphabet="0123456789abcdefABCDEF- \n\t\u0661\uff11", min_size=30, max_size=130),
)
def test_id_check_matches_documented_form(id_type: str, value: str) -> None:
    result = check_user(with_id(id_type, value))
    if ID_FORMS[id_type].fullmatch(value):
        assert not isinstance(result, str)
    else:
        assert result == id_message(id_type)


@settings(max_examples=100, deadline=None)
@given(digits=st.text(alphabet="0123456789abcdef", min_size=32, max_size=32))
def test_google_aid_from_any_digits(digits: str) -> None:
    value = f"{digits[:8]}-{digits[8:12]}-{digits[12:16]}-{digits[16:20]}-{digits[20:]}"
    result = check_user(with_id("GOOGLE_AID", value))
    assert result == ("ADD", b"\x03" + bytes.fromhex(digits), None)


@pytest.mark.parametrize(
    ("user_ids", "same_as"),
    [
        ([("SHA256_EMAIL", SHA256), ("SHA256_EMAIL", SHA256)], [("SHA256_EMAIL", SHA256)]),
        ([("GOOGLE_AID", GAID), ("SHA256_EMAIL", SHA256)], [("SHA256_EMAIL", SHA256), ("GOOGLE_AID", GAID)]),
        ([("SHA512_EMAIL", SHA512), ("GOOGLE_AID", GAID)], [("GOOGLE_AID", GAID), ("SHA512_EMAIL", SHA512)]),
    ],
)
def test_member_key_ignores_id_order_and_repeats(user_ids: list[tuple[str, str]], same_as: list[tuple[str, str]]) -> None:
    first = check_user({"action": "ADD", "userIds": [{"idType": kind, "idValue": value} for kind, value in user_ids]})
    second = check_user({"action": "ADD", "userIds": [{"idType": kind, "idValue": value} for kind, value in same_as]})
    assert not isinstance(first, str)
    assert not isinstance(second, str)
    assert first[1] == second[1]


@pytest.mark.parametrize(
    ("element", "message"),
    [
        ([], "the element must be a JSON object"),
        ({"action": "ADD", "email": "x", "firstName": ""}, "unknown field 'email'"),
        ({"action": "UPSERT", "firstName": ""}, "action must be ADD or REMOVE"),
        ({"action": ["ADD"], "firstName": "Ana"}, "action must be ADD or REMOVE"),
        ({"action": {"ADD": 1}, "firstName": "Ana"}, "action must be ADD or REMOVE"),
        ({"action": "ADD", "userIds": [{"idType": ["SHA256_EMAIL"], "idValue": SHA256}]},
         "userIds[0].idType must be one of SHA256_EMAIL, SHA512_EMAIL, GOOGLE_AID"),
        ({"action": "ADD", "lastName": "L" * 36, "firstName": ""}, "firstName must not be an empty string; leave the field out instead"),
        ({"action": "ADD", "firstName": None}, "firstName must be a string"),
        ({"action": "ADD", "title": "T" * 51, "lastName": 5}, "lastName must be a string"),
        ({"action": "ADD", "company": "C" * 51, "country": "us"}, "company is 51 characters long; at most 50 are allowed"),
        ({"action": "ADD", "country": None, "userIds": 5}, "country must be an ISO 3166-1 alpha-2 code in upper case, such as US"),
        ({"action": "ADD", "userIds": [5, {"idType": "EMAIL"}]}, "userIds[0] must be an object with exactly idType and idValue"),
        ({"action": "ADD", "userIds": [{"idType": "SHA256_EMAIL", "idValue": SHA256}, {"idType": "APPLE_IDFA", "idValue": GAID}]},
         "userIds[1].idType APPLE_IDFA is no longer accepted"),
        ({"action": "ADD", "userIds": [{"idValue": SHA256, "idType": "SHA256_EMAIL", "x": 1}]},
         "userIds[0] must be an object with exactly idType and idValue"),
        ({"action": "ADD", "userIds": [], "firstName": "Ana"}, "userIds may be empty only when both firstName and lastName are given"),
    ],
)
def test_user_gets_first_broken_rule(element: Any, message: str) -> None:
    assert check_user(element) == message


def test_user_attributes_in_rule_order() -> None:
    element = with_id("SHA256_EMAIL", SHA256, country="DE", company="Hooli", title="CTO", lastName="Lima", firstName="Ana")
    result = check_user(element)
    assert not isinstance(result, str)
    assert list(result[2] or {}) == ["firstName", "lastName", "title", "company", "country"]


def test_name_only_user_keyed_by_names() -> None:
    first = check_user({"action": "ADD", "firstName": "Ana", "lastName": "Lima", "title": "CTO"})
    second = check_user({"action": "REMOVE", "userIds": [], "title": "CTO", "lastName": "Lima", "firstName": "Ana"})
    assert not isinstance(first, str)
    assert not isinstance(second, str)
    assert first[1] == second[1]
    assert user_ids_of(first[1]) == []


@pytest.mark.parametrize(
    ("element", "message"),
    [
        ({"action": "ADD", "companyName": None}, "companyName must be a string"),
        ({"action": "ADD", "companyWebsiteDomain": None}, "companyWebsiteDomain must be a domain such as example.com, without scheme or path"),
        ({"action": "ADD", "organizationUrn": None}, "organizationUrn must be urn:li:organization:{id} with a numeric id"),
        ({"action": "ADD", "companyName": "Acme", "country": None}, "country must be an ISO 3166-1 alpha-2 code in upper case, such as US"),
        ({"action": "ADD", "companyName": "Acme", "industries": ["Retail", 5]}, "industries[1] must be a string"),
        ({"action": "ADD", "companyPageUrl": 5}, "companyPageUrl must be a string"),
        ({"action": "ADD", "companyWebsiteDomain": "\u212a.com"},
         "companyWebsiteDomain must be a domain such as example.com, without scheme or path"),
        ({"action": ["REMOVE"], "companyName": "Acme"}, "action must be ADD or REMOVE"),
        ({"action": "ADD", "companyName": "C" * 51, "companyWebsiteDomain": "a b"}, "companyName is 51 characters long; at most 50 are allowed"),
        ({"action": "ADD", "city": "Lyon", "country": "FR"},
         "at least one of companyName, companyWebsiteDomain, companyEmailDomain, organizationUrn, companyPageUrl is required"),
    ],
)
def test_company_gets_first_broken_rule(element: dict[str, Any], message: str) -> None:
    assert check_company(element) == message


def test_company_keeps_fields_in_sent_order() -> None:
    element = {"city": "Lyon", "action": "REMOVE", "companyName": "Acme", "industries": ["Retail"]}
    result = check_company(element)
    assert not isinstance(result, str)
    action, _, attributes = result
    assert action == "REMOVE"
    assert list(attributes or {}) == ["city", "companyName", "industries"]
    assert element["action"] == "REMOVE"


def member(email: str, action: str = "ADD", **fields: Any) -> Accepted:
    result = check_user(with_id("SHA256_EMAIL", hashlib.sha256(email.encode()).hexdigest(), **fields) | {"action": action})
    assert not isinstance(result, str)
    return result


@pytest.mark.parametrize(
    ("batch", "names"),
    [
        ([member("a", firstName="Ana"), member("a", firstName="Bea")], ["Bea"]),
        ([member("a", firstName="Ana"), member("a", "REMOVE")], []),
        ([member("a", "REMOVE"), member("a", firstName="Ana")], ["Ana"]),
        ([member("a", firstName="Ana"), member("b", "REMOVE"), member("a", firstName="Cy")], ["Cy"]),
    ],
)
def test_apply_follows_element_order(batch: list[Accepted], names: list[str]) -> None:
    state = SandboxState(FakeClock())
    segment = state.create_segment({"name": "s", "type": "USER", "sourcePlatform": "LIST_UPLOAD"}, "1", 0)
    state.apply(segment, batch)
    assert [element.get("firstName") for element in segment.member_elements()] == names


@pytest.mark.parametrize(
    ("actions", "count"),
    [(["ADD", "ADD", "ADD"], 3), (["ADD", "REMOVE", "ADD", "ADD"], 2), (["REMOVE", "REMOVE"], 0), ([], 0)],
)
def test_apply_counts_without_storing(actions: list[str], count: int) -> None:
    state = SandboxState(FakeClock(), store_members=False)
    segment = state.create_segment({"name": "s", "type": "USER", "sourcePlatform": "LIST_UPLOAD"}, "1", 0)
    state.apply(segment, [member(f"p{index}", action) for index, action in enumerate(actions)])
    assert segment.member_count(store_members=False) == count
    assert segment.members == {}
