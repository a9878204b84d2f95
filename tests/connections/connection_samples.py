"""Values shared by the connection tests: a fixed clock and recognizable secrets."""

from datetime import UTC, datetime

NOW = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)

CLIENT_SECRET = "client-secret-0123456789"
ACCESS_TOKEN = "access-token-abcdefghijklmnop"
REFRESH_TOKEN = "refresh-token-qrstuvwxyz012345"
