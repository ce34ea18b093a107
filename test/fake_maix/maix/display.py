"""maix.display: a screen that counts frames (and saves the last one when FAKE_MAIX_DISPLAY_DIR is set).

Each ``Display()`` takes one of the device's video-output channels; the fake allows one open display per
process and raises on a second one while the first is open, so an app that opens two (e.g. a second one for
an error screen) fails in tests as it would fail to show anything on the device.
"""

from __future__ import annotations

import os
from pathlib import Path

from . import err, image

_open_displays = 0


class Display:
    def __init__(self, width: int = -1, height: int = -1, format=None, device=None, open: bool = True):  # noqa: A002
        global _open_displays
        if _open_displays:
            raise err.Exception("fake display: the video-output channel is already taken by another Display")
        _open_displays += 1
        self._open = True
        self._width = 552 if width <= 0 else width
        self._height = 368 if height <= 0 else height
        self.frames_shown = 0
        out = os.environ.get("FAKE_MAIX_DISPLAY_DIR")
        self._out = Path(out) if out else None

    def close(self) -> None:
        global _open_displays
        if getattr(self, "_open", False):
            self._open = False
            _open_displays -= 1

    def is_opened(self) -> bool:
        return self._open

    def __del__(self) -> None:
        self.close()

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
