"""Knobs: a config dataclass field declared once with its default, description, range and run-time flag.

``knob(...)`` is used as a dataclass field default; the ROS parameters (``ros/parameters.py``), the CLI options
(``cli/pipeline_options.py``), ``config/fer.yaml`` and the README table are generated from, or tested against, it.
A knob's *parameter value* is its config value in a form a ROS parameter can hold (``param_values`` maps those
that differ, e.g. ``"auto"`` -> None).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import MISSING, Field, dataclass, field, fields
from typing import Any

KNOB = "fer_ros.knob"


def check_value(name: str, default: Any, value: Any, range_=None, choices=None) -> str | None:
    """Why ``value`` is not acceptable for a setting whose default is ``default``, or None when it is."""
    kind = type(default)
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if type(value) is not kind:
        return f"{name} must be a {kind.__name__}, got {type(value).__name__} {value!r}"
    if range_ is not None and not range_[0] <= value <= range_[1]:
        return f"{name} must be in [{range_[0]}, {range_[1]}], got {value!r}"
    if choices is not None and value not in choices:
        return f"{name} must be one of {', '.join(choices)}; got {value!r}"
    return None


@dataclass(frozen=True)
class Knob:
    """One tunable: its text, limits, whether it may change at run time, and where ``configure`` applies it.

    ``target`` is ("stage attribute", "attribute of that stage") for run-time knobs the engine applies by
    itself; ``cli`` the command-line option of the core subcommands, if any.
    """

    description: str
    range: tuple[float, float] | None = None
    choices: tuple[str, ...] | None = None
    runtime: bool = False
    param_values: tuple[tuple[Any, Any], ...] = ()  # (parameter value, config value) pairs that differ
    target: tuple[str, str] | None = None
    cli: str | None = None
    metavar: str | None = None

    def to_param(self, value: Any) -> Any:
        """The parameter form of a config value."""
        for param, config in self.param_values:
            if config is value:
                return param
        return value

    def from_param(self, value: Any) -> Any:
        """The config form of a parameter value."""
        for param, config in self.param_values:
            if type(param) is type(value) and param == value:
                return config
        return value

    def check(self, name: str, default: Any, value: Any) -> str | None:
        """Why the parameter value ``value`` is not acceptable, or None."""
        return check_value(name, self.to_param(default), value, self.range, self.choices)


def knob(default: Any, description: str, **options: Any) -> Any:
    """A dataclass field with ``default`` and its Knob in the metadata."""
    return field(default=default, metadata={KNOB: Knob(description, **options)})


def knobs(cls: type) -> Iterator[tuple[Field, Knob]]:
    """(field, knob) of every knob field of a dataclass, in declaration order."""
    for f in fields(cls):
        if KNOB in f.metadata and f.default is not MISSING:
            yield f, f.metadata[KNOB]
