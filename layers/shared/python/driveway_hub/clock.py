"""The time source for shared code.

In Lambda this is the wall clock. The local cloud installs its controllable clock here
(``set_time_source``) so that handlers, Step Functions Wait states and the simulators agree on "now"
while a test runs a day-long booking in seconds. Domain functions still take ``now`` as an argument;
only the edges (handlers, adapters) call ``utcnow``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

_source: Callable[[], datetime] | None = None


def utcnow() -> datetime:
    """Aware UTC now, from the installed source or the wall clock."""
    return _source() if _source is not None else datetime.now(UTC)


def set_time_source(source: Callable[[], datetime] | None) -> None:
    """Install a source of aware UTC datetimes (None restores the wall clock)."""
    global _source
    _source = source
