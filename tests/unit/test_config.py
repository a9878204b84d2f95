"""Settings loading: file parsing, ${env:NAME} placeholders, schema validation and its messages."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any

import pytest

from td_output_linkedin.config import (
    ApiSettings,
    LoadedSettings,
    Settings,
    is_loopback_url,
    load_schema,
    load_settings,
    settings_from_mapping,
)
from td_output_linkedin.errors import EXIT_USAGE, ConfigError

ACCESS = {"access_token": "access-token-value"}
REFRESH = {"client_id": "app-id", "client_secret": "client-secret-value", "refresh_token": "refresh-token-value"}


def minimal(**overrides: Any) -> dict[str, Any]:
    settings: dict[str, Any] = {"ad_account_id": "507404993", "segment_name": "Customers", "auth": dict(ACCESS)}
    settings.update(overrides)
    return settings


def problems_of(mapping: dict[str, Any], **kwargs: Any) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        settings_from_mapping(mapping, **kwargs)
    assert caught.value.exit_code == EXIT_USAGE
    return caught.value.problems


def write(tmp_path: Path, name: str, text: str, mode: int = 0o600) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    path.chmod(mode)
    return path


# Schema shape


def walk_objects(schema: dict[str, Any], path: str = "") -> list[tuple[str, dict[str, Any]]]:
    found = []
    if schema.get("type") == "object":
        found.append((path or "(root)", schema))
    for key, child in schema.get("properties", {}).items():
        found.extend(walk_objects(child, f"{path}.{key}" if path else key))
    return found


def walk_properties(schema: dict[str, Any], path: str = "") -> list[tuple[str, dict[str, Any]]]:
    found = []
    for key, child in schema.get("properties", {}).items():
        where = f"{path}.{key}" if path else key
        found.append((where, child))
        found.extend(walk_properties(child, where))
    return found


def test_schema_declares_draft_2020_12() -> None:
    assert load_schema()["$schema"] == "https://json-schema.org/draft/2020-12/schema"


def test_schema_closes_every_object() -> None:
    objects = walk_objects(load_schema())
    assert [path for path, _ in objects] == ["(root)", "auth", "api"]
    for path, schema in objects:
        assert schema.get("additionalProperties") is False, path


def test_schema_properties_have_title_and_description() -> None:
    for path, schema in walk_properties(load_schema()):
        assert schema.get("title"), path
        assert schema.get("description"), path


@pytest.mark.parametrize("key", ["client_secret", "refresh_token", "access_token"])
def test_schema_marks_secrets_write_only(key: str) -> None:
    assert load_schema()["properties"]["auth"]["properties"][key]["writeOnly"] is True


def test_schema_client_id_not_write_only() -> None:
    assert "writeOnly" not in load_schema()["properties"]["auth"]["properties"]["client_id"]


def test_schema_api_matches_api_settings() -> None:
    api = load_schema()["properties"]["api"]["properties"]
    dataclass_fields = dataclasses.fields(ApiSettings)
    assert list(api) == [item.name for item in dataclass_fields]
    for item in dataclass_fields:
        assert api[item.name]["default"] == item.default, item.name


@pytest.mark.parametrize(
    ("key", "default"),
    [("audience_type", "users"), ("mode", "add"), ("ignore_invalid_records", False), ("batch_size", 5000)],
)
def test_schema_defaults_match_settings(key: str, default: Any) -> None:
    assert load_schema()["properties"][key]["default"] == default
    assert {item.name: item.default for item in dataclasses.fields(Settings)}[key] == default


def test_load_schema_returns_copy() -> None:
    load_schema()["properties"].clear()
    assert "segment_name" in load_schema()["properties"]


# Valid settings


def test_minimal_settings_take_defaults() -> None:
    settings = settings_from_mapping(minimal())
    assert settings.ad_account_id == "507404993"
    assert settings.segment_name == "Customers"
    assert settings.audience_type == "users"
    assert settings.mode == "add"
    assert settings.ignore_invalid_records is False
    assert settings.batch_size == 5000
    assert settings.worker_processes == 0
    assert settings.columns is None
    assert settings.segment_description is None
    assert settings.auth.access_token == "access-token-value"
    assert settings.api == ApiSettings()


def test_full_settings_build_every_field() -> None:
    settings = settings_from_mapping(
        {
            "type": "linkedin",
            "ad_account_id": "urn:li:sponsoredAccount:42",
            "audience_type": "companies",
            "segment_name": "Accounts",
            "segment_description": "From the CRM",
            "mode": "remove",
            "ignore_invalid_records": True,
            "batch_size": 100,
            "columns": ["company_name", "domain"],
            "auth": {**REFRESH, **ACCESS},
            "api": {
                "base_url": "http://127.0.0.1:8080/",
                "oauth_base_url": "http://localhost:8081",
                "version": "202501",
                "source_platform": "PARTNER",
                "timeout_seconds": 5,
                "max_in_flight": 2,
                "users_requests_per_minute": 60,
                "companies_requests_per_minute": 30,
                "max_attempts": 3.0,
                "max_retry_wait_seconds": 10,
                "new_segment_wait_seconds": 0,
                "new_segment_not_found_timeout_seconds": 1.5,
            },
        }
    )

    assert settings.account_urn == "urn:li:sponsoredAccount:42"
    assert settings.segment_type == "COMPANY"
    assert settings.action == "REMOVE"
    assert settings.segment_description == "From the CRM"
    assert settings.ignore_invalid_records is True
    assert settings.batch_size == 100
    assert settings.columns == ("company_name", "domain")
    assert settings.auth.client_id == "app-id"
    assert settings.auth.client_secret == "client-secret-value"
    assert settings.auth.refresh_token == "refresh-token-value"
    assert settings.auth.access_token == "access-token-value"
    assert settings.api.base_url == "http://127.0.0.1:8080"
    assert settings.api.oauth_base_url == "http://localhost:8081"
    assert settings.api.timeout_seconds == 5.0
    assert isinstance(settings.api.timeout_seconds, float)
    assert settings.api.max_in_flight == 2
    assert settings.api.max_attempts == 3
    assert isinstance(settings.api.max_attempts, int)
    assert settings.api.new_segment_not_found_timeout_seconds == 1.5


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("507404993", "507404993"),
        (507404993, "507404993"),
        ("  507404993 ", "507404993"),
        (507404993.0, "507404993"),
        ("urn:li:sponsoredAccount:507404993", "507404993"),
        (" urn:li:sponsoredAccount:12 ", "12"),
    ],
)
def test_ad_account_id_normalized(value: Any, expected: str) -> None:
    assert settings_from_mapping(minimal(ad_account_id=value)).ad_account_id == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("users", "users"),
        ("Users", "users"),
        ("user", "users"),
        ("CONTACT_LIST", "users"),
        ("contact-list", "users"),
        (" companies ", "companies"),
        ("Company", "companies"),
        ("account_list", "companies"),
        ("Account List", "companies"),
    ],
)
def test_audience_type_aliases(value: str, expected: str) -> None:
    assert settings_from_mapping(minimal(audience_type=value)).audience_type == expected


@pytest.mark.parametrize(("value", "expected"), [("add", "add"), (" ADD ", "add"), ("Remove", "remove")])
def test_mode_case_and_spaces_ignored(value: str, expected: str) -> None:
    assert settings_from_mapping(minimal(mode=value)).mode == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [(True, True), (False, False), ("true", True), ("TRUE", True), ("False", False), ("false", False)],
)
def test_ignore_invalid_records_values(value: Any, expected: bool) -> None:
    assert settings_from_mapping(minimal(ignore_invalid_records=value)).ignore_invalid_records is expected


@pytest.mark.parametrize("auth", [ACCESS, REFRESH, {**REFRESH, **ACCESS}])
def test_auth_combinations_accepted(auth: dict[str, str]) -> None:
    assert settings_from_mapping(minimal(auth=auth)).auth.client_id == auth.get("client_id")


def test_connection_instead_of_auth() -> None:
    mapping = minimal(connection="linkedin-prod")
    del mapping["auth"]
    settings = settings_from_mapping(mapping)
    assert settings.auth.connection == "linkedin-prod"
    assert settings.auth.access_token is None


def test_auth_optional_without_require_auth() -> None:
    mapping = minimal()
    del mapping["auth"]
    assert settings_from_mapping(mapping, require_auth=False).auth.access_token is None


def test_settings_instance_returned_unchanged() -> None:
    settings = Settings(ad_account_id="1", segment_name="x")
    assert settings_from_mapping(settings) is settings


def test_mapping_not_modified() -> None:
    mapping = minimal(mode=" ADD ", api={"version": 202501})
    settings_from_mapping(mapping)
    assert mapping["mode"] == " ADD "
    assert mapping["api"] == {"version": 202501}


# Problems and their messages


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"segment_name": None}, "segment_name: expected a string, found null"),
        ({"segment_name": ""}, "segment_name: must not be empty"),
        ({"segment_name": "   "}, "segment_name: '   ' is not valid; give a name with at least one character that is not a space"),
        ({"segment_name": "x" * 256}, "segment_name: 256 characters is more than 255, the maximum"),
        ({"segment_name": 2024}, "segment_name: expected a string, found a whole number"),
        ({"mode": "append"}, "mode: 'append' is not valid; use add or remove"),
        ({"mode": "Append"}, "mode: 'Append' is not valid; use add or remove"),
        ({"mode": True}, "mode: True is not valid; use add or remove"),
        ({"audience_type": "people"}, "audience_type: 'people' is not valid; use users (contact list) or companies (account list)"),
        ({"type": "facebook"}, "type: 'facebook' is not valid; use linkedin or leave it out"),
        ({"batch_size": 6000}, "batch_size: 6000 is more than 5000, LinkedIn's maximum elements per request"),
        ({"batch_size": 0}, "batch_size: 0 is less than 1, the minimum"),
        ({"batch_size": "100"}, "batch_size: expected a whole number, found a string"),
        ({"batch_size": 2.5}, "batch_size: expected a whole number, found a number"),
        ({"worker_processes": -1}, "worker_processes: -1 is less than 0, the minimum"),
        ({"worker_processes": "all"}, "worker_processes: expected a whole number, found a string"),
        ({"ad_account_id": "abc"}, "ad_account_id: 'abc' is not valid; give the ad account's numeric id, such as 507404993, or urn:li:sponsoredAccount:507404993"),
        ({"ad_account_id": "urn:li:organization:5"}, "ad_account_id: 'urn:li:organization:5' is not valid; give the ad account's numeric id, such as 507404993, or urn:li:sponsoredAccount:507404993"),
        ({"ad_account_id": 5.5}, "ad_account_id: expected a string or a whole number, found a number"),
        ({"ad_account_id": -5}, "ad_account_id: -5 is less than 0, the minimum"),
        ({"ignore_invalid_records": "yes"}, "ignore_invalid_records: 'yes' is not valid; use true or false"),
        ({"ignore_invalid_records": 1}, "ignore_invalid_records: expected true or false, found a whole number"),
        ({"columns": []}, "columns: must list at least 1 item"),
        ({"columns": ["email", "email"]}, "columns: lists the same name more than once; keep each once"),
        ({"columns": ["email", ""]}, "columns[1]: must not be empty"),
        ({"verify_ssl": False}, "verify_ssl: unknown key; valid keys here are ad_account_id, api, audience_type, auth, batch_size, columns, connection, ignore_invalid_records, mode, segment_description, segment_name, type, worker_processes"),
        ({"segment_nam": "x"}, "segment_nam: unknown key; did you mean segment_name?"),
        ({"api": {"verify": False}}, "api.verify: unknown key; did you mean api.version?"),
        ({"api": {"tls": False}}, "api.tls: unknown key; valid keys here are base_url, companies_requests_per_minute, max_attempts, max_in_flight, max_retry_wait_seconds, new_segment_not_found_timeout_seconds, new_segment_wait_seconds, oauth_base_url, source_platform, timeout_seconds, users_requests_per_minute, version"),
        ({"api": {"max_in_flight": 33}}, "api.max_in_flight: 33 is more than 32, the maximum"),
        ({"api": {"timeout_seconds": 0}}, "api.timeout_seconds: 0 is not valid; give a number greater than 0"),
        ({"api": {"timeout_seconds": float("nan")}}, "api.timeout_seconds: nan is not a finite number"),
        ({"api": {"version": "2024-01"}}, "api.version: '2024-01' is not valid; give the LinkedIn-Version as YYYYMM, such as 202611"),
        ({"api": {"version": 202413}}, "api.version: 202413 is not valid; give the LinkedIn-Version as YYYYMM, such as 202611"),
        ({"api": {"base_url": "api.linkedin.com"}}, "api.base_url: 'api.linkedin.com' is not valid; give a URL with scheme and host, such as https://api.linkedin.com"),
        ({"api": {"base_url": "https://user:pw@host"}}, "api.base_url: 'https://user:pw@host' is not valid; give a URL with scheme and host, such as https://api.linkedin.com"),
        ({"api": "https://api.linkedin.com"}, "api: expected a mapping of keys to values, found a string"),
    ],
)
def test_invalid_value_message(overrides: dict[str, Any], expected: str) -> None:
    assert problems_of(minimal(**overrides)) == [expected]


@pytest.mark.parametrize(
    ("auth", "expected"),
    [
        (
            {"client_id": "app-id"},
            [
                "auth.client_secret: required when auth.client_id is set",
                "auth.refresh_token: required when auth.client_id is set",
            ],
        ),
        (
            {"client_id": "app-id", "refresh_token": "refresh-token-value"},
            ["auth.client_secret: required when auth.client_id and auth.refresh_token are set"],
        ),
        (
            {"refresh_token": "refresh-token-value", "access_token": "access-token-value"},
            [
                "auth.client_id: required when auth.refresh_token is set",
                "auth.client_secret: required when auth.refresh_token is set",
            ],
        ),
        ({}, ["auth: give auth.access_token, or auth.client_id, auth.client_secret and auth.refresh_token"]),
        ({"access_token": ""}, ["auth.access_token: must not be empty"]),
        ({"access_token": 12345678}, ["auth.access_token: expected a string, found a whole number"]),
        ({"password": "x"}, [
            "auth.password: unknown key; valid keys here are access_token, client_id, client_secret, refresh_token",
            "auth: give auth.access_token, or auth.client_id, auth.client_secret and auth.refresh_token",
        ]),
    ],
)
def test_auth_problems(auth: dict[str, Any], expected: list[str]) -> None:
    assert problems_of(minimal(auth=auth)) == sorted(expected)


def test_auth_missing_message() -> None:
    mapping = minimal()
    del mapping["auth"]
    assert problems_of(mapping) == [
        "auth: required; give auth.client_id, auth.client_secret and auth.refresh_token, "
        "or auth.access_token, or name a stored connection"
    ]


def test_auth_and_connection_together_rejected() -> None:
    assert problems_of(minimal(connection="linkedin-prod")) == [
        "connection: cannot be used together with auth; remove either the auth block or the connection"
    ]


def test_required_keys_message() -> None:
    assert problems_of({"auth": dict(ACCESS)}) == [
        "ad_account_id: required; set the numeric id of the LinkedIn ad account that owns the segment",
        "segment_name: required; set the name of the DMP segment to write to",
    ]


def test_every_problem_listed_at_once() -> None:
    problems = problems_of(
        {
            "ad_account_id": "abc",
            "mode": "append",
            "batch_size": 6000,
            "tls_verify": False,
            "auth": {"client_id": "app-id", "client_secret": "client-secret-value"},
            "api": {"base_url": "http://example.com"},
        }
    )
    assert len(problems) == 7
    assert [problem.split(":")[0] for problem in problems] == [
        "ad_account_id",
        "api.base_url",
        "auth.refresh_token",
        "batch_size",
        "mode",
        "segment_name",
        "tls_verify",
    ]


def test_config_error_text_lists_problems() -> None:
    with pytest.raises(ConfigError) as caught:
        settings_from_mapping({"mode": "append"}, require_auth=False)
    text = str(caught.value)
    assert text.startswith("invalid configuration (3 problems):")
    assert "  - mode: 'append' is not valid; use add or remove" in text


@pytest.mark.parametrize(
    "auth",
    [
        {"access_token": ["access-token-value"]},
        {"client_id": "app-id", "client_secret": {"v": "client-secret-value"}, "refresh_token": "refresh-token-value"},
        {"client_id": "app-id", "client_secret": "", "refresh_token": "refresh-token-value"},
    ],
)
def test_secret_never_in_message(auth: dict[str, Any]) -> None:
    with pytest.raises(ConfigError) as caught:
        settings_from_mapping(minimal(auth=auth, connection="c"))
    assert "token-value" not in str(caught.value)
    assert "secret-value" not in str(caught.value)


def test_settings_repr_hides_secrets() -> None:
    text = repr(settings_from_mapping(minimal(auth={**REFRESH, **ACCESS})))
    assert "app-id" in text
    for secret in ("client-secret-value", "refresh-token-value", "access-token-value"):
        assert secret not in text


# Loopback rule


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://127.0.0.1:9/", True),
        ("http://127.1.2.3", True),
        ("http://localhost", True),
        ("http://localhost:8080/rest", True),
        ("http://[::1]", True),
        ("http://[::1]:9/", True),
        ("http://[::ffff:127.0.0.1]", True),
        ("http://example.com", False),
        ("http://localhost.example.com", False),
        ("http://127.0.0.1.example.com", False),
        ("http://10.0.0.1", False),
        ("http://[::2]", False),
        ("http://", False),
        ("http://[::1", False),
        ("not a url", False),
    ],
)
def test_is_loopback_url(url: str, expected: bool) -> None:
    assert is_loopback_url(url) is expected


@pytest.mark.parametrize("url", ["http://127.0.0.1:9/", "http://localhost", "http://[::1]", "https://example.com"])
@pytest.mark.parametrize("key", ["base_url", "oauth_base_url"])
def test_base_url_accepted(key: str, url: str) -> None:
    settings = settings_from_mapping(minimal(api={key: url}))
    assert getattr(settings.api, key) == url.rstrip("/")


@pytest.mark.parametrize("key", ["base_url", "oauth_base_url"])
def test_plain_http_rejected_off_loopback(key: str) -> None:
    assert problems_of(minimal(api={key: "http://example.com"})) == [
        f"api.{key}: 'http://example.com' is not https; plain http is accepted only for a loopback host "
        "(127.0.0.1, ::1 or localhost)"
    ]


# ${env:NAME} placeholders


@pytest.mark.parametrize(
    ("value", "environ", "expected"),
    [
        ("${env:SEGMENT}", {"SEGMENT": "Customers"}, "Customers"),
        ("prefix-${env:A}-${env:B}", {"A": "1", "B": "2"}, "prefix-1-2"),
        ("${env:A}${env:A}", {"A": "x"}, "xx"),
        ("${env:A}", {"A": "${env:B}"}, "${env:B}"),
        ("no placeholder $HOME ${HOME}", {}, "no placeholder $HOME ${HOME}"),
    ],
)
def test_env_placeholder_replaced(value: str, environ: dict[str, str], expected: str) -> None:
    assert settings_from_mapping(minimal(segment_name=value), environ=environ).segment_name == expected


def test_env_placeholder_in_nested_values() -> None:
    environ = {"ACCOUNT": "42", "TOKEN": "token-from-env", "COLUMN": "email"}
    settings = settings_from_mapping(
        minimal(ad_account_id="${env:ACCOUNT}", auth={"access_token": "${env:TOKEN}"}, columns=["${env:COLUMN}"]),
        environ=environ,
    )
    assert settings.ad_account_id == "42"
    assert settings.auth.access_token == "token-from-env"
    assert settings.columns == ("email",)


def test_env_defaults_to_process_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TD_OUTPUT_LINKEDIN_TEST_SEGMENT", "From env")
    settings = settings_from_mapping(minimal(segment_name="${env:TD_OUTPUT_LINKEDIN_TEST_SEGMENT}"))
    assert settings.segment_name == "From env"


@pytest.mark.parametrize(
    ("auth", "expected"),
    [
        (
            {"access_token": "${env:LINKEDIN_TOKEN}"},
            ["auth.access_token: environment variable LINKEDIN_TOKEN is not set; set it or replace ${env:LINKEDIN_TOKEN}"],
        ),
        (
            {"access_token": "${env:}"},
            ["auth.access_token: '${env:}' is not a valid placeholder; write ${env:NAME}"],
        ),
        (
            {"access_token": "${env:1ABC}"},
            ["auth.access_token: '${env:1ABC}' is not a valid placeholder; write ${env:NAME}"],
        ),
        (
            {"access_token": "${env:TOKEN"},
            ["auth.access_token: a ${env:NAME} placeholder is not closed with }"],
        ),
    ],
)
def test_env_placeholder_problems(auth: dict[str, str], expected: list[str]) -> None:
    assert problems_of(minimal(auth=auth), environ={"TOKEN": "x"}) == expected


def test_unset_variables_all_listed() -> None:
    problems = problems_of(
        minimal(ad_account_id="${env:ACCOUNT}", segment_name="${env:SEGMENT}"), environ={}
    )
    assert problems == [
        "ad_account_id: environment variable ACCOUNT is not set; set it or replace ${env:ACCOUNT}",
        "segment_name: environment variable SEGMENT is not set; set it or replace ${env:SEGMENT}",
    ]


def test_empty_variable_is_set() -> None:
    assert problems_of(minimal(segment_name="${env:EMPTY}"), environ={"EMPTY": ""}) == [
        "segment_name: must not be empty"
    ]


# Files


YAML_CONFIG = """\
type: linkedin
ad_account_id: 507404993
segment_name: Customers
mode: Add
ignore_invalid_records: "TRUE"
auth:
  access_token: ${env:LINKEDIN_TOKEN}
api:
  version: 202501
"""


def test_load_yaml_file(tmp_path: Path) -> None:
    path = write(tmp_path, "job.yml", YAML_CONFIG)
    loaded = load_settings(path, environ={"LINKEDIN_TOKEN": "token-from-env"})
    assert isinstance(loaded, LoadedSettings)
    assert loaded.warnings == ()
    assert loaded.settings.ad_account_id == "507404993"
    assert loaded.settings.mode == "add"
    assert loaded.settings.ignore_invalid_records is True
    assert loaded.settings.auth.access_token == "token-from-env"
    assert loaded.settings.api.version == "202501"


def test_load_json_file(tmp_path: Path) -> None:
    path = write(tmp_path, "job.json", json.dumps(minimal(batch_size=10)))
    assert load_settings(str(path)).settings.batch_size == 10


def test_load_json_content_without_json_name(tmp_path: Path) -> None:
    path = write(tmp_path, "job.conf", json.dumps(minimal()))
    assert load_settings(path).settings.segment_name == "Customers"


def test_load_file_with_byte_order_mark(tmp_path: Path) -> None:
    path = tmp_path / "job.yml"
    path.write_bytes(b"\xef\xbb\xbf" + b"ad_account_id: 1\nsegment_name: x\n")
    assert load_settings(path, require_auth=False).settings.ad_account_id == "1"


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        ("job.json", '{"ad_account_id": 1,\n "segment_name": }', "job.json: not valid JSON (line 2, column 18): Expecting value"),
        ("job.yml", "ad_account_id: 1\nsegment_name: [x\n", "job.yml: not valid YAML (line 3, column 1): expected ',' or ']', but got '<stream end>'"),
        ("job.yml", "", "job.yml: the config file is empty; give at least ad_account_id and segment_name"),
        ("job.json", "  \n", "job.json: the config file is empty; give at least ad_account_id and segment_name"),
        ("job.yml", "- a\n- b\n", "job.yml: expected a mapping of settings keys at the top level, found a list"),
        ("job.yml", "just text\n", "job.yml: expected a mapping of settings keys at the top level, found a string"),
    ],
)
def test_unreadable_file_message(tmp_path: Path, name: str, text: str, expected: str) -> None:
    path = write(tmp_path, name, text)
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    assert caught.value.problems == [expected.replace(name, str(path), 1)]


def test_duplicate_keys_reported(tmp_path: Path) -> None:
    text = "ad_account_id: 1\nsegment_name: a\nmode: add\nsegment_name: b\n"
    with pytest.raises(ConfigError) as caught:
        load_settings(write(tmp_path, "job.yml", text), require_auth=False)
    assert caught.value.problems == ["segment_name: given twice, on lines 2 and 4; keep one"]


def test_duplicate_json_keys_reported(tmp_path: Path) -> None:
    text = '{"ad_account_id": 1, "segment_name": "a", "segment_name": "b"}'
    with pytest.raises(ConfigError) as caught:
        load_settings(write(tmp_path, "job.json", text), require_auth=False)
    assert caught.value.problems == ["segment_name: given twice in one object; keep one"]


def test_missing_file_message(tmp_path: Path) -> None:
    path = tmp_path / "absent.yml"
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    assert caught.value.problems == [f"{path}: cannot read the config file: No such file or directory"]


def test_non_utf8_file_message(tmp_path: Path) -> None:
    path = tmp_path / "job.yml"
    path.write_bytes(b"segment_name: \xff\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    assert caught.value.problems == [f"{path}: not UTF-8 text (invalid byte at offset 14)"]


# Permission warning


@pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX")
@pytest.mark.parametrize(
    ("mode", "auth_yaml", "warned"),
    [
        (0o644, "  access_token: literal-token-value\n", ["auth.access_token"]),
        (0o640, "  access_token: literal-token-value\n", ["auth.access_token"]),
        (0o604, "  access_token: literal-token-value\n", ["auth.access_token"]),
        (0o600, "  access_token: literal-token-value\n", []),
        (0o400, "  access_token: literal-token-value\n", []),
        (0o644, "  access_token: ${env:TOKEN}\n", []),
        (0o644, "  access_token: prefix-${env:TOKEN}\n", ["auth.access_token"]),
        (
            0o644,
            "  client_id: app-id\n  client_secret: secret-value\n  refresh_token: ${env:TOKEN}\n",
            ["auth.client_secret"],
        ),
    ],
)
def test_readable_secret_warning(tmp_path: Path, mode: int, auth_yaml: str, warned: list[str]) -> None:
    path = write(tmp_path, "job.yml", "ad_account_id: 1\nsegment_name: x\nauth:\n" + auth_yaml, mode)
    loaded = load_settings(path, environ={"TOKEN": "token-from-env"})
    if not warned:
        assert loaded.warnings == ()
        return
    assert loaded.warnings == (
        f"{path} contains {', '.join(warned)} and is readable by group or others (mode {mode:04o}); "
        "run chmod 600 on it, or give the secret as ${env:NAME}",
    )
    assert "literal-token-value" not in loaded.warnings[0]
    assert "secret-value" not in loaded.warnings[0]
