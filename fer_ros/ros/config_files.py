"""Finding fer_ros's configuration files: given paths, the installed share/fer_ros/config, the source tree."""

from __future__ import annotations

from pathlib import Path

SOURCE_CONFIG_DIR = Path(__file__).resolve().parents[2] / "config"


def config_dirs() -> list[Path]:
    """Where a bare config file name is looked up: share/fer_ros/config of the ROS install, then the
    source checkout's config/ (development venv)."""
    dirs = []
    try:
        from ament_index_python.packages import PackageNotFoundError, get_package_share_directory

        try:
            dirs.append(Path(get_package_share_directory("fer_ros")) / "config")
        except (PackageNotFoundError, OSError, ValueError, LookupError):
            pass
    except ImportError:
        pass
    if SOURCE_CONFIG_DIR not in dirs:
        dirs.append(SOURCE_CONFIG_DIR)
    return dirs


def find_config_file(name: str | Path) -> Path:
    """An existing file: ``name`` itself (absolute, or relative to the working directory), else
    ``<config dir>/name`` for each of :func:`config_dirs`.

    Raises FileNotFoundError listing where it looked.
    """
    path = Path(name).expanduser()
    if path.is_file():
        return path.resolve()
    tried = [path]
    if not path.is_absolute():
        for directory in config_dirs():
            candidate = directory / path
            if candidate.is_file():
                return candidate.resolve()
            tried.append(candidate)
    raise FileNotFoundError(f"config file {str(name)!r} not found (looked at {', '.join(map(str, tried))})")
