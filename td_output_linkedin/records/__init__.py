"""Turn one input row into a LinkedIn element (a ``Member``) or a ``Rejection``.

Pure functions: no I/O and no logging. The pipeline counts and logs what they return.
"""

from __future__ import annotations

from typing import Any, NamedTuple


class Rejection(NamedTuple):
    """An invalid row: its 1-based row number, the column at fault (None for the whole row) and why.

    ``reason`` never contains the cell's value, because rows carry personal data.
    """

    row: int
    column: str | None
    reason: str


class Member(NamedTuple):
    """A valid row as the element LinkedIn receives.

    ``fingerprint`` is a 64-bit integer that is equal for two rows giving the same member, used to
    drop duplicates. ``dropped`` names the optional columns whose invalid values were left out
    (``apple_idfa`` is always left out because LinkedIn no longer accepts it).
    """

    row: int
    element: dict[str, Any]
    fingerprint: int
    dropped: tuple[str, ...] = ()
