"""The training code: targets, augmentation, a few optimisation steps, and ONNX export parity."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="training extra not installed (make setup-train)")
onnx = pytest.importorskip("onnx")

from fer_ros.core.classifier import ExpressionClassifier  # noqa: E402
from fer_ros.core.labels import FERPLUS_LABELS  # noqa: E402
from fer_ros.training.augment import AugmentConfig, augment  # noqa: E402
from fer_ros.training.data import load_ferplus  # noqa: E402
from fer_ros.training.export import export  # noqa: E402
from fer_ros.training.train import Recipe, build_model  # noqa: E402


@pytest.fixture(scope="module")
def data_dir(shared_dir: Path) -> Path:
    return shared_dir / "data"


def test_ferplus_targets_are_vote_distributions(data_dir: Path) -> None:
    train = load_ferplus(data_dir / "ferplus_train.npz", drop_unlabelled=True)
    assert train.class_names == FERPLUS_LABELS
    assert train.images.shape[1:] == (48, 48) and train.images.dtype == np.uint8
    np.testing.assert_allclose(train.targets.sum(axis=1), 1.0, atol=1e-5)
    assert len(train.images) > 28000  # only images voted mostly unknown / not-a-face are dropped
    assert (train.labels >= 0).mean() > 0.85


def test_augment_keeps_shape_and_range_and_is_seeded() -> None:
    x = torch.rand(16, 1, 48, 48)
    a = augment(x, AugmentConfig(), torch.Generator().manual_seed(1))
    b = augment(x, AugmentConfig(), torch.Generator().manual_seed(1))
    assert a.shape == x.shape and float(a.min()) >= 0 and float(a.max()) <= 1
    assert torch.equal(a, b)
    assert not torch.allclose(a, x)


def test_a_few_steps_reduce_the_loss(data_dir: Path) -> None:
    torch.manual_seed(0)
    recipe = Recipe()
    train = load_ferplus(data_dir / "ferplus_valid.npz", drop_unlabelled=True)
    model = build_model(recipe, len(train.class_names))
    x = (torch.from_numpy(train.images[:64]).float().div(255).unsqueeze(1) - recipe.mean) / recipe.std
    y = torch.from_numpy(train.targets[:64])
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)

    def loss() -> torch.Tensor:
        return -(y * torch.log_softmax(model(x), dim=1)).sum(dim=1).mean()

    first = float(loss())
    for _ in range(15):
        optimizer.zero_grad()
        value = loss()
        value.backward()
        optimizer.step()
    assert float(loss()) < first * 0.8


def test_export_matches_pytorch_and_runs_in_the_classifier(tmp_path: Path) -> None:
    recipe = Recipe()
    model = build_model(recipe, len(FERPLUS_LABELS)).eval()
    checkpoint = tmp_path / "best.pt"
    torch.save({"model": model.state_dict(), "recipe": recipe.__dict__ | {"augment": {}},
                "metrics": {"accuracy": 0.0}, "class_names": FERPLUS_LABELS}, checkpoint)
    template = tmp_path / "template.json"
    points = [[0.31, 0.38], [0.67, 0.38], [0.49, 0.59], [0.35, 0.74], [0.65, 0.74]]
    template.write_text(json.dumps({"align_template": points}))
    report = export(checkpoint, template, tmp_path / "model.onnx", "test_model")
    assert report["max_abs_diff"] < 1e-4
    assert report["argmax_agreement"] == 1.0

    classifier = ExpressionClassifier(tmp_path / "model.onnx")
    assert classifier.labels == FERPLUS_LABELS
    crops = np.random.default_rng(0).integers(0, 255, (3, 48, 48), dtype=np.uint8)
    x = (torch.from_numpy(crops).float().div(255).unsqueeze(1) - recipe.mean) / recipe.std
    expected = torch.softmax(model(x), dim=1).detach().numpy()
    np.testing.assert_allclose(classifier.predict(crops), expected, atol=1e-5)


def test_train_writes_checkpoints_and_resumes(tmp_path: Path, data_dir: Path) -> None:
    from fer_ros.training.train import train

    for name in ("ferplus_train", "ferplus_valid"):
        data = np.load(data_dir / f"{name}.npz")
        np.savez(tmp_path / f"{name}.npz", images=data["images"][:96], votes=data["votes"][:96])
    recipe = Recipe(data_dir=str(tmp_path), epochs=2, batch_size=32, threads=1)
    out = tmp_path / "run"
    first = train(recipe, out, resume=False)
    assert len(first["history"]) == 2
    assert {p.name for p in out.iterdir()} >= {"recipe.json", "last.pt", "best.pt", "summary.json"}
    saved = torch.load(out / "last.pt", weights_only=False)
    assert saved["state"]["epoch"] == 2

    resumed = train(recipe, out, resume=True)  # nothing left to do: state comes back from last.pt
    assert resumed["history"] == first["history"]


def test_quantize_keeps_metadata_and_accuracy(tmp_path: Path, data_dir: Path) -> None:
    from fer_ros.core.pipeline import SHIPPED_FLOAT_MODEL
    from fer_ros.training.quantize import compare, quantize

    out = tmp_path / "int8.onnx"
    quantize(SHIPPED_FLOAT_MODEL, out, data_dir / "ferplus_train.npz", samples=256)
    int8 = ExpressionClassifier(out)
    assert int8.labels == FERPLUS_LABELS
    float_template = ExpressionClassifier(SHIPPED_FLOAT_MODEL).metadata.align_template
    np.testing.assert_array_equal(int8.metadata.align_template, float_template)
    assert any(node.op_type == "QuantizeLinear" for node in onnx.load(str(out)).graph.node)
    valid = tmp_path / "valid.npz"
    data = np.load(data_dir / "ferplus_valid.npz")
    np.savez(valid, images=data["images"][:600], votes=data["votes"][:600])
    report = compare(SHIPPED_FLOAT_MODEL, out, valid)
    assert report["bytes"]["int8"] < report["bytes"]["float"] / 2
    assert report["argmax_agreement"] > 0.95
    assert abs(report["accuracy_drop"]) < 0.02


def test_fine_tuning_starts_from_a_checkpoint_except_a_differing_head(tmp_path: Path) -> None:
    from fer_ros.training.train import load_initial_weights

    recipe = Recipe()
    source = build_model(recipe, len(FERPLUS_LABELS))
    torch.save({"model": source.state_dict()}, tmp_path / "best.pt")
    target = build_model(recipe, 7)
    skipped = load_initial_weights(target, tmp_path / "best.pt")
    assert skipped == ["head.3.bias", "head.3.weight"]
    for name, value in target.state_dict().items():
        if name not in skipped:
            assert torch.equal(value, source.state_dict()[name]), name
