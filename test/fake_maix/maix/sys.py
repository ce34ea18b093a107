"""maix.sys: device information."""

from __future__ import annotations

import os


def device_name() -> str:
    return os.environ.get("FAKE_MAIX_DEVICE_NAME", "MaixCAM")


def device_id() -> str:
    return "fake"


def maixpy_version() -> str:
    return "0.0.0-fake"
