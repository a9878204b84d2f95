"""The sandbox's HTTP server on 127.0.0.1 and its Python interface."""

from __future__ import annotations

import logging
import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable

from td_output_linkedin.sandbox.app import SandboxApp
from td_output_linkedin.sandbox.oauth import DEFAULT_MEMBER, OAuth
from td_output_linkedin.sandbox.options import DEFAULT_SCOPES, SandboxCredentials, SandboxOptions
from td_output_linkedin.sandbox.state import SandboxState
from td_output_linkedin.sandbox.wire import ApiError, Request, Response

log = logging.getLogger("td_output_linkedin.sandbox")

HOST = "127.0.0.1"
MAX_BODY_BYTES = 64 * 1024 * 1024


class Sandbox:
    """A LinkedIn-compatible API on loopback: ``/rest/...`` for the API, ``/oauth/v2/...`` for OAuth.

    ``clock`` returns Unix seconds; tests pass a fake one to move token expiry, the new-segment
    window and rate-limit windows without sleeping.
    """

    def __init__(self, options: SandboxOptions | None = None, *, clock: Callable[[], float] = time.time):
        self.options = options or SandboxOptions()
        self._state = SandboxState(clock, self.options.store_members)
        if self.options.state_file and os.path.exists(self.options.state_file):
            self._state.load(self.options.state_file)
            log.info("sandbox state loaded from %s", self.options.state_file)
        self._oauth = OAuth(self._state, self.options)
        self._app = SandboxApp(self.options, self._state, self._oauth)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.base_url = ""

    def start(self) -> str:
        """Serve in a daemon thread and return the base URL ``http://127.0.0.1:PORT``."""
        if self._server is not None:
            return self.base_url
        server = ThreadingHTTPServer((HOST, self.options.port), _Handler)
        server.daemon_threads = True
        server.sandbox_app = self._app  # type: ignore[attr-defined]
        self._server = server
        self.base_url = f"http://{HOST}:{server.server_address[1]}"
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="linkedin-sandbox", daemon=True
        )
        self._thread.start()
        log.info("sandbox serving at %s", self.base_url)
        return self.base_url

    def stop(self) -> None:
        """Stop serving and save the state file when one is set."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            if self._thread is not None:
                self._thread.join()
            self._server = None
            self._thread = None
            log.info("sandbox at %s stopped", self.base_url)
        if self.options.state_file:
            self._state.save(self.options.state_file)
            log.info("sandbox state saved to %s", self.options.state_file)

    def __enter__(self) -> Sandbox:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def authorize(
        self,
        *,
        client_id: str = "sandbox-client",
        client_secret: str | None = None,
        scopes: tuple[str, ...] = DEFAULT_SCOPES,
        member: str = DEFAULT_MEMBER,
    ) -> SandboxCredentials:
        """Register an app (secret generated unless given) and a member who consented to ``scopes``."""
        return self._oauth.consent(client_id, client_secret, tuple(scopes), member)

    def revoke_refresh_tokens(self) -> None:
        """Revoke every refresh token issued so far, so a refresh fails with ``invalid_grant``."""
        self._state.revoke_refresh_tokens()

    def revoke_access_tokens(self) -> None:
        """Revoke every access token issued so far: API calls fail with 401 ``REVOKED_ACCESS_TOKEN``."""
        self._state.revoke_access_tokens()

    def expire_access_tokens(self) -> None:
        """Expire every access token issued so far: API calls fail with 401 ``INVALID_ACCESS_TOKEN``."""
        self._state.expire_access_tokens()

    def state(self, include_members: bool = True) -> dict[str, Any]:
        """Return what ``GET /_sandbox/state`` returns: segments, their members and request counts."""
        return self._state.snapshot(include_members)

    def members(self, segment_id: int | str) -> list[dict[str, Any]]:
        """Return a segment's current members as sent (userIds in canonical order), without ``action``."""
        with self._state.lock:
            segment = self._state.segments.get(int(segment_id))
            if segment is None:
                raise KeyError(f"no segment {segment_id} in the sandbox")
            return segment.member_elements()


class _Handler(BaseHTTPRequestHandler):
    # HTTP/1.1 keeps connections open between requests, so every response carries Content-Length.
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def version_string(self) -> str:
        return "LinkedInSandbox"

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def do_PUT(self) -> None:
        self._serve()

    def do_PATCH(self) -> None:
        self._serve()

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.address_string(), *args)

    def _serve(self) -> None:
        body = self._read_body()
        if body is None:
            return
        path, _, raw_query = self.path.partition("?")
        headers = {name.lower(): value for name, value in self.headers.items()}
        request = Request(self.command, path, raw_query, headers, body)
        try:
            response = self.server.sandbox_app.handle(request)  # type: ignore[attr-defined]
        except Exception:
            log.exception("sandbox failed on %s %s", self.command, path)
            response = ApiError(500, "The sandbox failed on this request; see its log", "INTERNAL_SERVER_ERROR").response()
        if response is None:
            self.close_connection = True
            return
        self._write(response)

    def _read_body(self) -> bytes | None:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            self._write(ApiError(411, "Send the body with Content-Length", "LENGTH_REQUIRED").response())
            self.close_connection = True
            return None
        length_header = self.headers.get("Content-Length") or "0"
        if not length_header.isdigit() or int(length_header) > MAX_BODY_BYTES:
            self._write(ApiError(400, "Content-Length is invalid or too large", "INVALID_REQUEST").response())
            self.close_connection = True
            return None
        return self.rfile.read(int(length_header))

    def _write(self, response: Response) -> None:
        try:
            self.send_response(response.status)
            for name, value in response.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(response.body)))
            self.end_headers()
            if response.body:
                self.wfile.write(response.body)
        except ConnectionError:
            # The client gave up first, as it does after its timeout during a slow fault.
            log.debug("client closed the connection before the response to %s %s", self.command, self.path[:100])
            self.close_connection = True
