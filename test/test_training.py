"""The training code: targets, augmentation, a few optimisation steps, and ONNX export parity."""

from __future__ import annotations

import json
from dataclasses import asdict
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
    torch.save({"model": model.state_dict(), "recipe": asdict(recipe),
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


def _tiny_ferplus(data_dir: Path, out: Path, n: int = 96) -> Path:
    for name in ("ferplus_train", "ferplus_valid"):
        data = np.load(data_dir / f"{name}.npz")
        np.savez(out / f"{name}.npz", images=data["images"][:n], votes=data["votes"][:n])
    return out


def _onnx_logits(path: Path, crops: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    x = ((crops.astype(np.float32) / 255 - 0.5) / 0.25)[:, None]
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"input": x})[0]


def test_rebuilding_the_shipped_onnx_model_reproduces_its_logits(data_dir: Path) -> None:
    import onnxruntime as ort

    from fer_ros.core.pipeline import SHIPPED_FLOAT_MODEL
    from fer_ros.training.from_onnx import architecture_of, load_onnx_weights
    from fer_ros.training.train import to_input

    widths, blocks, classes = architecture_of(SHIPPED_FLOAT_MODEL)
    assert (widths, blocks, classes) == (Recipe().widths, Recipe().blocks, len(FERPLUS_LABELS))
    recipe = Recipe()
    images = np.load(data_dir / "ferplus_valid.npz")["images"][:256]
    x = (to_input(images, recipe) - recipe.mean) / recipe.std
    model = build_model(recipe, classes)
    load_onnx_weights(model, SHIPPED_FLOAT_MODEL, x)
    with torch.no_grad():
        ours = model.eval()(x).numpy()
    session = ort.InferenceSession(str(SHIPPED_FLOAT_MODEL), providers=["CPUExecutionProvider"])
    np.testing.assert_allclose(ours, session.run(None, {"input": x.numpy()})[0], atol=1e-4)


def test_mix_batch_mixes_targets_in_the_same_proportion() -> None:
    from fer_ros.training.augment import mix_batch

    gen = torch.Generator().manual_seed(0)
    x = torch.stack([torch.zeros(1, 8, 8), torch.ones(1, 8, 8)])
    y = torch.eye(2)
    unchanged = mix_batch(x, y, 0.0, 0.0, gen)
    assert unchanged[0] is x and unchanged[1] is y
    for mixup, cutmix in ((0.4, 0.0), (0.0, 1.0)):
        mixed_x, mixed_y = mix_batch(x, y, mixup, cutmix, gen)
        # image 0 is all zeros, image 1 all ones: the mean pixel of image 0 is the share taken from image 1
        assert float(mixed_x[0].mean()) == pytest.approx(float(mixed_y[0, 1]), abs=1e-5)
        torch.testing.assert_close(mixed_y.sum(dim=1), torch.ones(2))


def test_teacher_predictions_distillation_and_resume(tmp_path: Path, data_dir: Path) -> None:
    from fer_ros.core.pipeline import SHIPPED_FLOAT_MODEL
    from fer_ros.training.predict import load_predictions, predict_teacher, save_predictions
    from fer_ros.training.train import load_sets, train

    tiny = _tiny_ferplus(data_dir, tmp_path)
    result = predict_teacher(SHIPPED_FLOAT_MODEL, "ferplus", tiny, threads=1)
    cache = tmp_path / "teachers" / "shipped.npz"
    save_predictions(result, cache)
    recipe = Recipe(data_dir=str(tiny), epochs=2, batch_size=32, threads=1, teachers=(str(cache),))
    train_set, _ = load_sets(recipe)
    logits, logits_flip = load_predictions(cache, train_set)
    assert logits.shape == train_set.targets.shape and not np.allclose(logits, logits_flip)
    agreement = (logits.argmax(1) == train_set.labels)[train_set.labels >= 0].mean()
    assert agreement > 0.7  # the shipped model was trained on these images

    from fer_ros.evaluation.perturbations import DegradeConfig

    recipe.degrade, recipe.balance_power, recipe.logit_adjust_tau = DegradeConfig(), 0.5, 0.5
    recipe.init_from, recipe.mixup_alpha, recipe.lr = str(SHIPPED_FLOAT_MODEL), 0.2, 1e-4
    first = train(recipe, tmp_path / "student", resume=False)
    assert len(first["history"]) == 2
    assert first["history"][0]["accuracy"] > 0.6  # started from the shipped weights, not from scratch
    saved = json.loads((tmp_path / "student" / "recipe.json").read_text())
    assert saved["teachers"] == [str(cache)] and saved["degrade"]["noise_prob"] > 0
    assert train(Recipe.from_json(json.dumps(saved)), tmp_path / "student", resume=True)["history"] == first["history"]

    from fer_ros.training.train import class_prior

    template = tmp_path / "template.json"
    points = [[0.31, 0.38], [0.67, 0.38], [0.49, 0.59], [0.35, 0.74], [0.65, 0.74]]
    template.write_text(json.dumps({"align_template": points}))
    plain = export(tmp_path / "student" / "last.pt", template, tmp_path / "plain.onnx", "student")
    assert plain["max_abs_diff"] < 1e-4 and plain["metrics"]["epoch"] == 2
    export(tmp_path / "student" / "last.pt", template, tmp_path / "shifted.onnx", "student", prior_shift=0.5)
    crops = train_set.images[:4]
    logits = [_onnx_logits(tmp_path / name, crops) for name in ("plain.onnx", "shifted.onnx")]
    np.testing.assert_allclose(logits[1] - logits[0], np.tile(-0.5 * np.log(class_prior(train_set)), (4, 1)), atol=1e-4)

    other = _tiny_ferplus(data_dir, tmp_path / "other", n=64) if (tmp_path / "other").mkdir() is None else None
    with pytest.raises(ValueError, match="other training images"):
        load_predictions(cache, load_sets(Recipe(data_dir=str(other)))[0])


def test_calibrate_writes_a_temperature_without_touching_the_weights(tmp_path: Path, data_dir: Path) -> None:
    import shutil

    from fer_ros.core.pipeline import SHIPPED_FLOAT_MODEL, SHIPPED_MODEL
    from fer_ros.models.registry import sha256_of
    from fer_ros.training.calibrate import calibrate, dev_logits, update_quantization_source

    valid = tmp_path / "valid.npz"
    data = np.load(data_dir / "ferplus_valid.npz")
    np.savez(valid, images=data["images"][:800], votes=data["votes"][:800])
    model = tmp_path / "float.onnx"
    shutil.copy(SHIPPED_FLOAT_MODEL, model)
    # start from an uncalibrated copy, whatever the shipped file holds
    proto = onnx.load(str(model))
    from fer_ros.training.export import set_metadata_props

    props = {p.key: p.value for p in proto.metadata_props if p.key != "fer_ros.calibration"}
    set_metadata_props(proto, props | {"fer_ros.temperature": "1.0"})
    onnx.save(proto, str(model))
    graph = onnx.load(str(model)).graph.SerializeToString()
    old_sha = sha256_of(model)

    report = calibrate(model, valid)
    assert onnx.load(str(model)).graph.SerializeToString() == graph
    assert 0.3 < report["temperature"] < 1.0  # the uncalibrated model is under-confident
    assert report["calibrated"]["nll"] < report["uncalibrated"]["nll"]
    assert report["calibrated"]["ece"] < report["uncalibrated"]["ece"] / 2

    classifier = ExpressionClassifier(model)
    assert classifier.metadata.temperature == pytest.approx(report["temperature"])
    logits, _ = dev_logits(model, valid)
    from fer_ros.evaluation.datasets import load_npz

    crops = classifier.to_model_crops(load_npz(valid).images[:5])  # the majority-labelled crops dev_logits uses
    expected = torch.softmax(torch.from_numpy(logits[0][:5]) / report["temperature"], dim=1).numpy()
    np.testing.assert_allclose(classifier.predict(crops), expected, atol=1e-5)
    assert json.loads(classifier.metadata.info["calibration"])["temperature"] == report["temperature"]

    int8 = tmp_path / "int8.onnx"
    shutil.copy(SHIPPED_MODEL, int8)
    assert not update_quantization_source(int8, "not-its-source", sha256_of(model))
    proto = onnx.load(str(int8))
    props = {p.key: p.value for p in proto.metadata_props}
    quantization = json.loads(props["fer_ros.quantization"]) | {"source_sha256": old_sha}
    set_metadata_props(proto, props | {"fer_ros.quantization": json.dumps(quantization)})
    onnx.save(proto, str(int8))
    assert update_quantization_source(int8, old_sha, sha256_of(model))
    props = {p.key: p.value for p in onnx.load(str(int8)).metadata_props}
    assert json.loads(props["fer_ros.quantization"])["source_sha256"] == sha256_of(model)


def test_bad_temperature_metadata_is_refused() -> None:
    from fer_ros.core.errors import ModelMetadataError
    from fer_ros.core.model_metadata import ModelMetadata
    from fer_ros.core.pipeline import SHIPPED_FLOAT_MODEL

    props = ExpressionClassifier(SHIPPED_FLOAT_MODEL).metadata.to_props()
    assert ModelMetadata.from_props(props | {"fer_ros.temperature": "0.5"}).temperature == 0.5
    for bad in ("0", "-1", "abc", "100"):
        with pytest.raises(ModelMetadataError, match="temperature"):
            ModelMetadata.from_props(props | {"fer_ros.temperature": bad})
    with pytest.raises(ModelMetadataError, match="temperature"):
        ModelMetadata.from_props(props | {"fer_ros.temperature": "0.5", "fer_ros.output": "probabilities"})


def test_recipe_trains_and_caches_teachers_and_resumes(tmp_path: Path, data_dir: Path) -> None:
    from fer_ros.core.pipeline import SHIPPED_FLOAT_MODEL
    from fer_ros.training.recipe import main as recipe_main
    from fer_ros.training.recipe import parse_teachers

    assert parse_teachers("wide:1, large:3") == [("wide", 1), ("large", 3)]
    for bad in ("huge:1", "wide", "wide:x"):
        with pytest.raises(ValueError):
            parse_teachers(bad)
    tiny = _tiny_ferplus(data_dir, tmp_path)
    argv = [
        "--out", str(tmp_path / "train"), "--data-dir", str(tiny), "--student-init", str(SHIPPED_FLOAT_MODEL),
        "--teachers", "small:5", "--teacher-epochs", "1", "--only-teachers", "--device", "cpu",
    ]
    assert recipe_main(argv) == 0
    teachers = tmp_path / "train" / "teachers"
    caches = sorted(p.name for p in teachers.glob("*.npz"))
    assert caches == ["base.npz", "small_s5.npz"]
    recipe = json.loads((teachers / "small_s5" / "recipe.json").read_text())
    assert recipe["seed"] == 5 and recipe["mixup_alpha"] == 0.2 and recipe["degrade"]["jpeg_prob"] > 0
    stamps = {p: p.stat().st_mtime_ns for p in teachers.glob("*.npz")}
    assert recipe_main(argv) == 0  # everything exists: nothing is redone
    assert {p: p.stat().st_mtime_ns for p in teachers.glob("*.npz")} == stamps
    assert recipe_main(["--out", str(tmp_path / "train"), "--teachers", "small:x"]) == 2
