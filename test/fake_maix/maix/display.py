"""maix.display: a screen that counts frames (and saves the last one when FAKE_MAIX_DISPLAY_DIR is set)."""

from __future__ import annotations

import os
from pathlib import Path

from . import image


class Display:
    def __init__(self, width: int = -1, height: int = -1, format=None, device=None, open: bool = True):  # noqa: A002
        self._width = 552 if width <= 0 else width
        self._height = 368 if height <= 0 else height
        self.frames_shown = 0
        out = os.environ.get("FAKE_MAIX_DISPLAY_DIR")
        self._out = Path(out) if out else None

    def width(self) -> int:
        return self._width

    def height(self) -> int:
        return self._height

    def show(self, img: image.Image, fit=None) -> None:
        if not isinstance(img, image.Image):
            raise TypeError("Display.show needs a maix.image.Image")
        self.frames_shown += 1
        if self._out is not None:
            self._out.mkdir(parents=True, exist_ok=True)
            img.save(str(self._out / "last_frame.png"))
