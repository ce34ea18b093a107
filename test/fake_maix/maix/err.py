"""maix.err: the exception type MaixPy raises from its C++ layer."""


class Exception(Exception):  # noqa: A001 - MaixPy's name
    """Raised by the fake where MaixPy raises ``err.Exception``."""
