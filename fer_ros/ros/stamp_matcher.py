"""Pair two streams by an exact key (an image and the results computed from it share a header stamp)."""

from __future__ import annotations

from collections import OrderedDict
from typing import Generic, TypeVar

A = TypeVar("A")
B = TypeVar("B")


class StampMatcher(Generic[A, B]):
    """Small bounded buffers of unmatched items on each side; an item on one side that finds its key waiting
    on the other side is returned as a pair and both leave the buffers.

    Results normally arrive after their image, so the image side needs room for the frames that arrive while
    a result is computed (``capacity``); the oldest unmatched items are dropped first.
    """

    def __init__(self, capacity: int = 30) -> None:
        if capacity < 1:
            raise ValueError("capacity must be >= 1")
        self.capacity = capacity
        self._left: OrderedDict[int, A] = OrderedDict()
        self._right: OrderedDict[int, B] = OrderedDict()
        self.dropped_left = 0
        self.dropped_right = 0

    def add_left(self, key: int, item: A) -> tuple[A, B] | None:
        """Add an item of the first stream (e.g. an image); the pair when its partner is waiting."""
        partner = self._right.pop(key, None)
        if partner is not None:
            return item, partner
        self._left[key] = item
        self._left.move_to_end(key)
        while len(self._left) > self.capacity:
            self._left.popitem(last=False)
            self.dropped_left += 1
        return None

    def add_right(self, key: int, item: B) -> tuple[A, B] | None:
        """Add an item of the second stream (e.g. a result); the pair when its partner is waiting."""
        partner = self._left.pop(key, None)
        if partner is not None:
            self._drop_left_older_than(key)
            return partner, item
        self._right[key] = item
        self._right.move_to_end(key)
        while len(self._right) > self.capacity:
            self._right.popitem(last=False)
            self.dropped_right += 1
        return None

    def _drop_left_older_than(self, key: int) -> None:
        """Results come in stamp order: images older than a matched one will never be matched."""
        for old in [k for k in self._left if k < key]:
            del self._left[old]
            self.dropped_left += 1

    def __len__(self) -> int:
        return len(self._left) + len(self._right)
