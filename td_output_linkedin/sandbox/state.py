"""Sandbox state: apps, tokens, segments and their members, and request counts.

One lock guards everything, because the client sends several requests at once. Times are Unix
seconds from the sandbox's clock, so a state file stays meaningful across restarts.
"""

from __future__ import annotations

import json
import os
import secrets
import threading
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from operator import itemgetter
from typing import Any, Callable

from td_output_linkedin.sandbox.validation import Accepted, check_company, check_user, user_ids_of

STATE_FORMAT = 1
FIRST_SEGMENT_ID = 10_000_001


@dataclass
class App:
    client_id: str
    client_secret: str
    scopes: tuple[str, ...]


@dataclass
class AccessToken:
    member: str
    client_id: str
    scopes: tuple[str, ...]
    expires_at: float
    requests_left: int | None = None
    revoked: bool = False


@dataclass
class RefreshToken:
    member: str
    client_id: str
    scopes: tuple[str, ...]
    expires_at: float
    revoked: bool = False


@dataclass
class AuthorizationCode:
    member: str
    client_id: str
    redirect_uri: str
    scopes: tuple[str, ...]
    expires_at: float


@dataclass
class Segment:
    id: int
    name: str
    account_id: str
    type: str
    source_platform: str
    created: float
    last_modified: float
    available_at: float
    description: str | None = None
    source_segment_id: str | None = None
    # Member key -> attributes kept about the member (None when only ids were sent).
    members: dict[bytes, dict[str, Any] | None] = field(default_factory=dict)
    # Used instead of ``members`` when the sandbox does not store members: ADDs minus REMOVEs accepted.
    counted_members: int = 0

    @property
    def account_urn(self) -> str:
        return f"urn:li:sponsoredAccount:{self.account_id}"

    def member_count(self, store_members: bool) -> int:
        return len(self.members) if store_members else max(self.counted_members, 0)

    def resource(self, store_members: bool) -> dict[str, Any]:
        """Build the segment as ``GET /rest/dmpSegments/{id}`` returns it.

        Every member counts as matched: the sandbox has no member graph to match against.
        """
        count = self.member_count(store_members)
        destination: dict[str, Any] = {
            "destination": "LINKEDIN",
            "status": "READY" if count else "BUILDING",
            "destinationSegmentId": f"urn:li:adSegment:{self.id}",
            "created": int(self.created * 1000),
            "lastModified": int(self.last_modified * 1000),
        }
        if count:
            destination["audienceSize"] = count
            destination["matchedCount"] = count
        resource: dict[str, Any] = {
            "id": self.id,
            "name": self.name,
            "type": self.type,
            "account": self.account_urn,
            "sourcePlatform": self.source_platform,
            "created": int(self.created * 1000),
            "lastModified": int(self.last_modified * 1000),
            "inputCount": count,
            "destinations": [destination],
        }
        if self.description is not None:
            resource["description"] = self.description
        if self.source_segment_id is not None:
            resource["sourceSegmentId"] = self.source_segment_id
        return resource

    def member_elements(self) -> list[dict[str, Any]]:
        """List the members as they were sent, without ``action``."""
        if self.type == "COMPANY":
            return [dict(attributes or {}) for attributes in self.members.values()]
        return [{"userIds": user_ids_of(key), **(attributes or {})} for key, attributes in self.members.items()]


class SandboxState:
    def __init__(self, clock: Callable[[], float], store_members: bool = True):
        self.lock = threading.RLock()
        self.clock = clock
        self.store_members = store_members
        self.apps: dict[str, App] = {}
        self.access_tokens: dict[str, AccessToken] = {}
        self.refresh_tokens: dict[str, RefreshToken] = {}
        self.codes: dict[str, AuthorizationCode] = {}
        self.segments: dict[int, Segment] = {}
        self.next_segment_id = FIRST_SEGMENT_ID
        self.requests: defaultdict[str, defaultdict[str, int]] = defaultdict(lambda: defaultdict(int))

    # --- tokens

    def issue_tokens(
        self, app: App, member: str, scopes: tuple[str, ...], access_seconds: float, access_requests: int | None,
        refresh_seconds: float,
    ) -> tuple[str, str]:
        """Issue a new access token and a new refresh token; return both values."""
        now = self.clock()
        access = "sandbox-at-" + secrets.token_urlsafe(24)
        refresh = "sandbox-rt-" + secrets.token_urlsafe(24)
        with self.lock:
            self.access_tokens[access] = AccessToken(member, app.client_id, scopes, now + access_seconds, access_requests)
            self.refresh_tokens[refresh] = RefreshToken(member, app.client_id, scopes, now + refresh_seconds)
        return access, refresh

    def issue_access_token(self, refresh: RefreshToken, seconds: float, requests: int | None) -> str:
        access = "sandbox-at-" + secrets.token_urlsafe(24)
        with self.lock:
            self.access_tokens[access] = AccessToken(
                refresh.member, refresh.client_id, refresh.scopes, self.clock() + seconds, requests
            )
        return access

    def revoke_refresh_tokens(self) -> None:
        with self.lock:
            for token in self.refresh_tokens.values():
                token.revoked = True

    def revoke_access_tokens(self) -> None:
        with self.lock:
            for token in self.access_tokens.values():
                token.revoked = True

    def expire_access_tokens(self) -> None:
        with self.lock:
            now = self.clock()
            for token in self.access_tokens.values():
                token.expires_at = min(token.expires_at, now)

    # --- segments

    def create_segment(self, body: dict[str, Any], account_id: str, unavailable_seconds: float) -> Segment:
        now = self.clock()
        with self.lock:
            segment = Segment(
                id=self.next_segment_id,
                name=body["name"],
                account_id=account_id,
                type=body["type"],
                source_platform=body["sourcePlatform"],
                created=now,
                last_modified=now,
                available_at=now + unavailable_seconds,
                description=body.get("description"),
                source_segment_id=body.get("sourceSegmentId"),
            )
            self.segments[segment.id] = segment
            self.next_segment_id += 1
        return segment

    def segments_of(self, account_id: str) -> list[Segment]:
        with self.lock:
            return [segment for segment in self.segments.values() if segment.account_id == account_id]

    def apply(self, segment: Segment, accepted: list[Accepted]) -> None:
        """Add or remove members; both are idempotent."""
        actions = list(map(itemgetter(0), accepted))
        adds = actions.count("ADD")
        with self.lock:
            if not self.store_members:
                segment.counted_members += adds - (len(actions) - adds)
            elif adds == len(actions):
                # One update applies the ADDs in element order, as the loop below would, at C speed.
                segment.members.update(map(itemgetter(1, 2), accepted))
            else:
                members = segment.members
                for action, key, attributes in accepted:
                    if action == "ADD":
                        members[key] = attributes
                    else:
                        members.pop(key, None)
            segment.last_modified = self.clock()

    # --- bookkeeping

    def count_request(self, endpoint: str, status: str) -> None:
        with self.lock:
            self.requests[endpoint][status] += 1

    def snapshot(self, include_members: bool = True) -> dict[str, Any]:
        """Build what ``GET /_sandbox/state`` returns: segments, members and request counts."""
        with self.lock:
            segments = []
            for segment in self.segments.values():
                entry = segment.resource(self.store_members)
                entry["memberCount"] = segment.member_count(self.store_members)
                if include_members:
                    entry["members"] = segment.member_elements()
                segments.append(entry)
            requests = {endpoint: dict(statuses) for endpoint, statuses in self.requests.items()}
        return {"segments": segments, "requests": requests}

    # --- persistence

    def save(self, path: str) -> None:
        """Write the whole state, tokens included, to ``path`` (readable by the owner only)."""
        with self.lock:
            document = {
                "format": STATE_FORMAT,
                "nextSegmentId": self.next_segment_id,
                "apps": [asdict(app) for app in self.apps.values()],
                "accessTokens": {value: asdict(token) for value, token in self.access_tokens.items()},
                "refreshTokens": {value: asdict(token) for value, token in self.refresh_tokens.items()},
                "segments": [_saved_segment(segment) for segment in self.segments.values()],
            }
        temporary = f"{path}.tmp"
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as file:
            json.dump(document, file)
        os.replace(temporary, path)

    def load(self, path: str) -> None:
        """Read a file written by ``save``; members are checked again as if sent with ADD.

        Raises ValueError naming the file when it is not a sandbox state file.
        """
        with open(path, encoding="utf-8") as file:
            try:
                document = json.load(file)
            except json.JSONDecodeError as error:
                raise ValueError(f"{path} is not a sandbox state file: invalid JSON ({error})") from None
        if not isinstance(document, dict) or document.get("format") != STATE_FORMAT:
            raise ValueError(f"{path} is not a sandbox state file of format {STATE_FORMAT}")
        try:
            self._load_document(document)
        except (KeyError, TypeError, AttributeError) as error:
            raise ValueError(f"{path} is not a valid sandbox state file: {type(error).__name__} {error}") from None

    def _load_document(self, document: dict[str, Any]) -> None:
        with self.lock:
            self.next_segment_id = document["nextSegmentId"]
            self.apps = {app["client_id"]: App(**{**app, "scopes": tuple(app["scopes"])}) for app in document["apps"]}
            self.access_tokens = {
                value: AccessToken(**{**token, "scopes": tuple(token["scopes"])})
                for value, token in document["accessTokens"].items()
            }
            self.refresh_tokens = {
                value: RefreshToken(**{**token, "scopes": tuple(token["scopes"])})
                for value, token in document["refreshTokens"].items()
            }
            self.segments = {}
            for saved in document["segments"]:
                segment = _loaded_segment(saved)
                self.segments[segment.id] = segment


def _saved_segment(segment: Segment) -> dict[str, Any]:
    saved = {name: value for name, value in asdict(segment).items() if name != "members"}
    saved["members"] = segment.member_elements()
    return saved


def _loaded_segment(saved: dict[str, Any]) -> Segment:
    members = saved.pop("members")
    segment = Segment(**saved)
    check = check_company if segment.type == "COMPANY" else check_user
    for index, element in enumerate(members):
        accepted = check({"action": "ADD", **element})
        if isinstance(accepted, str):
            raise ValueError(f"segment {segment.id}, saved member {index}: {accepted}")
        _, key, attributes = accepted
        segment.members[key] = attributes
    return segment
