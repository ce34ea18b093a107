"""Test-only fake of the MaixPy ``maix`` package (see test/fake_maix/README.md). Never installed."""

__version__ = "0.0.0-fake"
FAKE = True
