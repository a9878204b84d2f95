"""Turn one input row into a LinkedIn element (a ``Member``) or a ``Rejection``.

Pure functions: no I/O and no logging. The pipeline counts and logs what they return.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

from td_output_linkedin.columns import ColumnMap

__all__ = ["ACTIONS", "Member", "Rejection", "make_builder"]


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


ACTIONS = ("ADD", "REMOVE")


def make_builder(
    columns: ColumnMap, action: str, *, header: Sequence[str] | None = None
) -> Callable[[int, Any], Member | Rejection]:
    """Return the function that turns ``(row_number, row)`` into a ``Member`` or a ``Rejection``.

    ``row`` maps the header names exactly as found in the input to raw cell values. With
    ``header``, ``row`` is instead a sequence of the cells in the header's order, one per name,
    which saves building a mapping for each row of a csv file. The returned function raises no
    ``Exception`` for any row, because an unexpected error becomes a ``Rejection``.
    ``make_builder`` itself raises ``ValueError`` for an unknown action or audience type.
    """
    # Imported here because both modules import Member and Rejection from this package.
    from td_output_linkedin.records.companies import build_companies
    from td_output_linkedin.records.users import build_users

    if action not in ACTIONS:
        raise ValueError(f"unknown action {action!r}; expected 'ADD' or 'REMOVE'")
    positional = header is not None
    if header is not None:
        # The builders read each cell by the key in ``sources``: here its index in the header.
        index_of = {name: index for index, name in enumerate(header)}
        columns = dataclasses.replace(
            columns, sources={column: index_of[name] for column, name in columns.sources.items()}  # type: ignore[misc]
        )
    if columns.audience_type == "users":
        return build_users(columns, action, positional=positional)
    if columns.audience_type == "companies":
        return build_companies(columns, action, positional=positional)
    raise ValueError(f"unknown audience type {columns.audience_type!r}; expected 'users' or 'companies'")
