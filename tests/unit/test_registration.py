"""plugin.yaml, the settings schema and the README must describe the same settings and columns."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

import td_output_linkedin
from td_output_linkedin import columns

ROOT = Path(__file__).resolve().parents[2]


def schema_keys(schema: dict, prefix: str = "") -> set[str]:
    keys = set()
    for name, definition in schema.get("properties", {}).items():
        keys.add(prefix + name)
        if definition.get("type") == "object":
            keys |= schema_keys(definition, prefix + name + ".")
    return keys


def readme_settings_keys() -> set[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Settings", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^\| `([a-z_.]+)` \|", section, flags=re.MULTILINE))


def load_registration() -> dict:
    return yaml.safe_load((ROOT / "plugin.yaml").read_text(encoding="utf-8"))


def load_schema() -> dict:
    return json.loads((ROOT / "schemas" / "config.schema.json").read_text(encoding="utf-8"))


def test_readme_table_matches_schema():
    expected = schema_keys(load_schema()) - {"auth", "api"}
    assert readme_settings_keys() == expected


def test_form_keys_exist_in_schema():
    keys = schema_keys(load_schema())
    form_keys = {field["key"] for field in load_registration()["form"]}
    assert form_keys <= keys
    assert form_keys == {
        "ad_account_id",
        "audience_type",
        "segment_name",
        "segment_description",
        "mode",
        "ignore_invalid_records",
    }


def test_form_labels_users_know():
    labels = {field["key"]: field["label"] for field in load_registration()["form"]}
    assert labels["ad_account_id"] == "Ad Account ID"
    assert labels["mode"] == "DMP Segment Mode"
    assert labels["ignore_invalid_records"] == "Ignore Invalid Records"


def test_form_defaults_match_schema():
    properties = load_schema()["properties"]
    for field in load_registration()["form"]:
        if "default" in field:
            assert properties[field["key"]].get("default") == field["default"], field["key"]


def test_connection_keys_exist_in_schema():
    keys = schema_keys(load_schema())
    assert set(load_registration()["connection"]["settings_keys"]) <= keys


def test_version_matches_package():
    assert load_registration()["version"] == td_output_linkedin.__version__


def test_registered_columns_match_code():
    registered = load_registration()["columns"]
    assert tuple(registered["users"]["accepted"]) == columns.USER_COLUMNS
    assert tuple(registered["companies"]["accepted"]) == columns.COMPANY_COLUMNS
    assert tuple(registered["users"]["identifying"]) == columns.IDENTIFYING_COLUMNS["users"]
    assert tuple(registered["companies"]["identifying"]) == columns.IDENTIFYING_COLUMNS["companies"]


def test_schema_path_is_the_shipped_schema():
    assert (ROOT / load_registration()["settings_schema"]).is_file()
    packaged = Path(td_output_linkedin.__file__).parent / "schemas" / "config.schema.json"
    assert packaged.read_text(encoding="utf-8") == (ROOT / "schemas" / "config.schema.json").read_text(encoding="utf-8")
