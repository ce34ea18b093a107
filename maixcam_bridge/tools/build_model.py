"""`make maixcam-model`: compile fer_ros's expression models for the MaixCAM NPU (cv181x INT8 .cvimodel + .mud).

Runs with the project's venv (it reads the models and data sets with fer_ros) and drives tpu-mlir in its own
Python 3.10 venv (``build_toolchain.sh``). Per model, in ``OUT/<name>/``:

1. ``model_transform``: the ONNX model with MaixPy's converter flags for a gray classifier: the input shape,
   ``--mean`` and ``--scale`` from the model's metadata (input = (pixel - mean) * scale) and ``--pixel_format gray``;
2. ``run_calibration`` on training crops only (a fixed, seeded sample of the model's own training set);
3. ``model_deploy --quantize INT8 --quant_input --processor cv181x`` (the MaixCAM's SG2002);
4. the gate: the cvimodel in tpu-mlir's simulator (``cvi_simulate.py``) against onnxruntime float on the model's
   development set (FER+ Valid or FER2013 PublicTest, never a test split): top-1 agreement must reach
   ``--min-agreement`` (97 %); both accuracies are printed and kept in ``report.json``;
5. the ``.mud`` MaixPy's ``nn.Classifier`` loads (model_type classifier, input_type gray, mean, scale, labels), plus
   the ``fer_ros_*`` keys the device app needs to treat faces as the PC does: the model's alignment template,
   crop scale and calibration temperature, copied from its ONNX metadata. nn.Classifier ignores keys it does
   not know.

Then ``OUT/app/fer_ros_bridge/`` is the app folder ready to install (``maixtool deploy`` / ``maixtool release``),
with the compiled models in ``models/`` and a ``config.json`` that selects the FER+ one. Everything under OUT is
a release artefact: not committed.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[2]
TOOLS = Path(__file__).resolve().parent
APP_SRC = TOOLS.parent
if str(APP_SRC) not in sys.path:
    sys.path.insert(0, str(APP_SRC))

import fer_maix_align  # noqa: E402  (the device app's own .mud reader checks what is written here)

from fer_ros.core.model_metadata import ModelMetadata, load_model_metadata  # noqa: E402
from fer_ros.evaluation.datasets import load_npz  # noqa: E402


@dataclass(frozen=True)
class ModelSpec:
    """A shipped ONNX model and the data it was trained on and is judged on."""

    name: str
    train: str  # npz in the data folder: calibration crops come from here only
    dev: str  # npz in the data folder: the development split the gate and the accuracy use


MODELS = {
    "fer_ros_ferplus": ModelSpec("fer_ros_ferplus", "ferplus_train.npz", "ferplus_valid.npz"),
    "fer_ros_fer2013": ModelSpec("fer_ros_fer2013", "fer2013_train.npz", "fer2013_publictest.npz"),
}
APP_FILES = ("main.py", "fer_maix_protocol.py", "fer_maix_align.py", "app.yaml")
PROCESSOR = "cv181x"


class BuildError(RuntimeError):
    """A step failed, or the compiled model missed the gate."""


def log(message: str) -> None:
    print(message, flush=True)


def run(cmd: list[str], cwd: Path, log_file: Path) -> None:
    """Run a toolchain command in ``cwd``; its output goes to ``log_file``, the tail to the error if it fails.
    The step is named after the log file."""
    started = time.perf_counter()
    with open(log_file, "w") as out:
        proc = subprocess.run(cmd, cwd=cwd, stdout=out, stderr=subprocess.STDOUT)
    if proc.returncode != 0:
        tail = log_file.read_text(errors="replace")[-3000:]
        raise BuildError(f"{log_file.stem} failed ({log_file}):\n{tail}")
    log(f"  {log_file.stem}: {time.perf_counter() - started:.1f} s")


def preprocessing(meta: ModelMetadata) -> tuple[float, float]:
    """MaixPy's (mean, scale) for a gray model whose input is (pixel/255 - mean) / std."""
    if meta.color != "gray" or meta.layout != "NCHW" or meta.output != "logits":
        raise BuildError(
            f"only gray NCHW models with logits are supported, got {meta.color} {meta.layout} {meta.output}"
        )
    return meta.mean[0] * 255.0, 1.0 / (meta.std[0] * 255.0)


def write_mud(path: Path, cvimodel: str, meta: ModelMetadata, mean: float, scale: float) -> None:
    """The .mud (INI) nn.Classifier loads, with fer_ros's alignment keys (see fer_maix_align.read_mud)."""
    template = ",".join(f"{v:.4f}" for v in np.asarray(meta.align_template, dtype=float).reshape(-1))
    lines = [
        "[basic]",
        "type = cvimodel",
        f"model = {cvimodel}",
        "",
        "[extra]",
        "model_type = classifier",
        "input_type = gray",
        f"mean = {mean:.6g}",
        f"scale = {scale:.10g}",
        # nn.Classifier splits labels on "," without stripping spaces: write none
        f"labels = {','.join(meta.labels)}",
        f"fer_ros_name = {meta.info.get('name', path.stem)}",
        f"fer_ros_input_size = {meta.input_size[0]},{meta.input_size[1]}",
        f"fer_ros_align_template = {template}",
        f"fer_ros_crop_scale = {meta.crop_scale:g}",
        f"fer_ros_temperature = {meta.temperature:g}",
        "",
    ]
    path.write_text("\n".join(lines))


def calibration_set(train: Path, out_dir: Path, count: int, seed: int) -> Path:
    """``count`` training crops (seeded sample) as PNG files, and the list file run_calibration reads."""
    images = np.load(train)["images"]
    picked = np.sort(np.random.default_rng(seed).choice(len(images), size=min(count, len(images)), replace=False))
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in picked:
        p = out_dir / f"{i:06d}.png"
        cv2.imwrite(str(p), images[i])
        paths.append(str(p))
    listing = out_dir.parent / "calibration_list.txt"
    listing.write_text("\n".join(paths) + "\n")
    return listing


def onnx_logits(model: Path, images: np.ndarray, meta: ModelMetadata) -> np.ndarray:
    """Float reference: onnxruntime on the crops, normalised as the metadata says, no test-time flip."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    x = ((images.astype(np.float32) / 255.0 - meta.mean[0]) / meta.std[0])[:, None]
    return np.concatenate([session.run(None, {name: x[s : s + 512]})[0] for s in range(0, len(x), 512)])


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def build_model(
    spec: ModelSpec,
    toolchain: Path,
    data: Path,
    out: Path,
    calibration: int,
    eval_limit: int | None,
    min_agreement: float,
) -> dict:
    onnx_path = REPO / "fer_ros" / "models" / f"{spec.name}.onnx"
    meta = load_model_metadata(onnx_path)
    mean, scale = preprocessing(meta)
    width, height = meta.input_size
    work = out / spec.name
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    log(f"{spec.name}: {onnx_path.relative_to(REPO)} -> {work}")
    shutil.copy(onnx_path, work / onnx_path.name)
    tool = toolchain / "bin"
    mlir = f"{spec.name}.mlir"
    run(
        [
            str(tool / "model_transform"),
            "--model_name",
            spec.name,
            "--model_def",
            onnx_path.name,
            "--input_shapes",
            f"[[1,1,{height},{width}]]",
            "--mean",
            f"{mean:.6g}",
            "--scale",
            f"{scale:.10g}",
            "--pixel_format",
            "gray",
            "--mlir",
            mlir,
        ],
        work,
        work / "model_transform.log",
    )
    listing = calibration_set(data / spec.train, work / "calibration", calibration, seed=0)
    table = f"{spec.name}_cali_table"
    run(
        [
            str(tool / "run_calibration"),
            mlir,
            "--data_list",
            str(listing),
            "--input_num",
            str(calibration),
            "-o",
            table,
        ],
        work,
        work / "run_calibration.log",
    )
    cvimodel = f"{spec.name}.cvimodel"
    run(
        [
            str(tool / "model_deploy"),
            "--mlir",
            mlir,
            "--quantize",
            "INT8",
            "--quant_input",
            "--calibration_table",
            table,
            "--processor",
            PROCESSOR,
            "--model",
            cvimodel,
        ],
        work,
        work / "model_deploy.log",
    )

    dev = load_npz(data / spec.dev)
    keep = [i for i, label in enumerate(dev.labels) if label in meta.labels]
    if eval_limit is not None:
        keep = keep[:eval_limit]
    images = dev.images[keep]
    truth = np.array([meta.labels.index(dev.labels[i]) for i in keep])
    np.savez(work / "dev_crops.npz", images=images, mean=np.float32(mean), scale=np.float32(scale))
    run(
        [str(toolchain / "bin" / "python"), str(TOOLS / "cvi_simulate.py"), cvimodel, "dev_crops.npz", "dev_npu.npz"],
        work,
        work / "simulate.log",
    )
    npu = np.load(work / "dev_npu.npz")["outputs"]
    ref = onnx_logits(onnx_path, images, meta)
    if npu.shape != ref.shape:
        raise BuildError(f"simulator output {npu.shape} differs from onnxruntime's {ref.shape}")
    agreement = float((npu.argmax(1) == ref.argmax(1)).mean())
    report = {
        "model": spec.name,
        "processor": PROCESSOR,
        "quantize": "INT8",
        "cvimodel": cvimodel,
        "cvimodel_bytes": (work / cvimodel).stat().st_size,
        "cvimodel_sha256": sha256(work / cvimodel),
        "onnx_sha256": sha256(onnx_path),
        "mean": round(mean, 6),
        "scale": float(f"{scale:.10g}"),
        "labels": list(meta.labels),
        "calibration": {"data": spec.train, "crops": calibration, "seed": 0},
        "dev_set": spec.dev,
        "protocol": dev.protocol,
        "n": int(len(images)),
        "agreement_npu_vs_onnx": round(agreement, 4),
        "accuracy_npu": round(float((npu.argmax(1) == truth).mean()), 4),
        "accuracy_onnx_float": round(float((ref.argmax(1) == truth).mean()), 4),
        "max_abs_logit_difference": round(float(np.abs(npu - ref).max()), 4),
        "min_agreement": min_agreement,
    }
    (work / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    log(
        f"  {spec.dev} ({dev.protocol}, n = {report['n']}): simulator vs onnxruntime top-1 agreement "
        f"{100 * agreement:.1f} %; accuracy NPU simulator {100 * report['accuracy_npu']:.1f} %, "
        f"onnxruntime float {100 * report['accuracy_onnx_float']:.1f} %"
    )
    if agreement < min_agreement:
        raise BuildError(
            f"{spec.name}: simulator agreement {100 * agreement:.1f} % is below the {100 * min_agreement:.0f} % gate"
        )
    release = out / "models"
    release.mkdir(exist_ok=True)
    shutil.copy(work / cvimodel, release / cvimodel)
    write_mud(release / f"{spec.name}.mud", cvimodel, meta, mean, scale)
    fer_maix_align.read_mud(str(release / f"{spec.name}.mud"))  # the app's reader accepts it
    log(f"  -> {release / cvimodel} ({report['cvimodel_bytes'] // 1024} KB) and {release / (spec.name + '.mud')}")
    return report


def bundle_app(out: Path, models: list[str]) -> Path:
    """The app folder with the compiled models inside and a config.json that selects the first model."""
    app = out / "app" / "fer_ros_bridge"
    if app.exists():
        shutil.rmtree(app)
    (app / "models").mkdir(parents=True)
    for name in APP_FILES:
        shutil.copy(APP_SRC / name, app / name)
    for name in models:
        for suffix in (".mud", ".cvimodel"):
            shutil.copy(out / "models" / f"{name}{suffix}", app / "models" / f"{name}{suffix}")
    config = json.loads((APP_SRC / "config.json").read_text())
    config.setdefault("classifier", {})["model"] = f"models/{models[0]}.mud"
    (app / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    return app


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=REPO / "build" / "maixcam")
    parser.add_argument("--toolchain", type=Path, default=None, help="tpu-mlir venv (default OUT/tpu-mlir-venv)")
    parser.add_argument("--python310", default="", help="Python 3.10 for the toolchain venv (default: found)")
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--model", action="append", choices=sorted(MODELS), help="default: all")
    parser.add_argument("--calibration", type=int, default=300, help="training crops for calibration")
    parser.add_argument("--eval-limit", type=int, default=None, help="first N dev crops only (tests)")
    parser.add_argument("--min-agreement", type=float, default=0.97)
    parser.add_argument("--no-app", action="store_true", help="do not assemble OUT/app")
    args = parser.parse_args(argv)
    out = args.out.resolve()
    toolchain = (args.toolchain or out / "tpu-mlir-venv").resolve()
    names = args.model or ["fer_ros_ferplus", "fer_ros_fer2013"]
    out.mkdir(parents=True, exist_ok=True)
    subprocess.run(["bash", str(TOOLS / "build_toolchain.sh"), str(toolchain), args.python310], check=True)
    reports = []
    try:
        for name in names:
            reports.append(
                build_model(
                    MODELS[name],
                    toolchain,
                    args.data.resolve(),
                    out,
                    args.calibration,
                    args.eval_limit,
                    args.min_agreement,
                )
            )
    except BuildError as exc:
        print(f"make maixcam-model: {exc}", file=sys.stderr)
        return 1
    if not args.no_app:
        app = bundle_app(out, names)
        log(f"app with the compiled models: {app} (install: see maixcam_bridge/README.md)")
    (out / "summary.json").write_text(json.dumps(reports, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
