"""The time source of the domain: integer Unix seconds, replaceable where tests need it."""

from __future__ import annotations

import time
from collections.abc import Callable

Clock = Callable[[], int]


def system_clock() -> int:
    return int(time.time())


def shifted_clock(offset_seconds: int) -> Clock:
    """The system clock moved by a fixed offset (tests of expiry start a server in the future)."""
    if offset_seconds == 0:
        return system_clock
    return lambda: int(time.time()) + offset_seconds
