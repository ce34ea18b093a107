"""The generated message classes: import, constants, field types, serialization (no DDS needed)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from rclpy.serialization import deserialize_message, serialize_message

from fer_ros.msg import ExpressionCommand, FaceExpression, FaceExpressionArray
from fer_ros.testing.sample_messages import LABELS, message_to_data, sample_face_expression_array


def test_label_constants_are_the_canonical_ros4hri_spellings() -> None:
    names = ("NEUTRAL", "HAPPY", "SAD", "ANGRY", "SURPRISED", "DISGUSTED", "SCARED", "CONTEMPT")
    constants = {name: getattr(FaceExpression, name) for name in names}
    assert constants == {name: name.lower() for name in constants}
    assert set(constants.values()) == set(LABELS)


def test_fields_and_types() -> None:
    assert FaceExpressionArray.get_fields_and_field_types() == {
        "header": "std_msgs/Header",
        "source": "string",
        "image_width": "uint32",
        "image_height": "uint32",
        "labels": "sequence<string>",
        "faces": "sequence<fer_ros/FaceExpression>",
    }
    assert FaceExpression.get_fields_and_field_types() == {
        "face_id": "string",
        "x": "float",
        "y": "float",
        "width": "float",
        "height": "float",
        "detection_confidence": "float",
        "keypoints": "float[10]",
        "expression": "string",
        "confidence": "float",
        "scores": "sequence<float>",
        "raw_scores": "sequence<float>",
    }
    assert ExpressionCommand.get_fields_and_field_types() == {
        "header": "std_msgs/Header",
        "expression": "string",
        "intensity": "float",
        "face_id": "string",
        "source_confidence": "float",
    }


def test_keypoints_are_a_fixed_array_of_ten() -> None:
    face = FaceExpression(check_fields=True)
    assert len(face.keypoints) == 10
    with pytest.raises(AssertionError):
        face.keypoints = [1.0] * 9


def test_serialization_round_trip_keeps_every_field() -> None:
    msg = sample_face_expression_array()
    back = deserialize_message(serialize_message(msg), FaceExpressionArray)
    assert back == msg
    assert message_to_data(back) == message_to_data(msg)
    assert message_to_data(back)["faces"][1]["keypoints"][4:6] == [-1.0, -1.0]


def test_importable_with_an_empty_environment() -> None:
    """``.venv/bin/python -c 'from fer_ros.msg import ...'`` works with no ROS variables set (env -i)."""
    code = "import fer_ros\nfrom fer_ros.msg import FaceExpressionArray\nprint(fer_ros.__file__)"
    result = subprocess.run([sys.executable, "-c", code], env={}, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    repo_package = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "fer_ros")
    assert result.stdout.strip() == os.path.join(repo_package, "__init__.py")
