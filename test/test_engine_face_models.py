"""Stage interfaces: a second per-face model of another task, built here as a tiny ONNX file, plugs into the
pipeline and its output comes back under its task; detectors and models satisfy the named protocols."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from fer_ros.core.classifier import ExpressionClassifier
from fer_ros.core.errors import ModelMetadataError
from fer_ros.core.model_metadata import ModelMetadata
from fer_ros.core.pipeline import SHIPPED_MODEL, ExpressionPipeline, PipelineConfig
from fer_ros.core.stages import FaceDetector, FaceModel
from fer_ros.core.types import Detection
from fer_ros.models.build import build_pipeline

SIZE = 24


def _brightness_model(path: Path, template: np.ndarray) -> Path:
    """A per-face model of task "brightness": logits (-mean, +mean) of the normalised crop."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    weight = numpy_helper.from_array(np.array([[-1.0, 1.0]] * 3, dtype=np.float32) * 4.0, "w")
    graph = helper.make_graph(
        [
            helper.make_node("GlobalAveragePool", ["x"], ["pooled"]),
            helper.make_node("Flatten", ["pooled"], ["flat"]),
            helper.make_node("MatMul", ["flat", "w"], ["logits"]),
        ],
        "brightness",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 3, SIZE, SIZE])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["n", 2])],
        [weight],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    props = {
        "fer_ros.task": "brightness",
        "fer_ros.labels": json.dumps(["dark", "bright"]),
        "fer_ros.input_size": json.dumps([SIZE, SIZE]),
        "fer_ros.layout": "NCHW",
        "fer_ros.color": "bgr",
        "fer_ros.mean": "[0.5]",
        "fer_ros.std": "[0.25]",
        "fer_ros.output": "logits",
        "fer_ros.align_template": json.dumps(template.tolist()),
    }
    onnx.helper.set_model_props(model, props)
    onnx.checker.check_model(model)
    onnx.save(model, path)
    return path


@pytest.fixture(scope="module")
def pipeline_with_two_models(tmp_path_factory) -> ExpressionPipeline:
    expression = ExpressionClassifier(SHIPPED_MODEL)
    path = _brightness_model(tmp_path_factory.mktemp("model") / "brightness.onnx", expression.metadata.align_template)
    brightness = ExpressionClassifier(path)
    return build_pipeline(
        PipelineConfig(classifier_model=str(SHIPPED_MODEL)), classifier=expression, face_models=[brightness]
    )


def test_a_second_task_is_read_from_the_frame_result(
    pipeline_with_two_models: ExpressionPipeline, astronaut: np.ndarray
) -> None:
    result = pipeline_with_two_models.process(astronaut, 0.0)
    (face,) = result.faces
    assert face.expression == "happy"  # the expression fields are as before
    assert result.task_labels == {"brightness": ("dark", "bright")}
    scores = face.outputs["brightness"]
    assert scores.shape == (2,) and abs(float(scores.sum()) - 1.0) < 1e-5
    dark = pipeline_with_two_models.process((astronaut * 0.2).astype(np.uint8), 1.0).faces
    assert len(dark) == 1 and dark[0].outputs["brightness"][1] < scores[1]  # the darker face reads darker
    record = json.loads(json.dumps(result.to_dict()))
    assert record["task_labels"] == {"brightness": ["dark", "bright"]}
    assert len(record["faces"][0]["outputs"]["brightness"]) == 2


def test_the_pipeline_refuses_ambiguous_tasks(pipeline_with_two_models: ExpressionPipeline) -> None:
    (brightness,) = pipeline_with_two_models.face_models
    expression = pipeline_with_two_models.classifier
    with pytest.raises(ValueError, match="same task"):
        ExpressionPipeline(detector=pipeline_with_two_models.detector, classifier=expression, face_models=[expression])
    with pytest.raises(ValueError, match="face_models"):
        ExpressionPipeline(detector=pipeline_with_two_models.detector, classifier=brightness)


def test_stages_satisfy_the_named_protocols(pipeline_with_two_models: ExpressionPipeline) -> None:
    assert isinstance(pipeline_with_two_models.detector, FaceDetector)
    assert isinstance(pipeline_with_two_models.classifier, FaceModel)
    assert all(isinstance(m, FaceModel) for m in pipeline_with_two_models.face_models)


class _WholeImageDetector:
    """A detector of another family: the whole image is one face (no keypoints)."""

    def detect(self, image_bgr: np.ndarray) -> list[Detection]:
        height, width = image_bgr.shape[:2]
        return [Detection((0.0, 0.0, float(width), float(height)), 1.0, None)]


def test_any_face_detector_plugs_in(pipeline_with_two_models: ExpressionPipeline, astronaut: np.ndarray) -> None:
    pipeline = ExpressionPipeline(detector=_WholeImageDetector(), classifier=pipeline_with_two_models.classifier)
    (face,) = pipeline.process(astronaut, 0.0).faces
    assert face.box == (0.0, 0.0, 512.0, 512.0) and not face.aligned_with_keypoints


def test_metadata_is_keyed_by_task(pipeline_with_two_models: ExpressionPipeline) -> None:
    meta = pipeline_with_two_models.face_models[0].metadata
    assert meta.task == "brightness" and meta.labels == ("dark", "bright")
    props = meta.to_props()
    assert ModelMetadata.from_props(props).task == "brightness"
    with pytest.raises(ModelMetadataError, match="task must be"):
        ModelMetadata.from_props({**props, "fer_ros.task": "Not A Task!"})
    with pytest.raises(ModelMetadataError, match="labels"):  # expression labels keep their vocabulary
        ModelMetadata.from_props({**props, "fer_ros.task": "expression"})


def test_core_imports_nothing_above_it() -> None:
    import ast

    core = Path(__file__).resolve().parent.parent / "fer_ros" / "core"
    for path in core.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                assert not name.startswith("fer_ros.") or name.startswith("fer_ros.core"), (path.name, name)
