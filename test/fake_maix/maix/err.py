"""maix.err: the exception type MaixPy raises from its C++ layer, and its error codes."""

import enum


class Err(enum.IntEnum):
    """The first of MaixCDK's ``err::Err`` codes (``components/basic/include/maix_err.hpp``)."""

    ERR_NONE = 0
    ERR_ARGS = 1


class Exception(Exception):  # noqa: A001 - MaixPy's name
    """Raised by the fake where MaixPy raises ``err.Exception``."""
