"""The pipeline's knobs are declared once (PipelineConfig, HealthLimits): the node, the CLI, config/fer.yaml and
the README follow that declaration; ``configure`` applies run-time changes; time going back restarts tracking."""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import numpy as np
import pytest

from fer_ros.core.health import HealthLimits
from fer_ros.core.knobs import knobs
from fer_ros.core.pipeline import SHIPPED_MODEL, ExpressionPipeline, PipelineConfig
from fer_ros.models.build import build_pipeline

REPO = Path(__file__).resolve().parent.parent
DECLARED = [(f, k) for cls in (PipelineConfig, HealthLimits) for f, k in knobs(cls)]


def _readme_rows() -> dict[str, list[str]]:
    text = (REPO / "README.md").read_text()
    section = text[text.index("`expression_node`\n\n| parameter") :]
    section = section[: section.index("\n\n", section.index("|---"))]
    rows = {}
    for line in section.splitlines()[2:]:
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        rows[cells[0].strip("`")] = cells[1:]
    return rows


def _yaml_lines() -> dict[str, str]:
    text = (REPO / "config" / "fer.yaml").read_text()
    section = text[text.index("/**/expression_node:") :]
    section = section[: section.index("\n\n")]
    return {m.group(1): m.group(2) for m in re.finditer(r"^\s+(\w+): (.*)$", section, re.MULTILINE)}


def test_the_readme_table_follows_the_declaration() -> None:
    rows = _readme_rows()
    for f, k in DECLARED:
        default, limits, runtime, meaning = rows[f.name]
        assert default == f"`{json.dumps(k.to_param(f.default))}`", f.name
        if k.range is not None:
            assert limits == f"{k.range[0]:g}..{k.range[1]:g}", f.name
        else:
            assert limits == ("/".join(k.choices) if k.choices else ""), f.name
        assert runtime == ("yes" if k.runtime else ""), f.name
        assert meaning == k.description, f.name


def test_fer_yaml_follows_the_declaration() -> None:
    import yaml

    lines = _yaml_lines()
    for f, k in DECLARED:
        value, _, comment = lines[f.name].partition("#")
        assert yaml.safe_load(value) == k.to_param(f.default), f.name
        assert ("[run time]" in comment) == k.runtime, f.name


def test_the_default_detector_is_written_once() -> None:
    hits = [
        path
        for path in (REPO / "fer_ros").rglob("*.py")
        if '"yunet_s_dynamic"' in path.read_text()
    ]
    assert [p.relative_to(REPO).as_posix() for p in hits] == ["fer_ros/core/pipeline.py"]


def test_cli_options_come_from_the_knobs() -> None:
    from fer_ros.cli.pipeline_options import add_pipeline_options, pipeline_config

    parser = argparse.ArgumentParser()
    add_pipeline_options(parser)
    assert pipeline_config(parser.parse_args([])) == PipelineConfig()
    args = parser.parse_args(["--score-threshold", "0.5", "--model", "", "--threads", "2", "--no-tta"])
    config = pipeline_config(args)
    assert (config.detection_score_threshold, config.classifier_model, config.num_threads) == (0.5, None, 2)
    assert config.tta_flip is False and args.threads == 2
    with pytest.raises(SystemExit):
        parser.parse_args(["--detector-backend", "tensorrt"])


@pytest.fixture(scope="module")
def pipeline() -> ExpressionPipeline:
    return build_pipeline(PipelineConfig(classifier_model=str(SHIPPED_MODEL)))


def test_configure_applies_run_time_changes_to_the_stages(pipeline: ExpressionPipeline) -> None:
    pipeline.configure({"detection_score_threshold": 0.7, "track_confirm_hits": 3, "hysteresis_margin": 0})
    assert pipeline.detector.score_threshold == 0.7 and pipeline.config.detection_score_threshold == 0.7
    assert pipeline.tracker.confirm_hits == 3 and pipeline.smoother.hysteresis_margin == 0.0
    pipeline.configure({"tta_flip": not pipeline.classifier.metadata.tta_flip})
    assert pipeline.classifier.tta_flip != pipeline.classifier.metadata.tta_flip
    pipeline.configure({"tta_flip": None})  # auto: as the model's metadata says
    assert pipeline.classifier.tta_flip == pipeline.classifier.metadata.tta_flip
    assert pipeline.config.tta_flip is None
    for bad, words in [
        ({"max_faces": 5, "nms_iou_threshold": 2.0}, "must be in [0.0, 1.0]"),
        ({"num_threads": 2}, "read only"),
        ({"no_such_knob": 1}, "unknown"),
        ({"max_faces": "many"}, "must be a int"),
    ]:
        with pytest.raises(ValueError, match=re.escape(words)):
            pipeline.configure(bad)
    assert pipeline.detector.max_faces == 10 and pipeline.detector.nms_threshold == 0.3  # nothing applied
    pipeline.configure({"detection_score_threshold": 0.6, "track_confirm_hits": 2, "hysteresis_margin": 0.1})


def test_time_going_back_restarts_tracking(pipeline: ExpressionPipeline, astronaut: np.ndarray) -> None:
    pipeline.reset()
    for t in (100.0, 100.1):
        (face,) = pipeline.process(astronaut, t).faces
    assert face.track_confirmed
    (same,) = pipeline.process(astronaut, 99.5).faces  # a little back (jitter): the track goes on
    assert same.track_confirmed and same.face_id == face.face_id
    (fresh,) = pipeline.process(astronaut, 3.0).faces  # a recording looped: a new track
    assert not fresh.track_confirmed and fresh.face_id != face.face_id
