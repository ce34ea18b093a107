"""The edge where registry names become files: build an ExpressionPipeline whose config names models by
registry name (``yunet_s_dynamic``, ``fer_mini_xception_64``) or path. ``core/`` itself takes files only."""

from __future__ import annotations

from typing import Any

from fer_ros.core.pipeline import ExpressionPipeline, PipelineConfig
from fer_ros.models.registry import resolve_model


def build_pipeline(config: PipelineConfig | None = None, **stages: Any) -> ExpressionPipeline:
    """ExpressionPipeline(config, **stages) with the config's model names looked up in the model cache."""
    return ExpressionPipeline(config, resolve=resolve_model, **stages)
