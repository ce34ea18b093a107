"""maix.app: the exit flag an app polls once per frame, the app id and the app data folder.

``need_exit()`` turns true after ``FAKE_MAIX_FRAMES`` camera frames (0 = never), on SIGTERM/SIGINT, or after
``set_exit_flag(True)``. ``get_app_data_path()`` is ``FAKE_MAIX_DATA_DIR`` when set, else ``"./data"`` (created),
as MaixCDK's (``components/basic/src/maix_app.cpp``: ``string path = "./data"; fs::mkdir(path, true, true);
return path;``, the app being started in its install folder).
"""

from __future__ import annotations

import os
import signal

from . import _env

_exit_flag = False
_frames_read = 0
_frame_budget = _env.env_int("FAKE_MAIX_FRAMES", 0)


def _on_signal(signum, frame) -> None:  # noqa: ARG001
    global _exit_flag
    _exit_flag = True


for _sig in (signal.SIGTERM, signal.SIGINT):
    try:
        signal.signal(_sig, _on_signal)
    except ValueError:  # not the main thread
        pass


def need_exit() -> bool:
    return _exit_flag or (_frame_budget > 0 and _frames_read >= _frame_budget)


def set_exit_flag(exit: bool = True) -> None:  # noqa: A002 - MaixPy's name
    global _exit_flag
    _exit_flag = bool(exit)


def app_id() -> str:
    return "fer_ros_bridge"


def get_app_data_path() -> str:
    path = os.environ.get("FAKE_MAIX_DATA_DIR") or "./data"
    os.makedirs(path, exist_ok=True)
    return path


def _count_frame() -> None:
    """Called by the fake camera for each frame read."""
    global _frames_read
    _frames_read += 1
