"""Member batches on /users and /companies: field rules, per-element statuses, idempotent ADD and REMOVE."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from sandbox_http import Api, sha256, user
from td_output_linkedin.sandbox import Sandbox

SHA256 = sha256("ana@example.com")
SHA512 = hashlib.sha512(b"ana@example.com").hexdigest()
GAID = "38400000-8cf0-11bd-b23e-10b96e40000d"


def ids(*pairs: tuple[str, str]) -> list[dict[str, str]]:
    return [{"idType": id_type, "idValue": value} for id_type, value in pairs]


VALID_USERS = [
    {"action": "ADD", "userIds": ids(("SHA256_EMAIL", SHA256))},
    {"action": "ADD", "userIds": ids(("SHA512_EMAIL", SHA512))},
    {"action": "ADD", "userIds": ids(("GOOGLE_AID", GAID))},
    {"action": "ADD", "userIds": ids(("SHA256_EMAIL", SHA256), ("GOOGLE_AID", GAID)),
     "firstName": "A" * 35, "lastName": "B" * 35, "title": "T" * 50, "company": "C" * 50, "country": "US"},
    {"action": "ADD", "userIds": [], "firstName": "Ana", "lastName": "Lima"},
    {"action": "ADD", "firstName": "Ana", "lastName": "Lima", "company": "Acme"},
]

INVALID_USERS = [
    ({"action": "UPSERT", "userIds": ids(("SHA256_EMAIL", SHA256))}, "action"),
    ({"userIds": ids(("SHA256_EMAIL", SHA256))}, "action"),
    ({"action": "ADD", "userIds": ids(("SHA256_EMAIL", SHA256.upper()))}, "64 lowercase hexadecimal"),
    ({"action": "ADD", "userIds": ids(("SHA256_EMAIL", SHA256[:63]))}, "64 lowercase hexadecimal"),
    ({"action": "ADD", "userIds": ids(("SHA256_EMAIL", SHA512))}, "64 lowercase hexadecimal"),
    ({"action": "ADD", "userIds": ids(("SHA256_EMAIL", "ana@example.com"))}, "64 lowercase hexadecimal"),
    ({"action": "ADD", "userIds": ids(("SHA512_EMAIL", SHA256))}, "128 lowercase hexadecimal"),
    ({"action": "ADD", "userIds": ids(("GOOGLE_AID", GAID.upper()))}, "lowercase UUID"),
    ({"action": "ADD", "userIds": ids(("GOOGLE_AID", GAID.replace("-", "")))}, "lowercase UUID"),
    ({"action": "ADD", "userIds": ids(("APPLE_IDFA", GAID))}, "APPLE_IDFA is no longer accepted"),
    ({"action": "ADD", "userIds": ids(("EMAIL", "ana@example.com"))}, "idType must be one of"),
    ({"action": "ADD", "userIds": [{"idType": "SHA256_EMAIL"}]}, "exactly idType and idValue"),
    ({"action": "ADD", "userIds": {"idType": "SHA256_EMAIL", "idValue": SHA256}}, "userIds must be an array"),
    ({"action": "ADD", "userIds": []}, "both firstName and lastName"),
    ({"action": "ADD", "firstName": "Ana"}, "both firstName and lastName"),
    ({"action": "ADD", "userIds": ids(("SHA256_EMAIL", SHA256)), "firstName": ""}, "firstName must not be an empty string"),
    ({"action": "ADD", "userIds": ids(("SHA256_EMAIL", SHA256)), "lastName": "L" * 36}, "at most 35"),
    ({"action": "ADD", "userIds": ids(("SHA256_EMAIL", SHA256)), "title": "T" * 51}, "at most 50"),
    ({"action": "ADD", "userIds": ids(("SHA256_EMAIL", SHA256)), "company": 7}, "company must be a string"),
    ({"action": "ADD", "userIds": ids(("SHA256_EMAIL", SHA256)), "country": "us"}, "ISO 3166-1"),
    ({"action": "ADD", "userIds": ids(("SHA256_EMAIL", SHA256)), "country": "XX"}, "ISO 3166-1"),
    ({"action": "ADD", "userIds": ids(("SHA256_EMAIL", SHA256)), "country": "USA"}, "ISO 3166-1"),
    ({"action": "ADD", "userIds": ids(("SHA256_EMAIL", SHA256)), "email": "ana@example.com"}, "unknown field 'email'"),
    ("not an object", "JSON object"),
]

VALID_COMPANIES = [
    {"action": "ADD", "companyName": "Acme"},
    {"action": "ADD", "companyWebsiteDomain": "acme.example.com"},
    {"action": "ADD", "companyEmailDomain": "xn--bcher-kva.de"},
    {"action": "ADD", "organizationUrn": "urn:li:organization:1337"},
    {"action": "ADD", "companyPageUrl": "https://www.linkedin.com/company/acme"},
    {"action": "ADD", "companyName": "C" * 50, "companyWebsiteDomain": "acme.com", "stockSymbol": "ACME",
     "industries": ["Retail", "Software", "I" * 50], "city": "Lyon", "state": "ARA", "country": "FR", "postalCode": "69001"},
]

INVALID_COMPANIES = [
    ({"action": "ADD", "city": "Lyon"}, "at least one of"),
    ({"action": "ADD", "companyName": ""}, "companyName must not be an empty string"),
    ({"action": "ADD", "companyName": "C" * 51}, "at most 50"),
    ({"action": "ADD", "companyWebsiteDomain": "https://acme.com"}, "companyWebsiteDomain must be a domain"),
    ({"action": "ADD", "companyWebsiteDomain": "acme.com/about"}, "companyWebsiteDomain must be a domain"),
    ({"action": "ADD", "companyEmailDomain": "localhost"}, "companyEmailDomain must be a domain"),
    ({"action": "ADD", "companyEmailDomain": "bücher.de"}, "companyEmailDomain must be a domain"),
    ({"action": "ADD", "organizationUrn": "urn:li:company:1"}, "organizationUrn"),
    ({"action": "ADD", "companyPageUrl": "https://example.com/company/acme"}, "companyPageUrl"),
    ({"action": "ADD", "companyPageUrl": "https://www.linkedin.com/company/" + "a" * 80}, "at most 100"),
    ({"action": "ADD", "companyName": "Acme", "stockSymbol": "ACMEXX"}, "at most 5"),
    ({"action": "ADD", "companyName": "Acme", "industries": ["a", "b", "c", "d"]}, "industries"),
    ({"action": "ADD", "companyName": "Acme", "industries": []}, "industries"),
    ({"action": "ADD", "companyName": "Acme", "industries": ["I" * 51]}, "industries[0]"),
    ({"action": "ADD", "companyName": "Acme", "postalCode": "1" * 21}, "at most 20"),
    ({"action": "ADD", "companyName": "Acme", "country": "Fr"}, "ISO 3166-1"),
    ({"action": "ADD", "companyName": "Acme", "userIds": []}, "unknown field 'userIds'"),
    ({"action": "DELETE", "companyName": "Acme"}, "action"),
]


@pytest.mark.parametrize("element", VALID_USERS)
def test_valid_user_is_kept_as_sent(api: Api, sandbox: Sandbox, element: dict[str, Any]) -> None:
    segment_id = api.new_segment()
    response = api.write(segment_id, "users", [element])
    assert response.status_code == 200
    assert response.json() == {"elements": [{"status": 201}]}
    kept = sandbox.members(segment_id)
    expected = {name: value for name, value in element.items() if name != "action"}
    expected["userIds"] = sorted(expected.get("userIds", []), key=lambda user_id: user_id["idType"])
    kept[0]["userIds"] = sorted(kept[0]["userIds"], key=lambda user_id: user_id["idType"])
    assert kept == [expected]


@pytest.mark.parametrize(("element", "fragment"), INVALID_USERS)
def test_invalid_user_gets_own_400(api: Api, sandbox: Sandbox, element: Any, fragment: str) -> None:
    segment_id = api.new_segment()
    good = user("bo@example.com")
    response = api.write(segment_id, "users", [good, element, good])
    assert response.status_code == 200
    statuses = response.json()["elements"]
    assert [entry["status"] for entry in statuses] == [201, 400, 201]
    error = statuses[1]["error"]
    assert (error["status"], error["code"]) == (400, "INVALID_VALUE")
    assert error["message"].startswith("elements[1]: ")
    assert fragment in error["message"]
    assert len(sandbox.members(segment_id)) == 1


@pytest.mark.parametrize("element", VALID_COMPANIES)
def test_valid_company_is_kept_as_sent(api: Api, sandbox: Sandbox, element: dict[str, Any]) -> None:
    segment_id = api.new_segment("COMPANY")
    response = api.write(segment_id, "companies", [element])
    assert response.json() == {"elements": [{"status": 201}]}
    assert sandbox.members(segment_id) == [{name: value for name, value in element.items() if name != "action"}]


@pytest.mark.parametrize(("element", "fragment"), INVALID_COMPANIES)
def test_invalid_company_gets_own_400(api: Api, sandbox: Sandbox, element: Any, fragment: str) -> None:
    segment_id = api.new_segment("COMPANY")
    response = api.write(segment_id, "companies", [element, {"action": "ADD", "companyName": "Good"}])
    statuses = response.json()["elements"]
    assert [entry["status"] for entry in statuses] == [400, 201]
    assert fragment in statuses[0]["error"]["message"]
    assert sandbox.members(segment_id) == [{"companyName": "Good"}]


def test_messages_never_contain_values(api: Api) -> None:
    segment_id = api.new_segment()
    secret_name = "Zelda" * 10
    elements = [
        {"action": "ADD", "userIds": ids(("SHA256_EMAIL", "zelda@example.com"))},
        {"action": "ADD", "userIds": ids(("SHA256_EMAIL", SHA256)), "firstName": secret_name},
        {"action": "ADD", "userIds": ids(("GOOGLE_AID", GAID.upper()))},
    ]
    text = api.write(segment_id, "users", elements).text
    assert "zelda@example.com" not in text
    assert secret_name not in text
    assert GAID.upper() not in text


def test_add_and_remove_are_idempotent(api: Api, sandbox: Sandbox) -> None:
    segment_id = api.new_segment()
    ana, bo = user("ana@example.com"), user("bo@example.com")
    assert api.write(segment_id, "users", [ana, ana, bo]).json()["elements"] == [{"status": 201}] * 3
    assert len(sandbox.members(segment_id)) == 2

    removals = [user("ana@example.com", "REMOVE"), user("ana@example.com", "REMOVE"), user("cy@example.com", "REMOVE")]
    assert api.write(segment_id, "users", removals).json()["elements"] == [{"status": 201}] * 3
    assert sandbox.members(segment_id) == [{"userIds": bo["userIds"]}]


def test_same_ids_in_other_order_are_one_member(api: Api, sandbox: Sandbox) -> None:
    segment_id = api.new_segment()
    first = {"action": "ADD", "userIds": ids(("SHA256_EMAIL", SHA256), ("GOOGLE_AID", GAID))}
    second = {"action": "REMOVE", "userIds": ids(("GOOGLE_AID", GAID), ("SHA256_EMAIL", SHA256))}
    api.write(segment_id, "users", [first])
    assert len(sandbox.members(segment_id)) == 1
    api.write(segment_id, "users", [second])
    assert sandbox.members(segment_id) == []


def test_statuses_follow_request_order(api: Api) -> None:
    segment_id = api.new_segment()
    elements = [user(f"p{number}@example.com") if number % 3 else {"action": "ADD"} for number in range(12)]
    statuses = [entry["status"] for entry in api.write(segment_id, "users", elements).json()["elements"]]
    assert statuses == [400 if number % 3 == 0 else 201 for number in range(12)]


@pytest.mark.parametrize(
    ("count", "status"),
    [(5000, 200), (5001, 400), (0, 400)],
)
def test_elements_per_request(api: Api, sandbox: Sandbox, count: int, status: int) -> None:
    segment_id = api.new_segment()
    elements = [{"action": "ADD", "userIds": ids(("SHA256_EMAIL", f"{number:064x}"))} for number in range(count)]
    response = api.write(segment_id, "users", elements)
    assert response.status_code == status
    assert len(sandbox.members(segment_id)) == (count if status == 200 else 0)


def test_batch_needs_batch_create_method(api: Api) -> None:
    segment_id = api.new_segment()
    response = api.request("POST", f"/rest/dmpSegments/{segment_id}/users", json={"elements": [user("a@example.com")]})
    assert response.status_code == 400
    assert "X-RestLi-Method: BATCH_CREATE" in response.json()["message"]


@pytest.mark.parametrize(
    "body",
    [[user("a@example.com")], {"elements": user("a@example.com")}, {"elements": [], "extra": 1}],
)
def test_batch_envelope_is_checked(api: Api, body: Any) -> None:
    segment_id = api.new_segment()
    response = api.request("POST", f"/rest/dmpSegments/{segment_id}/users", json=body,
                           headers={"X-RestLi-Method": "BATCH_CREATE"})
    assert response.status_code == 400
    assert response.json()["code"] == "INVALID_VALUE"


@pytest.mark.parametrize(("segment_type", "members"), [("COMPANY", "users"), ("USER", "companies")])
def test_members_must_match_segment_type(api: Api, segment_type: str, members: str) -> None:
    segment_id = api.new_segment(segment_type)
    response = api.write(segment_id, members, [{"action": "ADD", "companyName": "Acme"}])
    assert response.status_code == 400
    assert segment_type in response.json()["message"]


def test_write_to_unknown_segment_answers_404(api: Api) -> None:
    response = api.write("12345", "users", [user("a@example.com")])
    assert response.status_code == 404
    assert response.json()["code"] == "NOT_FOUND"
