"""Node parameters declared from one table per node: name, default, description, range, run-time changeable.

Each node module keeps its table in ``PARAMETERS`` so that tests, the README and ``fer-ros run`` read the same
definitions the node declares.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from fer_ros.core.knobs import check_value, knobs
from fer_ros.core.pipeline import PipelineConfig


@dataclass(frozen=True)
class ParamSpec:
    """One node parameter.

    ``range`` is (min, max), inclusive, for int and float parameters; ``choices`` the allowed strings;
    ``runtime`` False makes the parameter read-only once the node has started.
    """

    name: str
    default: Any
    description: str
    range: tuple[float, float] | None = None
    choices: tuple[str, ...] | None = None
    runtime: bool = False

    def check(self, value: Any) -> str | None:
        """Why ``value`` is not acceptable, or None when it is (type, range and choices)."""
        return check_value(self.name, self.default, value, self.range, self.choices)


def knob_parameters(config_cls: type, names: Iterable[str] | None = None) -> tuple[ParamSpec, ...]:
    """The parameters of a config dataclass's knobs (all, or those named), in declaration order."""
    wanted = None if names is None else set(names)
    return tuple(
        ParamSpec(f.name, k.to_param(f.default), k.description, k.range, k.choices, k.runtime)
        for f, k in knobs(config_cls)
        if wanted is None or f.name in wanted
    )


def knob_values(config_cls: type, values: dict[str, Any]) -> dict[str, Any]:
    """The values of ``config_cls``'s knobs among parameter values, converted to their config form."""
    return {f.name: k.from_param(values[f.name]) for f, k in knobs(config_cls) if f.name in values}


# The knobs of core.smoothing.ExpressionSmoother, declared alike by every node that smooths scores.
SMOOTHING_PARAMETERS = knob_parameters(PipelineConfig, ("smoothing_time_constant_s", "hysteresis_margin"))


def descriptor(spec: ParamSpec):
    """The rcl_interfaces/ParameterDescriptor of a spec (description, range, constraints, read-only)."""
    from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor

    text = spec.description + ("" if spec.runtime else " (read at start-up)")
    result = ParameterDescriptor(description=text, read_only=not spec.runtime)
    if spec.range is not None:
        low, high = spec.range
        if isinstance(spec.default, float):
            result.floating_point_range = [
                FloatingPointRange(from_value=float(low), to_value=float(high), step=0.0)
            ]
        else:
            result.integer_range = [IntegerRange(from_value=int(low), to_value=int(high), step=1)]
    if spec.choices is not None:
        result.additional_constraints = "one of: " + ", ".join(spec.choices)
    return result


def declare(node, specs: Sequence[ParamSpec]) -> dict[str, Any]:
    """Declare every parameter on ``node``; returns the values (overrides applied, choices checked)."""
    values = {}
    for spec in specs:
        value = node.declare_parameter(spec.name, spec.default, descriptor(spec)).value
        problem = spec.check(value)
        if problem:
            raise ValueError(f"parameter {problem}")
        values[spec.name] = float(value) if isinstance(spec.default, float) else value
    return values


def spec_table(specs: Iterable[ParamSpec]) -> dict[str, ParamSpec]:
    """Specs by name."""
    return {spec.name: spec for spec in specs}


def check_changes(specs: dict[str, ParamSpec], parameters) -> tuple[dict[str, Any], str | None]:
    """Validate a set-parameters request: (new values by name, None) or ({}, reason for refusing all)."""
    changes = {}
    for parameter in parameters:
        spec = specs.get(parameter.name)
        if spec is None:
            continue  # e.g. use_sim_time, handled by rclpy
        if not spec.runtime:
            return {}, f"{spec.name} is read only at run time; restart the node to change it"
        problem = spec.check(parameter.value)
        if problem:
            return {}, problem
        changes[spec.name] = float(parameter.value) if isinstance(spec.default, float) else parameter.value
    return changes, None
