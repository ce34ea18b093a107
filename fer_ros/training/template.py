"""Measure where the 5 face keypoints sit in the 48x48 training crops.

The aligner maps live faces onto this template, so camera crops are framed like the crops the model was
trained on. Each crop is upscaled, padded with its border colour so the detector sees some context, run
through YuNet, and the keypoints of confident detections are mapped back to unit crop coordinates.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import cv2
import numpy as np

UPSCALE = 4
PAD = 0.5  # padding on each side, as a fraction of the upscaled crop


def measure_template(
    images: np.ndarray, detector_model: Path, limit: int = 3000, min_score: float = 0.8, seed: int = 0
) -> tuple[np.ndarray, dict]:
    """Median keypoints (5, 2) in unit crop coordinates over up to `limit` crops, plus statistics."""
    size = images.shape[1] * UPSCALE
    pad = int(size * PAD)
    canvas = size + 2 * pad
    detector = cv2.FaceDetectorYN.create(str(detector_model), "", (canvas, canvas), min_score, 0.3, 1)
    rng = np.random.default_rng(seed)
    points = []
    picked = rng.choice(len(images), size=min(limit, len(images)), replace=False)
    for i in picked:
        crop = cv2.resize(images[i], (size, size), interpolation=cv2.INTER_CUBIC)
        crop = cv2.copyMakeBorder(crop, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
        _, faces = detector.detect(cv2.cvtColor(crop, cv2.COLOR_GRAY2BGR))
        if faces is None or len(faces) == 0:
            continue
        best = faces[np.argmax(faces[:, -1])]
        kps = best[4:14].reshape(5, 2)
        points.append((kps - pad) / size)
    found = np.asarray(points)
    template = np.median(found, axis=0)
    stats = {
        "crops": int(len(picked)),
        "detected": int(len(found)),
        "spread": np.round(np.median(np.abs(found - template), axis=0).astype(float), 4).tolist(),
    }
    return template, stats


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--data", type=Path, required=True, help="npz with 48x48 crops (../shared/data layout)"
    )
    parser.add_argument(
        "--detector", type=Path, required=True, help="fixed-size YuNet ONNX (e.g. yunet_s_320_320)"
    )
    parser.add_argument("--limit", type=int, default=3000)
    parser.add_argument("--out", type=Path, help="write the template JSON here")
    args = parser.parse_args(argv)
    template, stats = measure_template(np.load(args.data)["images"], args.detector, args.limit)
    result = {"align_template": np.round(template.astype(float), 4).tolist(), **stats}
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
