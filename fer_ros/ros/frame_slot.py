"""A one-frame mailbox between a subscription callback and a worker thread: the newest frame wins."""

from __future__ import annotations

import threading
from typing import Generic, TypeVar

T = TypeVar("T")


class LatestSlot(Generic[T]):
    """Holds at most one item. ``put`` replaces an item nobody took yet (and says so); ``take`` waits.

    This is the whole back-pressure policy of the expression node: the worker always processes the newest
    frame and the queue can never grow.
    """

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._item: T | None = None
        self._closed = False

    def put(self, item: T) -> bool:
        """Store ``item``; returns True when it replaced an unprocessed one."""
        with self._condition:
            replaced = self._item is not None
            self._item = item
            self._condition.notify()
            return replaced

    def take(self, timeout_s: float | None = None) -> T | None:
        """The newest item (removing it), waiting up to ``timeout_s``; None on timeout or when closed."""
        with self._condition:
            if self._item is None and not self._closed:
                self._condition.wait(timeout_s)
            item, self._item = self._item, None
            return item

    def close(self) -> None:
        """Wake the waiting worker for good."""
        with self._condition:
            self._closed = True
            self._condition.notify_all()

    @property
    def closed(self) -> bool:
        return self._closed
