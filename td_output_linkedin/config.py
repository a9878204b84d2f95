"""Settings: load a YAML or JSON config, replace ``${env:NAME}``, validate against the schema.

The JSON Schema in ``schemas/config.schema.json`` is the single definition of valid settings;
this module turns a validated mapping into frozen ``Settings``.
"""

from __future__ import annotations

import copy
import difflib
import functools
import ipaddress
import json
import math
import os
import re
import stat
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml
from jsonschema import Draft202012Validator, ValidationError

from td_output_linkedin.errors import ConfigError

DEFAULT_API_BASE_URL = "https://api.linkedin.com"
DEFAULT_OAUTH_BASE_URL = "https://www.linkedin.com"
DEFAULT_API_VERSION = "202611"
# Environment variable that names the stored connections file (see connections.py).
CONNECTIONS_ENV_VAR = "TD_OUTPUT_LINKEDIN_CONNECTIONS"
MAX_BATCH_SIZE = 5000


@dataclass(frozen=True)
class AuthSettings:
    """Credentials. Either ``access_token``, or ``client_id`` + ``client_secret`` + ``refresh_token``,
    or the name of a stored ``connection``. Secrets are left out of ``repr``."""

    client_id: str | None = None
    client_secret: str | None = field(default=None, repr=False)
    refresh_token: str | None = field(default=None, repr=False)
    access_token: str | None = field(default=None, repr=False)
    connection: str | None = None


@dataclass(frozen=True)
class ApiSettings:
    """Endpoints, API version, timeouts, concurrency, rate limits and retry bounds of LinkedIn calls."""

    base_url: str = DEFAULT_API_BASE_URL
    oauth_base_url: str = DEFAULT_OAUTH_BASE_URL
    version: str = DEFAULT_API_VERSION
    source_platform: str = "TREASURE_DATA"
    timeout_seconds: float = 60.0
    # At 600 requests a minute, 8 in flight keep LinkedIn's limit busy while a response takes up to 0.8 s.
    max_in_flight: int = 8
    users_requests_per_minute: int = 600
    companies_requests_per_minute: int = 300
    max_attempts: int = 8
    max_retry_wait_seconds: float = 600.0
    new_segment_wait_seconds: float = 5.0
    new_segment_not_found_timeout_seconds: float = 120.0


@dataclass(frozen=True)
class Settings:
    """One job's validated settings."""

    ad_account_id: str
    segment_name: str
    audience_type: str = "users"
    mode: str = "add"
    segment_description: str | None = None
    ignore_invalid_records: bool = False
    batch_size: int = MAX_BATCH_SIZE
    # Processes that build members from csv and tsv rows; 0 means one per CPU.
    worker_processes: int = 0
    columns: tuple[str, ...] | None = None
    auth: AuthSettings = field(default_factory=AuthSettings)
    api: ApiSettings = field(default_factory=ApiSettings)

    @property
    def account_urn(self) -> str:
        return f"urn:li:sponsoredAccount:{self.ad_account_id}"

    @property
    def segment_type(self) -> str:
        """LinkedIn's segment ``type``: ``USER`` for contact lists, ``COMPANY`` for account lists."""
        return "USER" if self.audience_type == "users" else "COMPANY"

    @property
    def action(self) -> str:
        """LinkedIn's element ``action``: ``ADD`` or ``REMOVE``."""
        return self.mode.upper()


@dataclass(frozen=True)
class LoadedSettings:
    """Settings read from a file, with warnings about the file itself (such as its permissions)."""

    settings: Settings
    warnings: tuple[str, ...] = ()


SCHEMA_FILE = Path(__file__).with_name("schemas") / "config.schema.json"
SECRET_KEYS = ("client_secret", "refresh_token", "access_token")
LOOPBACK_HOSTS = "127.0.0.1, ::1 or localhost"

_PLACEHOLDER = re.compile(r"\$\{env:([^}]*)\}")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_ACCOUNT_URN_PREFIX = "urn:li:sponsoredAccount:"
_AUDIENCE_TYPE_ALIASES = {
    "users": "users",
    "user": "users",
    "contact_list": "users",
    "companies": "companies",
    "company": "companies",
    "account_list": "companies",
}

# Hints for a missing required key or a value that does not match its pattern, by key path.
_REQUIRED_HINTS = {
    "ad_account_id": "set the numeric id of the LinkedIn ad account that owns the segment",
    "segment_name": "set the name of the DMP segment to write to",
}
_PATTERN_HINTS = {
    "ad_account_id": "give the ad account's numeric id, such as 507404993, or urn:li:sponsoredAccount:507404993",
    "segment_name": "give a name with at least one character that is not a space",
    "ignore_invalid_records": "use true or false",
    "api.base_url": "give a URL with scheme and host, such as https://api.linkedin.com",
    "api.oauth_base_url": "give a URL with scheme and host, such as https://www.linkedin.com",
    "api.version": "give the LinkedIn-Version as YYYYMM, such as 202611",
    "connection": "give the name used with td-output-linkedin connection create: letters, digits, '.', '_' or '-'",
}
_ENUM_HINTS = {
    "type": "use linkedin or leave it out",
    "audience_type": "use users (contact list) or companies (account list)",
}
_MAXIMUM_REASONS = {
    "batch_size": "LinkedIn's maximum elements per request",
}
_TYPE_NAMES = {
    "string": "a string",
    "integer": "a whole number",
    "number": "a number",
    "boolean": "true or false",
    "object": "a mapping of keys to values",
    "array": "a list",
}


def load_settings(
    path: str | os.PathLike[str], *, environ: Mapping[str, str] | None = None, require_auth: bool = True
) -> LoadedSettings:
    """Read a YAML or JSON config file and return validated settings.

    Raises ConfigError listing every problem found: parse errors, duplicate keys, unset
    environment variables and schema violations. The returned warnings name a config file that
    contains a literal secret and is readable by group or others.
    """
    name = os.fspath(path)
    try:
        data = Path(name).read_bytes()
    except OSError as exc:
        raise ConfigError(f"{name}: cannot read the config file: {exc.strerror}") from exc
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{name}: not UTF-8 text (invalid byte at offset {exc.start})") from exc

    if name.lower().endswith(".json"):
        document, problems = _parse_json(text, name)
    else:
        document, problems = _parse_yaml(text, name)
    if document is None and not problems:
        problems.append(f"{name}: the config file is empty; give at least ad_account_id and segment_name")
    elif document is not None and not isinstance(document, dict):
        problems.append(f"{name}: expected a mapping of settings keys at the top level, found {_json_type(document)}")
    if problems:
        raise ConfigError(problems)

    settings = settings_from_mapping(document, environ=environ, require_auth=require_auth)
    return LoadedSettings(settings, tuple(_permission_warnings(name, document)))


def settings_from_mapping(
    mapping: Mapping[str, Any] | Settings, *, environ: Mapping[str, str] | None = None, require_auth: bool = True
) -> Settings:
    """Validate a mapping of settings keys (from a file or a Python host) and return Settings.

    An already-built Settings is returned unchanged. Raises ConfigError listing every problem.
    """
    if isinstance(mapping, Settings):
        return mapping
    if not isinstance(mapping, Mapping):
        raise ConfigError(f"settings: expected a mapping of settings keys, found {type(mapping).__name__}")

    problems: list[str] = []
    unresolved: set[tuple[Any, ...]] = set()
    raw = _interpolate(dict(mapping), (), os.environ if environ is None else environ, problems, unresolved)
    problems.extend(_non_finite_numbers(raw, ()))
    document = _normalize(raw)
    problems.extend(_schema_problems(document, raw, unresolved))
    problems.extend(_loopback_problems(document))
    if require_auth and "auth" not in document and "connection" not in document:
        problems.append(
            "auth: required; give auth.client_id, auth.client_secret and auth.refresh_token, "
            "or auth.access_token, or name a stored connection"
        )
    if problems:
        raise ConfigError(sorted(set(problems)))
    return _build_settings(document)


def load_schema() -> dict[str, Any]:
    """Return a fresh copy of the settings JSON Schema (draft 2020-12)."""
    return copy.deepcopy(_cached_schema())


def is_loopback_url(url: str) -> bool:
    """Return True when the URL's host is localhost or a loopback address (127.0.0.0/8, ::1)."""
    try:
        host = urlsplit(url).hostname
    except ValueError:
        return False
    if not host:
        return False
    if host == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


@functools.cache
def _cached_schema() -> dict[str, Any]:
    with SCHEMA_FILE.open(encoding="utf-8") as schema_file:
        return json.load(schema_file)


@functools.cache
def _validator() -> Draft202012Validator:
    return Draft202012Validator(_cached_schema())


# Parsing


class _DuplicateKeyLoader(yaml.SafeLoader):
    """A safe YAML loader that records keys given twice in one mapping instead of keeping the last."""

    duplicates: list[str]


def _construct_mapping(loader: _DuplicateKeyLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    loader.flatten_mapping(node)
    mapping: dict[Any, Any] = {}
    first_lines: dict[Any, int] = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=deep)
        line = key_node.start_mark.line + 1
        if key in first_lines:
            loader.duplicates.append(f"{key}: given twice, on lines {first_lines[key]} and {line}; keep one")
        else:
            first_lines[key] = line
        mapping[key] = loader.construct_object(value_node, deep=deep)
    return mapping


_DuplicateKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _parse_yaml(text: str, name: str) -> tuple[Any, list[str]]:
    loader = _DuplicateKeyLoader(text)
    loader.duplicates = []
    try:
        document = loader.get_single_data()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        return None, [f"{name}: not valid YAML{where}: {exc.problem}"]
    except yaml.YAMLError as exc:
        return None, [f"{name}: not valid YAML: {exc}"]
    finally:
        loader.dispose()
    return document, list(loader.duplicates)


def _parse_json(text: str, name: str) -> tuple[Any, list[str]]:
    duplicates: list[str] = []

    def collect_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        mapping: dict[str, Any] = {}
        for key, value in pairs:
            if key in mapping:
                duplicates.append(f"{key}: given twice in one object; keep one")
            mapping[key] = value
        return mapping

    try:
        document = json.loads(text, object_pairs_hook=collect_pairs) if text.strip() else None
    except json.JSONDecodeError as exc:
        return None, [f"{name}: not valid JSON (line {exc.lineno}, column {exc.colno}): {exc.msg}"]
    return document, duplicates


# Preparing the document for validation


def _interpolate(
    value: Any,
    path: tuple[Any, ...],
    environ: Mapping[str, str],
    problems: list[str],
    unresolved: set[tuple[Any, ...]],
) -> Any:
    """Return ``value`` with each ``${env:NAME}`` in its strings replaced from ``environ``.

    Replaced text is not scanned again, so a variable's value may itself contain ``${env:``.
    The path of each string with a placeholder left in it is added to ``unresolved``.
    """
    if isinstance(value, dict):
        return {key: _interpolate(item, (*path, key), environ, problems, unresolved) for key, item in value.items()}
    if isinstance(value, list):
        return [
            _interpolate(item, (*path, index), environ, problems, unresolved) for index, item in enumerate(value)
        ]
    if not isinstance(value, str) or "${env:" not in value:
        return value

    where = _format_path(path)

    def replace(match: re.Match[str]) -> str:
        variable = match.group(1)
        if not _ENV_NAME.fullmatch(variable):
            problems.append(f"{where}: '${{env:{variable}}}' is not a valid placeholder; write ${{env:NAME}}")
            return match.group(0)
        if variable not in environ:
            problems.append(
                f"{where}: environment variable {variable} is not set; set it or replace ${{env:{variable}}}"
            )
            return match.group(0)
        return environ[variable]

    count = len(problems)
    if "${env:" in _PLACEHOLDER.sub("", value):
        problems.append(f"{where}: a ${{env:NAME}} placeholder is not closed with }}")
    result = _PLACEHOLDER.sub(replace, value)
    if len(problems) > count:
        unresolved.add(path)
    return result


def _non_finite_numbers(value: Any, path: tuple[Any, ...]) -> list[str]:
    # JSON has no NaN or infinity, so the schema cannot reject them. YAML's .nan and .inf can occur.
    if isinstance(value, float) and not math.isfinite(value):
        return [f"{_format_path(path)}: {value} is not a finite number"]
    if isinstance(value, dict):
        return [problem for key, item in value.items() for problem in _non_finite_numbers(item, (*path, key))]
    if isinstance(value, list):
        return [problem for index, item in enumerate(value) for problem in _non_finite_numbers(item, (*path, index))]
    return []


def _normalize(raw: dict[str, Any]) -> dict[str, Any]:
    """Return a copy with the spellings the schema's enums and patterns do not list rewritten."""
    document = dict(raw)
    mode = document.get("mode")
    if isinstance(mode, str):
        document["mode"] = mode.strip().lower()

    audience_type = document.get("audience_type")
    if isinstance(audience_type, str):
        key = audience_type.strip().lower().replace("-", "_").replace(" ", "_")
        document["audience_type"] = _AUDIENCE_TYPE_ALIASES.get(key, audience_type)

    api = document.get("api")
    if isinstance(api, dict) and type(api.get("version")) is int:
        # YAML reads an unquoted 202611 as an integer.
        document["api"] = {**api, "version": str(api["version"])}
    return document


# Validation messages


def _schema_problems(
    document: dict[str, Any], raw: dict[str, Any], unresolved: set[tuple[Any, ...]]
) -> list[str]:
    """Return a message for each schema error, leaving out follow-on errors of a problem already reported.

    Errors at a path whose placeholder was not replaced are left out, and so are other errors at
    a path that is empty (minLength) or whose missing credential keys are listed one by one.
    """
    errors = sorted(_validator().iter_errors(document), key=lambda error: _format_path(error.absolute_path))
    dependency_errors = {
        tuple(error.absolute_path): error for error in errors if error.validator == "dependentRequired"
    }
    empty_paths = {tuple(error.absolute_path) for error in errors if error.validator == "minLength"}

    problems: list[str] = []
    for error in errors:
        path = tuple(error.absolute_path)
        if path in unresolved or error.validator == "dependentRequired":
            continue
        if error.validator == "anyOf" and path in dependency_errors:
            continue
        if error.validator != "minLength" and path in empty_paths:
            continue
        problems.extend(_describe(error, raw))
    for path, error in dependency_errors.items():
        problems.extend(_missing_dependencies(path, error.instance, error.validator_value))
    return problems


def _missing_dependencies(
    path: tuple[Any, ...], instance: Mapping[str, Any], dependencies: Mapping[str, list[str]]
) -> list[str]:
    """Return one message per missing key, naming every given key that requires it."""
    required_by: dict[str, list[str]] = {}
    for key, needed in dependencies.items():
        if key not in instance:
            continue
        for other in needed:
            if other not in instance:
                required_by.setdefault(other, []).append(_format_path((*path, key)))
    messages = []
    for missing, present in required_by.items():
        verb = "is" if len(present) == 1 else "are"
        messages.append(f"{_format_path((*path, missing))}: required when {' and '.join(present)} {verb} set")
    return messages


def _describe(error: ValidationError, raw: dict[str, Any]) -> list[str]:
    """Return the message(s) for one schema error, with the path and what to do."""
    path = tuple(error.absolute_path)
    where = _format_path(path)
    keyword = error.validator
    value = _lookup(raw, path, error.instance)
    value_text = "the value" if _is_secret(path) else repr(value)

    if keyword == "required":
        missing = [key for key in error.validator_value if key not in error.instance]
        return [
            f"{_format_path((*path, key))}: required; {_REQUIRED_HINTS.get(_format_path((*path, key)), 'set it')}"
            for key in missing
        ]
    if keyword == "additionalProperties":
        allowed = sorted(error.schema.get("properties", {}))
        return [_unknown_key(path, key, allowed) for key in error.instance if key not in allowed]
    if keyword == "enum":
        hint = _ENUM_HINTS.get(where, "use " + " or ".join(map(str, error.validator_value)))
        return [f"{where}: {value_text} is not valid; {hint}"]
    if keyword == "type":
        expected = error.validator_value if isinstance(error.validator_value, list) else [error.validator_value]
        if "boolean" in expected:
            # A boolean that also accepts "true" or "false" as strings.
            expected = ["boolean"]
        names = " or ".join(_TYPE_NAMES.get(name, name) for name in expected)
        return [f"{where}: expected {names}, found {_json_type(value)}"]
    if keyword == "pattern":
        return [f"{where}: {value_text} is not valid; {_PATTERN_HINTS.get(where, 'check the format')}"]
    if keyword == "maximum":
        reason = _MAXIMUM_REASONS.get(where, "the maximum")
        return [f"{where}: {value} is more than {error.validator_value}, {reason}"]
    if keyword == "minimum":
        return [f"{where}: {value} is less than {error.validator_value}, the minimum"]
    if keyword == "exclusiveMinimum":
        return [f"{where}: {value} is not valid; give a number greater than {error.validator_value}"]
    if keyword == "minLength":
        return [f"{where}: must not be empty"]
    if keyword == "maxLength":
        return [f"{where}: {len(value)} characters is more than {error.validator_value}, the maximum"]
    if keyword == "minItems":
        return [f"{where}: must list at least {error.validator_value} item"]
    if keyword == "uniqueItems":
        return [f"{where}: lists the same name more than once; keep each once"]
    if keyword == "anyOf" and path == ("auth",):
        return ["auth: give auth.access_token, or auth.client_id, auth.client_secret and auth.refresh_token"]
    if keyword == "not" and not path:
        return ["connection: cannot be used together with auth; remove either the auth block or the connection"]
    # Every keyword the schema uses is handled above. This fallback keeps a schema change from echoing a secret.
    return [f"{where or 'settings'}: is not valid ({keyword})"]


def _unknown_key(path: tuple[Any, ...], key: Any, allowed: list[str]) -> str:
    where = _format_path((*path, key))
    close = difflib.get_close_matches(str(key), allowed, n=1)
    if close:
        return f"{where}: unknown key; did you mean {_format_path((*path, close[0]))}?"
    return f"{where}: unknown key; valid keys here are {', '.join(allowed)}"


def _loopback_problems(document: dict[str, Any]) -> list[str]:
    api = document.get("api")
    if not isinstance(api, dict):
        return []
    problems = []
    for key in ("base_url", "oauth_base_url"):
        url = api.get(key)
        if isinstance(url, str) and url.startswith("http://") and not is_loopback_url(url):
            problems.append(
                f"api.{key}: {url!r} is not https; plain http is accepted only for a loopback host "
                f"({LOOPBACK_HOSTS})"
            )
    return problems


def _permission_warnings(name: str, document: dict[str, Any]) -> list[str]:
    """Return a warning when the file contains a literal secret and group or others may read it.

    A secret given wholly as ``${env:NAME}`` is not in the file, so it does not count.
    """
    auth = document.get("auth")
    if os.name != "posix" or not isinstance(auth, dict):
        return []
    literal = [
        f"auth.{key}"
        for key in SECRET_KEYS
        if isinstance(auth.get(key), str) and not _PLACEHOLDER.fullmatch(auth[key])
    ]
    if not literal:
        return []
    try:
        mode = os.stat(name).st_mode
    except OSError:
        return []
    if not mode & (stat.S_IRGRP | stat.S_IROTH):
        return []
    return [
        f"{name} contains {', '.join(literal)} and is readable by group or others "
        f"(mode {stat.S_IMODE(mode):04o}); run chmod 600 on it, or give the secret as ${{env:NAME}}"
    ]


# Building Settings


def _build_settings(document: dict[str, Any]) -> Settings:
    auth = document.get("auth", {})
    api = document.get("api", {})
    # JSON Schema counts 3.0 as an integer, so numbers are converted to the dataclass field's type.
    converters = {"float": float, "int": int}
    field_types = {item.name: item.type for item in fields(ApiSettings)}
    api_values = {key: converters.get(field_types[key], str)(value) for key, value in api.items()}
    for key in ("base_url", "oauth_base_url"):
        if key in api_values:
            api_values[key] = api_values[key].rstrip("/")

    columns = document.get("columns")
    return Settings(
        ad_account_id=_account_id(document["ad_account_id"]),
        segment_name=document["segment_name"],
        audience_type=document.get("audience_type", "users"),
        mode=document.get("mode", "add"),
        segment_description=document.get("segment_description"),
        ignore_invalid_records=_boolean(document.get("ignore_invalid_records", False)),
        batch_size=int(document.get("batch_size", MAX_BATCH_SIZE)),
        worker_processes=int(document.get("worker_processes", 0)),
        columns=tuple(columns) if columns is not None else None,
        auth=AuthSettings(
            client_id=auth.get("client_id"),
            client_secret=auth.get("client_secret"),
            refresh_token=auth.get("refresh_token"),
            access_token=auth.get("access_token"),
            connection=document.get("connection"),
        ),
        api=ApiSettings(**api_values),
    )


def _account_id(value: str | int | float) -> str:
    text = str(int(value)) if isinstance(value, float) else str(value).strip()
    return text.removeprefix(_ACCOUNT_URN_PREFIX)


def _boolean(value: bool | str) -> bool:
    return value if isinstance(value, bool) else value.lower() == "true"


# Helpers


def _format_path(path: Iterable[Any]) -> str:
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        elif text:
            text += f".{part}"
        else:
            text = str(part)
    return text


def _lookup(document: Any, path: tuple[Any, ...], default: Any) -> Any:
    """Return the value at ``path`` as the user wrote it (before normalization), else ``default``."""
    for part in path:
        try:
            document = document[part]
        except (KeyError, IndexError, TypeError):
            return default
    return document


def _is_secret(path: tuple[Any, ...]) -> bool:
    return len(path) == 2 and path[0] == "auth" and path[1] in SECRET_KEYS


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "a whole number"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__
