"""``td-output-linkedin sandbox``: run the LinkedIn API emulator on 127.0.0.1 until stopped."""

from __future__ import annotations

import argparse
import gc
import json
import logging
import signal
import sys
import threading
from types import FrameType

from td_output_linkedin.sandbox.options import (
    ACCESS_TOKEN_LIFETIME_SECONDS,
    COMPANIES_REQUESTS_PER_MINUTE,
    FAULT_KINDS,
    REFRESH_TOKEN_LIFETIME_SECONDS,
    USERS_REQUESTS_PER_MINUTE,
    SandboxCredentials,
    SandboxOptions,
)

EXIT_OK = 0
EXIT_USAGE = 2

# The cyclic garbage collector's generation-0 threshold while the command serves (Python's default
# is 700). A batch of 5,000 users parses into about 15,000 containers that live until the response
# is sent, so default collections would traverse them again and again, which cost 15 to 35% of the
# sandbox's CPU on member uploads. Requests make no reference cycles that need collecting sooner.
GC_THRESHOLD = 50_000


def add_sandbox_arguments(parser: argparse.ArgumentParser) -> None:
    """Add one flag per sandbox knob to ``parser``."""
    serve = parser.add_argument_group("serving")
    serve.add_argument("--port", type=int, default=0, help="TCP port on 127.0.0.1; 0 picks a free one (default)")
    serve.add_argument("--state", metavar="FILE", help="load segments, members and tokens from FILE if it exists; save them there on exit")
    serve.add_argument("--json", action="store_true", help="print the base URL and credentials as one JSON line instead of YAML")
    serve.add_argument("--no-store-members", action="store_true", help="validate members but keep only counts (for very large uploads)")

    app = parser.add_argument_group("app and member")
    app.add_argument("--client-id", default="sandbox-client", help="client_id of the pre-registered app (default: sandbox-client)")
    app.add_argument("--client-secret", help="client_secret of that app (default: generated, or kept from --state)")
    app.add_argument("--revoked-refresh-token", action="store_true", help="revoke the printed refresh token at once, so a refresh fails with invalid_grant")
    app.add_argument("--token-lifetime-requests", type=int, metavar="N", help="an access token is rejected with 401 after N API requests")
    app.add_argument("--token-lifetime-seconds", type=float, default=ACCESS_TOKEN_LIFETIME_SECONDS, metavar="SECONDS",
                     help=f"access token lifetime in seconds (default: {ACCESS_TOKEN_LIFETIME_SECONDS}, LinkedIn's 60 days)")
    app.add_argument("--refresh-token-lifetime-seconds", type=float, default=REFRESH_TOKEN_LIFETIME_SECONDS, metavar="SECONDS",
                     help=f"refresh token lifetime in seconds (default: {REFRESH_TOKEN_LIFETIME_SECONDS}, 365 days)")
    app.add_argument("--viewer-account", action="append", default=[], metavar="ID",
                     help="ad account id where the member is only VIEWER, so writes fail with 403 (repeatable)")

    api = parser.add_argument_group("API behaviour")
    api.add_argument("--latency", type=float, default=0.0, metavar="SECONDS", help="delay in seconds added to every response")
    api.add_argument("--new-segment-404-seconds", type=float, default=0.0, metavar="SECONDS",
                     help="a new segment returns 404 to GET and member writes for this long")
    api.add_argument("--users-rpm", type=int, default=USERS_REQUESTS_PER_MINUTE, metavar="N",
                     help=f"requests per member per minute to /users (default: {USERS_REQUESTS_PER_MINUTE})")
    api.add_argument("--companies-rpm", type=int, default=COMPANIES_REQUESTS_PER_MINUTE, metavar="N",
                     help=f"requests per member per minute to /companies (default: {COMPANIES_REQUESTS_PER_MINUTE})")
    api.add_argument("--segment-limit", type=int, default=1000, metavar="N",
                     help="segments per ad account; creating one more fails with 429 SEGMENT_LIMIT_EXCEEDED (default: 1000)")
    api.add_argument("--versions", metavar="OLDEST:NEWEST",
                     help="LinkedIn-Version months served, such as 202601:202612 (default: the 12 months up to now)")

    faults = parser.add_argument_group("fault injection")
    faults.add_argument("--fault", action="append", default=[], metavar="KIND=PROBABILITY",
                        help=f"respond with a fault at this probability (repeatable); kinds: {', '.join(FAULT_KINDS)}")
    faults.add_argument("--element-fault-rate", type=float, default=0.0, metavar="PROBABILITY",
                        help="probability that one element gets its own HTTP 500 entry in a 200 response and is not applied")
    faults.add_argument("--fault-path", action="append", metavar="SUFFIX",
                        help="inject faults only on paths ending with SUFFIX (repeatable; default: /users and /companies)")
    faults.add_argument("--fault-all-paths", action="store_true", help="inject faults on every API path")
    faults.add_argument("--slow-seconds", type=float, default=5.0, metavar="SECONDS", help="delay of the slow fault (default: 5)")
    faults.add_argument("--retry-after", type=int, default=1, metavar="SECONDS", help="Retry-After of the 429 fault (default: 1)")
    faults.add_argument("--seed", type=int, help="random seed, so faults fall on the same requests each run")


def run_sandbox_command(args: argparse.Namespace) -> int:
    """Serve until SIGINT or SIGTERM, print where and with which credentials, save ``--state`` on exit."""
    try:
        options = options_from_args(args)
    except ValueError as error:
        print(f"sandbox: {error}", file=sys.stderr)
        return EXIT_USAGE
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(message)s")

    thresholds = gc.get_threshold()
    gc.set_threshold(max(thresholds[0], GC_THRESHOLD), *thresholds[1:])
    try:
        return _serve(args, options)
    finally:
        gc.set_threshold(*thresholds)


def _serve(args: argparse.Namespace, options: SandboxOptions) -> int:
    """Start the sandbox, print its connection settings and serve until SIGINT or SIGTERM."""
    # Imported here, so that registering this command's options loads no server code.
    from td_output_linkedin.sandbox.server import Sandbox

    try:
        sandbox = Sandbox(options)
        base_url = sandbox.start()
    except (OSError, ValueError) as error:
        # An unreadable or foreign --state file, or a --port already in use.
        print(f"sandbox: {error}", file=sys.stderr)
        return EXIT_USAGE
    credentials = sandbox.authorize(client_id=args.client_id, client_secret=args.client_secret)
    if args.revoked_refresh_token:
        sandbox.revoke_refresh_tokens()
    versions = options.version_window()
    if args.json:
        print(json.dumps(_connection(base_url, credentials, versions)), flush=True)
    else:
        print(_connection_yaml(base_url, credentials, versions), flush=True)

    stopped = threading.Event()

    def stop(signum: int, frame: FrameType | None) -> None:
        stopped.set()

    previous = {number: signal.signal(number, stop) for number in (signal.SIGINT, signal.SIGTERM)}
    try:
        while not stopped.wait(1.0):
            pass
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
        sandbox.stop()
    return EXIT_OK


def options_from_args(args: argparse.Namespace) -> SandboxOptions:
    """Build ``SandboxOptions`` from parsed flags; raise ValueError naming the flag that is wrong."""
    faults = {}
    for item in args.fault:
        kind, separator, probability = item.partition("=")
        try:
            faults[kind] = float(probability)
        except ValueError:
            separator = ""
        if not separator:
            raise ValueError(f"--fault {item}: expected KIND=PROBABILITY, such as 503=0.1")

    versions = None
    if args.versions:
        oldest, separator, newest = args.versions.partition(":")
        if not separator:
            raise ValueError(f"--versions {args.versions}: expected OLDEST:NEWEST, such as 202601:202612")
        versions = (oldest, newest)

    if args.fault_all_paths:
        fault_paths: tuple[str, ...] = ()
    elif args.fault_path:
        fault_paths = tuple(args.fault_path)
    else:
        fault_paths = SandboxOptions().fault_paths

    return SandboxOptions(
        port=args.port,
        latency_seconds=args.latency,
        new_segment_not_found_seconds=args.new_segment_404_seconds,
        users_requests_per_minute=args.users_rpm,
        companies_requests_per_minute=args.companies_rpm,
        faults=faults,
        element_fault_rate=args.element_fault_rate,
        slow_seconds=args.slow_seconds,
        retry_after_seconds=args.retry_after,
        fault_paths=fault_paths,
        seed=args.seed,
        access_token_lifetime_requests=args.token_lifetime_requests,
        access_token_lifetime_seconds=args.token_lifetime_seconds,
        refresh_token_lifetime_seconds=args.refresh_token_lifetime_seconds,
        viewer_accounts=tuple(args.viewer_account),
        segment_limit=args.segment_limit,
        supported_versions=versions,
        state_file=args.state,
        store_members=not args.no_store_members,
    )


def _connection(base_url: str, credentials: SandboxCredentials, versions: tuple[str, str]) -> dict[str, str]:
    return {
        "base_url": base_url,
        "client_id": credentials.client_id,
        "client_secret": credentials.client_secret,
        "refresh_token": credentials.refresh_token,
        "access_token": credentials.access_token,
        "oldest_version": versions[0],
        "newest_version": versions[1],
    }


def _connection_yaml(base_url: str, credentials: SandboxCredentials, versions: tuple[str, str]) -> str:
    """Return the settings a job config needs, as YAML; the tokens are valid for this sandbox only."""
    return "\n".join(
        [
            f"# LinkedIn sandbox at {base_url}; stop it with Ctrl-C. GET {base_url}/_sandbox/state shows what it received.",
            f"# It serves LinkedIn-Version {versions[0]} to {versions[1]}. Settings for a job config:",
            "api:",
            f"  base_url: {base_url}",
            f"  oauth_base_url: {base_url}",
            "auth:",
            f"  client_id: {credentials.client_id}",
            f"  client_secret: {credentials.client_secret}",
            f"  refresh_token: {credentials.refresh_token}",
            f"# access_token for direct calls: {credentials.access_token}",
        ]
    )
