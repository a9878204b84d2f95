"""Settings that would weaken the connection to LinkedIn: plain http, TLS without verification, readable secrets."""

from __future__ import annotations

import http.server
import ssl
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from reliability_support import AD_ACCOUNT_ID, run_command, run_in_process, write_config

from td_output_linkedin.config import settings_from_mapping

BASE = {"ad_account_id": AD_ACCOUNT_ID, "segment_name": "Safety"}
CLIENT_SECRET = "Known-Client-Secret-9d3e11"


def write_input(tmp_path: Path) -> Path:
    path = tmp_path / "contacts.csv"
    path.write_text("email\nsomeone@example.org\n", encoding="utf-8")
    return path


@pytest.mark.parametrize(
    "url",
    [
        "http://api.linkedin.com",
        "http://www.linkedin.com/",
        "http://10.0.0.1:8080",
        "http://0.0.0.0:8080",
        "http://127.0.0.1.nip.io",
        "http://localhost.example.com",
        "http://[::ffff:8.8.8.8]",
        "HTTP://api.linkedin.com",
        "ftp://api.linkedin.com",
    ],
)
@pytest.mark.parametrize("key", ["base_url", "oauth_base_url"])
def test_plain_http_remote_host_rejected(tmp_path, key, url):
    config = write_config(tmp_path / "job.yml", {**BASE, "api": {key: url}})

    outcome = run_in_process(["run", "--config", str(config), "--input", str(write_input(tmp_path)), "--dry-run"])

    assert outcome.exit_code == 2
    assert "Traceback" not in outcome.stderr
    assert f"api.{key}:" in outcome.stderr


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8080", "http://127.9.9.9", "http://localhost:1", "http://[::1]:8080", "https://api.linkedin.com"]
)
def test_loopback_http_accepted(url):
    settings = settings_from_mapping({**BASE, "api": {"base_url": url, "oauth_base_url": url}}, require_auth=False)

    assert settings.api.base_url == url
    assert settings.api.oauth_base_url == url


@pytest.mark.parametrize(
    "api",
    [{"verify": False}, {"verify_tls": False}, {"tls_verify": False}, {"insecure": True}, {"ca_bundle": "/dev/null"}],
    ids=lambda api: next(iter(api)),
)
def test_tls_switch_keys_unknown(tmp_path, api):
    config = write_config(tmp_path / "job.yml", {**BASE, "api": api})

    outcome = run_in_process(["run", "--config", str(config), "--input", str(write_input(tmp_path)), "--dry-run"])

    assert outcome.exit_code == 2
    assert f"api.{next(iter(api))}: unknown key" in outcome.stderr


class CountingHandler(http.server.BaseHTTPRequestHandler):
    requests_seen = 0

    def do_GET(self) -> None:
        self._answer()

    def do_POST(self) -> None:
        self._answer()

    def _answer(self) -> None:
        type(self).requests_seen += 1
        self.send_response(500)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def self_signed_server(tmp_path) -> Iterator[tuple[str, type[CountingHandler]]]:
    """An HTTPS server on 127.0.0.1 whose certificate no CA signed. It counts the requests it reads."""
    certificate = tmp_path / "server.pem"
    key = tmp_path / "server.key"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
            "-keyout", str(key), "-out", str(certificate),
        ],
        check=True,
        capture_output=True,
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certificate, key)
    handler = type("Handler", (CountingHandler,), {"requests_seen": 0})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}", handler
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


# Environment variables that some Python HTTP clients read to skip or replace certificate checks.
VERIFY_OFF_ENV = {"CURL_CA_BUNDLE": "", "REQUESTS_CA_BUNDLE": "", "PYTHONHTTPSVERIFY": "0", "SSL_CERT_FILE": ""}


@pytest.mark.parametrize(
    "auth",
    [
        {"access_token": "Known-Access-Token-1e2d3c"},
        {"client_id": "app", "client_secret": CLIENT_SECRET, "refresh_token": "Known-Refresh-Token-5a6b7c"},
    ],
    ids=["access token", "refresh token"],
)
def test_unverified_certificate_rejected(tmp_path, self_signed_server, auth):
    base_url, handler = self_signed_server
    settings = {
        **BASE,
        "ignore_invalid_records": True,
        "auth": auth,
        "api": {"base_url": base_url, "oauth_base_url": base_url, "max_attempts": 2, "max_retry_wait_seconds": 5},
    }
    config = write_config(tmp_path / "job.yml", settings)

    outcome = run_command(
        ["run", "--config", str(config), "--input", str(write_input(tmp_path))],
        report_path=tmp_path / "report.json",
        **VERIFY_OFF_ENV,
    )

    assert outcome.exit_code == 1
    assert "Traceback" not in outcome.stderr
    assert handler.requests_seen == 0
    assert outcome.report["elements_sent"] == 0
    for secret in (CLIENT_SECRET, "Known-Access-Token", "Known-Refresh-Token"):
        assert secret not in outcome.stderr


def test_unverified_certificate_message(tmp_path, self_signed_server):
    base_url, _ = self_signed_server
    settings = {**BASE, "auth": {"access_token": "Known-Access-Token-1e2d3c"}, "api": {"base_url": base_url}}
    config = write_config(tmp_path / "job.yml", settings)

    outcome = run_command(["check", "--config", str(config)], **VERIFY_OFF_ENV)

    assert outcome.exit_code == 1
    assert "failed verification" in outcome.stdout


def secret_settings(secret: str) -> dict:
    return {**BASE, "auth": {"client_id": "app", "client_secret": secret, "refresh_token": "${env:RELIABILITY_REFRESH}"}}


@pytest.mark.parametrize(
    ("mode", "secret", "warned"),
    [
        (0o644, CLIENT_SECRET, True),
        (0o640, CLIENT_SECRET, True),
        (0o604, CLIENT_SECRET, True),
        (0o600, CLIENT_SECRET, False),
        (0o400, CLIENT_SECRET, False),
        (0o644, "${env:RELIABILITY_SECRET}", False),
    ],
    ids=["0644", "0640", "0604", "0600", "0400", "0644 from environment"],
)
@pytest.mark.parametrize("command", ["run", "check"])
def test_readable_secret_file_warned(tmp_path, monkeypatch, mode, secret, warned, command):
    monkeypatch.setenv("RELIABILITY_SECRET", CLIENT_SECRET)
    monkeypatch.setenv("RELIABILITY_REFRESH", "Known-Refresh-Token-5a6b7c")
    config = write_config(tmp_path / "job.yml", secret_settings(secret), mode=mode)
    if command == "run":
        arguments = ["run", "--config", str(config), "--input", str(write_input(tmp_path)), "--dry-run"]
    else:
        arguments = ["check", "--config", str(config), "--sandbox"]

    outcome = run_in_process(arguments)

    assert outcome.exit_code == 0, outcome.stderr + outcome.stdout
    output = outcome.stderr + outcome.stdout
    assert ("auth.client_secret and is readable by group or others" in output) is warned
    if warned:
        assert f"(mode {mode:04o})" in output
        assert "chmod 600" in output
    assert CLIENT_SECRET not in output


def test_token_endpoint_certificate_not_retried(tmp_path, self_signed_server):
    base_url, handler = self_signed_server
    settings = {
        **BASE,
        "auth": {"client_id": "app", "client_secret": CLIENT_SECRET, "refresh_token": "Known-Refresh-Token-5a6b7c"},
        "api": {"base_url": base_url, "oauth_base_url": base_url, "max_attempts": 3, "max_retry_wait_seconds": 3},
    }
    config = write_config(tmp_path / "job.yml", settings)

    outcome = run_command(["run", "--config", str(config), "--input", str(write_input(tmp_path))], **VERIFY_OFF_ENV)

    assert outcome.exit_code == 1
    assert handler.requests_seen == 0
    assert "retrying" not in outcome.stderr
    assert "failed verification" in outcome.stderr
