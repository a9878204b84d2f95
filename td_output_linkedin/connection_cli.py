"""The ``connection`` commands: create, list and delete stored LinkedIn connections.

Results go to stdout and errors to stderr. Each command returns the exit status: 0 on success,
1 when LinkedIn or the consent failed, 2 for a usage or configuration error, 130 after Ctrl-C.
"""

from __future__ import annotations

import argparse
import os
import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from td_output_linkedin.config import CONNECTIONS_ENV_VAR as ENV_VAR
from td_output_linkedin.config import DEFAULT_OAUTH_BASE_URL
from td_output_linkedin.errors import EXIT_OK, EXIT_USAGE, PluginError

if TYPE_CHECKING:
    from td_output_linkedin.connections import Connection

# The commands import td_output_linkedin.connections when they run: it brings in requests, which
# every other command of the program would otherwise load for nothing at start-up.

CLIENT_SECRET_ENV_VAR = "TD_OUTPUT_LINKEDIN_CLIENT_SECRET"
# A fixed port, because LinkedIn rejects a redirect_uri that is not among the app's "Authorized
# redirect URLs", so the URL must be the same on every run: http://127.0.0.1:8765/callback.
# NOTE: no LinkedIn page was found confirming that every app may register an http loopback URL.
DEFAULT_CALLBACK_PORT = 8765
DEFAULT_CONSENT_TIMEOUT_SECONDS = 300.0
EXIT_INTERRUPTED = 130


def add_connection_commands(subparsers: Any) -> None:
    """Add ``connection`` with its ``create``, ``list`` and ``delete`` subcommands."""
    connection_parser = subparsers.add_parser(
        "connection",
        help="create, list or delete stored LinkedIn connections",
        description=f"Stored LinkedIn OAuth connections. The file is ${ENV_VAR}, else "
        "$XDG_CONFIG_HOME/td-output-linkedin/connections.json, else ~/.config/td-output-linkedin/connections.json.",
    )
    commands = connection_parser.add_subparsers(title="subcommands", required=True)

    create_parser = commands.add_parser(
        "create",
        help="authorize a LinkedIn member in the browser and store the connection",
        description="Print LinkedIn's authorization URL, wait for the redirect on 127.0.0.1, exchange the code "
        "for tokens and store them under NAME. An existing connection with that name is replaced.",
    )
    create_parser.add_argument("name", metavar="NAME", help="connection name: letters, digits, '.', '_' or '-'")
    create_parser.add_argument("--client-id", required=True, metavar="ID", help="the LinkedIn app's client ID")
    create_parser.add_argument(
        "--client-secret",
        metavar="SECRET",
        help=f"the LinkedIn app's client secret (default: ${CLIENT_SECRET_ENV_VAR}, which keeps it out of shell history)",
    )
    create_parser.add_argument(
        "--oauth-base-url",
        default=DEFAULT_OAUTH_BASE_URL,
        metavar="URL",
        help=f"base URL of LinkedIn's OAuth endpoints (default: {DEFAULT_OAUTH_BASE_URL})",
    )
    create_parser.add_argument(
        "--port",
        type=int,
        default=DEFAULT_CALLBACK_PORT,
        metavar="N",
        help="port of the redirect URL http://127.0.0.1:N/callback, which must be registered for the app; "
        f"0 picks a free port (default: {DEFAULT_CALLBACK_PORT})",
    )
    create_parser.add_argument(
        "--no-browser", action="store_true", help="only print the authorization URL, do not open a browser"
    )
    create_parser.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_CONSENT_TIMEOUT_SECONDS,
        metavar="SECONDS",
        help=f"maximum time to wait for the member to allow access (default: {DEFAULT_CONSENT_TIMEOUT_SECONDS:g})",
    )
    create_parser.set_defaults(func=command_create)

    list_parser = commands.add_parser(
        "list", help="show each connection's name, creation time and refresh token expiry; never a secret"
    )
    list_parser.set_defaults(func=command_list)

    delete_parser = commands.add_parser("delete", help="remove a stored connection")
    delete_parser.add_argument("name", metavar="NAME", help="name of the connection to remove")
    delete_parser.set_defaults(func=command_delete)


def command_create(args: argparse.Namespace) -> int:
    from td_output_linkedin.connections import ConnectionStore, create_connection

    client_secret = args.client_secret or os.environ.get(CLIENT_SECRET_ENV_VAR)
    if not client_secret:
        print(
            f"error: the client secret is missing; pass --client-secret or set {CLIENT_SECRET_ENV_VAR}",
            file=sys.stderr,
        )
        return EXIT_USAGE
    if not 0 <= args.port <= 65535:
        print(f"error: --port {args.port} is invalid; use 0 to 65535", file=sys.stderr)
        return EXIT_USAGE
    if args.timeout <= 0:
        print(f"error: --timeout {args.timeout:g} is invalid; use a positive number of seconds", file=sys.stderr)
        return EXIT_USAGE

    try:
        create_connection(
            args.name,
            client_id=args.client_id,
            client_secret=client_secret,
            oauth_base_url=args.oauth_base_url,
            open_browser=not args.no_browser,
            port=args.port,
            timeout_seconds=args.timeout,
            store=ConnectionStore(),
            out=sys.stdout,
        )
    except PluginError as error:
        # The token endpoint's messages name the settings keys; this command takes flags instead.
        message = str(error).replace("auth.client_id", "--client-id").replace("auth.client_secret", "--client-secret")
        print(f"error: {message}; no connection was saved", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print("error: interrupted; no connection was saved", file=sys.stderr)
        return EXIT_INTERRUPTED
    return EXIT_OK


def command_list(args: argparse.Namespace) -> int:
    from td_output_linkedin.connections import ConnectionStore

    store = ConnectionStore()
    try:
        connections = store.list()
    except PluginError as error:
        print(f"error: {error}", file=sys.stderr)
        return error.exit_code

    if not connections:
        print(f"No connections in {store.path}.")
        return EXIT_OK
    rows = [("NAME", "CREATED", "REFRESH TOKEN EXPIRES", "DAYS LEFT")]
    now = datetime.now(UTC)
    rows.extend(_list_row(connection, now) for connection in connections)
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]) - 1)]
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row, widths)]
        print("  ".join([*cells, row[-1]]))
    return EXIT_OK


def command_delete(args: argparse.Namespace) -> int:
    from td_output_linkedin.connections import ConnectionStore

    store = ConnectionStore()
    try:
        store.delete(args.name)
    except PluginError as error:
        print(f"error: {error}", file=sys.stderr)
        return error.exit_code
    print(f"Deleted connection {args.name!r} from {store.path}.")
    return EXIT_OK


def _list_row(connection: Connection, now: datetime) -> tuple[str, str, str, str]:
    """Format one connection for ``list``. Without a refresh token the access token's expiry is shown."""
    from td_output_linkedin.connections import days_left

    created = _format_day_time(connection.created_at)
    expires_at = connection.expires_at
    if expires_at is None:
        return connection.name, created, "unknown", "-"

    expiry = _format_day_time(expires_at)
    if connection.refresh_token is None:
        expiry += " (no refresh token; access token expiry)"
    remaining = days_left(expires_at, now)
    left = "expired" if expires_at <= now else str(remaining)
    return connection.name, created, expiry, left


def _format_day_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
