"""Latency benchmark of the pipeline on 640x480 frames with 1, 5 and 10 real faces, against the peer classifier."""

from __future__ import annotations

import os
import platform
import time
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort
from tqdm import tqdm

from fer_ros.core.aligner import SimilarityAligner
from fer_ros.core.classifier import ExpressionClassifier
from fer_ros.core.pipeline import PEER_MODEL_NAME, PipelineConfig
from fer_ros.evaluation.media import DEFAULT_FACE_IMAGES, compose_frame, face_crops, shared_dir
from fer_ros.models.build import build_pipeline
from fer_ros.models.registry import resolve_model

FACE_COUNTS = (1, 5, 10)
STAGES = ("detect", "align", "classify", "track")
TARGETS_P50_MS = {"faces_1": 5.0, "faces_5": 9.0}


def _stats(values_ms: list[float]) -> dict:
    a = np.asarray(values_ms)
    return {
        "p50_ms": round(float(np.percentile(a, 50)), 3),
        "p99_ms": round(float(np.percentile(a, 99)), 3),
        "mean_ms": round(float(a.mean()), 3),
    }


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def time_classifier(
    classifier: ExpressionClassifier, frame: np.ndarray, detections: list, iterations: int
) -> dict:
    """p50/p99 of one batched classify call on the aligned crops of ``detections``."""
    crops, _ = SimilarityAligner.from_metadata(classifier.metadata).align_many(frame, detections)
    crops = crops.copy()
    for _ in range(5):
        classifier.predict(crops)
    times = []
    for _ in range(iterations):
        t = time.perf_counter()
        classifier.predict(crops)
        times.append((time.perf_counter() - t) * 1e3)
    return _stats(times)


def run_benchmark(
    config: PipelineConfig | None = None,
    iterations: int = 200,
    threads: tuple[int, ...] = (1, 2),
    face_images: list[Path] | None = None,
    peer_model: str = PEER_MODEL_NAME,
    progress: bool = True,
) -> dict:
    """Per-stage and end-to-end latency for each thread count and face count; peer vs our classify step."""
    config = config or PipelineConfig()
    images = face_images or [shared_dir() / p for p in DEFAULT_FACE_IMAGES]
    saved_cv_threads = cv2.getNumThreads()
    result: dict = {
        "iterations": iterations,
        "frame_size": [640, 480],
        "machine": {
            "cpu": _cpu_name(),
            "cores": os.cpu_count(),
            "python": platform.python_version(),
            "onnxruntime": ort.__version__,
            "opencv": cv2.__version__,
            "numpy": np.__version__,
        },
        "end_to_end_by_threads": {},
        "stages_by_threads": {},
        "detected_faces": {},
    }
    try:
        for n_threads in threads:
            cv2.setNumThreads(n_threads)
            pipeline = build_pipeline(replace(config, num_threads=n_threads, keep_crops=False))
            if n_threads == threads[0]:
                crops = face_crops(pipeline.detector, images)
                if not crops:
                    raise RuntimeError("no faces found in the benchmark images")
                frames = {f"faces_{n}": compose_frame(crops, n) for n in FACE_COUNTS}
                result["config"] = pipeline.config.to_dict()
                result["classifier_model"] = str(pipeline.classifier.model_path)
                result["labels"] = list(pipeline.labels)
            end_to_end, stages = {}, {}
            for key, frame in frames.items():
                pipeline.reset()
                for i in range(10):
                    pipeline.process(frame, i / 30.0)
                totals, per_stage = [], {s: [] for s in STAGES}
                desc = f"bench {key} threads={n_threads}"
                for i in tqdm(range(iterations), desc=desc, disable=not progress or None, leave=False):
                    t = time.perf_counter()
                    out = pipeline.process(frame, 1.0 + i / 30.0)
                    totals.append((time.perf_counter() - t) * 1e3)
                    for s in STAGES:
                        per_stage[s].append(out.timings_ms[s])
                end_to_end[key] = _stats(totals)
                end_to_end[key]["fps"] = round(1000.0 / end_to_end[key]["mean_ms"], 1)
                stages[key] = {s: _stats(v) for s, v in per_stage.items()}
                result["detected_faces"][key] = len(out.faces)
            result["end_to_end_by_threads"][str(n_threads)] = end_to_end
            result["stages_by_threads"][str(n_threads)] = stages
            if n_threads == threads[0]:
                ours = pipeline.classifier
                peer = ExpressionClassifier(resolve_model(peer_model), num_threads=n_threads, tta_flip=False)
                classify, peer_classify = {}, {}
                for key, frame in frames.items():
                    detections = pipeline.detector.detect(frame)
                    classify[key] = time_classifier(ours, frame, detections, iterations)
                    peer_classify[key] = time_classifier(peer, frame, detections, iterations)
        result["threads"] = list(threads)
        result["end_to_end"] = result["end_to_end_by_threads"][str(threads[0])]
        result["classify_ms"] = {k: v["p50_ms"] for k, v in classify.items()}
        result["peer_classify_ms"] = {k: v["p50_ms"] for k, v in peer_classify.items()}
        result["classify_detail"] = {
            "ours": classify,
            "peer": peer_classify,
            "peer_model": str(resolve_model(peer_model)),
        }
        result["classify_ratio_vs_peer"] = {
            k: round(classify[k]["p50_ms"] / max(peer_classify[k]["p50_ms"], 1e-9), 3) for k in classify
        }
        result["classify_per_face_ms"] = {
            "ours": round(classify["faces_10"]["p50_ms"] / 10, 3),
            "peer": round(peer_classify["faces_10"]["p50_ms"] / 10, 3),
        }
        result["targets"] = {
            key: {
                "p50_ms_max": limit,
                "p50_ms": result["end_to_end"][key]["p50_ms"],
                "met": result["end_to_end"][key]["p50_ms"] <= limit,
            }
            for key, limit in TARGETS_P50_MS.items()
        }
    finally:
        cv2.setNumThreads(saved_cv_threads)
    return result


def summary_lines(result: dict) -> list[str]:
    """Human-readable summary of ``run_benchmark``'s result."""
    lines = [
        f"classifier {Path(result['classifier_model']).name}, detector {result['config']['detector_model']}, "
        f"{result['machine']['cpu']}, {result['iterations']} frames each"
    ]
    for n_threads, table in result["end_to_end_by_threads"].items():
        for key, s in table.items():
            st = result["stages_by_threads"][n_threads][key]
            stage_text = "  ".join(f"{name} {v['p50_ms']:.2f}/{v['p99_ms']:.2f}" for name, v in st.items())
            lines.append(
                f"threads {n_threads} {key:<8} end-to-end p50 {s['p50_ms']:6.2f} ms p99 {s['p99_ms']:6.2f} ms "
                f"({s['fps']:.0f} fps) | p50/p99 ms: {stage_text}"
            )
    for key in result["classify_ms"]:
        lines.append(
            f"classify {key:<8} ours {result['classify_ms'][key]:.3f} ms, peer "
            f"{result['peer_classify_ms'][key]:.3f} ms, ratio {result['classify_ratio_vs_peer'][key]:.2f}"
        )
    for key, t in result["targets"].items():
        lines.append(
            f"target {key}: p50 {t['p50_ms']:.2f} ms <= {t['p50_ms_max']} ms: {'met' if t['met'] else 'NOT met'}"
        )
    return lines
