"""Exceptions raised by fer_ros with actionable messages (no ROS import)."""

from __future__ import annotations


class FerRosError(Exception):
    """Base class of every fer_ros error."""


class ModelNotFoundError(FerRosError, FileNotFoundError):
    """A model path or registry name could not be resolved to a file."""


class ModelMetadataError(FerRosError, ValueError):
    """A model's metadata (ONNX metadata_props or sidecar JSON) is missing or invalid."""


class ImageReadError(FerRosError, OSError):
    """An image file cannot be read or decoded (missing, unreadable, truncated, not an image)."""


class InvalidImageError(FerRosError, ValueError):
    """An in-memory image has an unusable shape or dtype (empty, wrong number of channels...)."""


class ModelChecksumError(FerRosError, ValueError):
    """A model file's sha256 differs from the registry's: corrupted, truncated, or a different version."""
