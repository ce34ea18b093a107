"""maix.time: monotonic ticks (device clock) and sleeps."""

from __future__ import annotations

import time as _time


def ticks_us() -> int:
    return _time.monotonic_ns() // 1000


def ticks_ms() -> int:
    return _time.monotonic_ns() // 1_000_000


def ticks_s() -> float:
    return _time.monotonic()


def time() -> float:
    return _time.time()


def time_ms() -> int:
    return _time.time_ns() // 1_000_000


def sleep(s: float) -> None:
    _time.sleep(s)


def sleep_ms(ms: int) -> None:
    _time.sleep(ms / 1000.0)


def sleep_us(us: int) -> None:
    _time.sleep(us / 1e6)
