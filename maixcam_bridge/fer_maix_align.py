"""Face alignment on the MaixCAM as fer_ros does it on the PC, in plain Python (no numpy, no fer_ros).

The PC (``fer_ros/core/aligner.py``, ``SimilarityAligner``) warps each face with the least-squares similarity
that maps its 5 keypoints onto the model's template, or, when the keypoints are unusable, a square crop around
the box. This module computes the same 2x3 matrices and turns them into a call MaixPy offers::

    image.Image.affine(src_points: list[int], dst_points: list[int], width=-1, height=-1,
                       method=image.ResizeMethod.BILINEAR)

(MaixCDK ``components/vision/include/maix_image.hpp``, ``@maixpy maix.image.Image.affine``; implemented in
``components/vision/src/maix_image.cpp`` as ``cv::getAffineTransform`` of the three point pairs, then
``cv::warpAffine`` with that interpolation and OpenCV's default constant black border.) Its points are
integers: one pair, at the crop centre, is chosen among nearby integer source points so that its crop point is
an integer too (a few hundredths of a pixel off), and the two others lie ``SPAN`` pixels away (points need not
lie inside either image), where rounding tilts the warp by a negligible angle. As the PC does, a face shrunk by
2x or more is warped at k times the size and reduced with ``ResizeMethod.AREA`` (no aliasing).

Also here: ``read_mud``, which reads the ``[extra]`` keys of a ``.mud`` (the template, crop scale and calibration
temperature that ``make maixcam-model`` copies into it from the ONNX model's metadata). Standard library only,
as on the device.
"""

import configparser
import math

SPAN = 4096  # spread of the destination points given to Image.affine (see above)
ANCHOR_SEARCH = 6  # integer source points tried around the anchor point (13 x 13)
MAX_SUPERSAMPLE = 4  # as fer_ros.core.aligner: warp at up to 4x, then area-resize


class ModelInfo:
    """What the app needs from a classifier's .mud: labels and, for fer_ros models, how to align faces."""

    __slots__ = ("name", "labels", "template", "crop_scale", "input_size", "temperature")

    def __init__(self, name, labels, template=None, crop_scale=1.0, input_size=None, temperature=1.0):
        self.name = name
        self.labels = labels
        self.template = template  # [(x, y)] * 5 in unit crop coordinates, or None (MaixPy's own models)
        self.crop_scale = crop_scale
        self.input_size = input_size  # (width, height) or None
        self.temperature = temperature  # probabilities = softmax(logits / temperature), as on the PC


def _floats(text, key, path):
    try:
        return [float(v) for v in text.split(",")]
    except ValueError:
        raise ValueError(f"{path}: [extra] {key} must be numbers separated by commas") from None


def read_mud(path):
    """The [extra] section of a .mud as a ModelInfo (without a template for MaixPy's own models); ValueError naming
    the key when a fer_ros key is invalid."""
    stem = path.rsplit("/", 1)[-1].rsplit(".", 1)[0]
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    try:
        with open(path, encoding="utf-8") as f:
            parser.read_file(f)
    except (configparser.Error, UnicodeError):
        # not an INI configparser reads: not one of ours (make maixcam-model writes plain INI), so no template;
        # nn.Classifier, which parsed it, is the judge of the file
        return ModelInfo(stem, [])
    if not parser.has_section("extra"):
        return ModelInfo(stem, [])
    extra = parser["extra"]
    labels = [s.strip() for s in extra.get("labels", "").split(",") if s.strip()]
    name = extra.get("fer_ros_name", "").strip() or stem
    if "fer_ros_align_template" not in extra:
        return ModelInfo(name, labels)
    values = _floats(extra["fer_ros_align_template"], "fer_ros_align_template", path)
    if len(values) != 10 or not all(math.isfinite(v) for v in values):
        raise ValueError(f"{path}: [extra] fer_ros_align_template must be 10 numbers (5 x, y pairs)")
    crop_scale = _floats(extra.get("fer_ros_crop_scale", "1.0"), "fer_ros_crop_scale", path)[0]
    if not 0.25 <= crop_scale <= 4.0:
        raise ValueError(f"{path}: [extra] fer_ros_crop_scale {crop_scale} out of 0.25..4")
    size = None
    if "fer_ros_input_size" in extra:
        w, h = (int(v) for v in _floats(extra["fer_ros_input_size"], "fer_ros_input_size", path)[:2])
        size = (w, h)
    temperature = _floats(extra.get("fer_ros_temperature", "1.0"), "fer_ros_temperature", path)[0]
    if not 0.05 <= temperature <= 20.0:
        raise ValueError(f"{path}: [extra] fer_ros_temperature {temperature} out of 0.05..20")
    template = [(values[2 * i], values[2 * i + 1]) for i in range(5)]
    return ModelInfo(name, labels, template, crop_scale, size, temperature)


class FaceAligner:
    """Similarity warp of a face onto a template, as ``fer_ros.core.aligner.SimilarityAligner`` computes it."""

    def __init__(self, template, width, height, crop_scale=1.0):
        self.width, self.height = int(width), int(height)
        self.crop_scale = float(crop_scale)
        # the template in crop pixels; crop_scale > 1 shrinks it about the centre (more context)
        self.template_px = [
            (((tx - 0.5) / self.crop_scale + 0.5) * self.width, ((ty - 0.5) / self.crop_scale + 0.5) * self.height)
            for tx, ty in template
        ]
        n = float(len(self.template_px))
        self._dst_mean = (sum(p[0] for p in self.template_px) / n, sum(p[1] for p in self.template_px) / n)
        self._dst_centred = [(x - self._dst_mean[0], y - self._dst_mean[1]) for x, y in self.template_px]

    def transform(self, box, points):
        """``([[a, -b, tx], [b, a, ty]], from_keypoints)``: the source->crop matrix of one face.

        ``box`` is (x, y, w, h); ``points`` the detector's 10 values (x0, y0 ... x4, y4), -1 = invalid. The
        keypoints are used under the PC's rule: all valid, within a quarter of the box around it, not collapsed
        (spread >= 5 % of the box) and not mirrored (image-left eye left of the other); else the box: a square of
        side max(w, h) * crop_scale around its centre.
        """
        x, y, w, h = (float(v) for v in box)
        pts = [(float(points[2 * i]), float(points[2 * i + 1])) for i in range(5)] if len(points) >= 10 else []
        if self._keypoints_usable(x, y, w, h, pts):
            return self._similarity(pts), True
        return self._box_matrix(x, y, w, h), False

    @staticmethod
    def _keypoints_usable(x, y, w, h, pts):
        if len(pts) != 5 or w <= 1 or h <= 1:
            return False
        if any(px == -1 and py == -1 for px, py in pts):  # MaixPy's "keypoint under keypoint_th"
            return False
        for px, py in pts:
            if not (x - 0.25 * w <= px <= x + 1.25 * w and y - 0.25 * h <= py <= y + 1.25 * h):
                return False
        mx = sum(p[0] for p in pts) / 5.0
        my = sum(p[1] for p in pts) / 5.0
        rms = math.sqrt(sum((px - mx) ** 2 + (py - my) ** 2 for px, py in pts) / 5.0)
        return rms >= 0.05 * max(w, h) and pts[1][0] > pts[0][0]

    def _similarity(self, pts):
        # Closed-form least-squares similarity (Umeyama in 2-D), the same formula as the PC's.
        mx = sum(p[0] for p in pts) / 5.0
        my = sum(p[1] for p in pts) / 5.0
        norm = a = b = 0.0
        for (px, py), (qx, qy) in zip(pts, self._dst_centred, strict=True):
            sx, sy = px - mx, py - my
            norm += sx * sx + sy * sy
            a += sx * qx + sy * qy
            b += sx * qy - sy * qx
        a /= norm
        b /= norm
        tx = self._dst_mean[0] - (a * mx - b * my)
        ty = self._dst_mean[1] - (b * mx + a * my)
        return [[a, -b, tx], [b, a, ty]]

    def _box_matrix(self, x, y, w, h):
        scale = min(self.width, self.height) / (max(max(w, h), 1.0) * self.crop_scale)
        cx, cy = x + w / 2.0, y + h / 2.0
        return [[scale, 0.0, self.width / 2.0 - scale * cx], [0.0, scale, self.height / 2.0 - scale * cy]]

    def border_pad(self, matrix, frame_w, frame_h):
        """Pixels of replicated border the frame needs so that the crop samples no point outside it (0: none).

        The PC warps with a replicated border; ``Image.affine`` fills with black. The app pads the frame by
        this much (``replicate_border``) before warping a face that reaches past the frame's edge.
        """
        a, b, tx = matrix[0]
        c, d, ty = matrix[1]
        det = a * d - b * c
        reach = 0.5 / max(math.hypot(a, c), 1e-9) + 2.0  # half a crop pixel in source pixels, and bilinear taps
        worst = 0.0
        for u, v in ((0, 0), (self.width, 0), (0, self.height), (self.width, self.height)):
            sx = (d * (u - tx) - b * (v - ty)) / det
            sy = (-c * (u - tx) + a * (v - ty)) / det
            worst = max(worst, reach - sx, sx + reach - (frame_w - 1), reach - sy, sy + reach - (frame_h - 1))
        return 0 if worst <= 0 else int(min(math.ceil(worst), max(frame_w, frame_h)))

    @staticmethod
    def shifted(matrix, dx, dy):
        """The matrix for the same warp of a frame whose content moved by (dx, dy) (a padded frame)."""
        (a, b, tx), (c, d, ty) = matrix
        return [[a, b, tx - a * dx - b * dy], [c, d, ty - c * dx - d * dy]]

    def warp_plan(self, matrix):
        """``(k, src_points, dst_points, width, height)`` for ``Image.affine``; then area-resize when k >= 2.

        k is the PC's supersampling factor: source pixels per crop pixel, floored, at most 4.
        """
        a, c = matrix[0][0], matrix[1][0]
        shrink = 1.0 / max(math.hypot(a, c), 1e-9)
        k = int(min(MAX_SUPERSAMPLE, shrink // 1))
        k = k if k >= 2 else 1
        m = [[v * k for v in row] for row in matrix]  # source -> supersampled crop
        det = m[0][0] * m[1][1] - m[0][1] * m[1][0]

        def source_of(dx, dy):
            ux, uy = dx - m[0][2], dy - m[1][2]
            return (m[1][1] * ux - m[0][1] * uy) / det, (-m[1][0] * ux + m[0][0] * uy) / det

        # The anchor point sits at the crop centre and governs the warp there: among the integer source points
        # near it, take the one whose image is closest to an integer crop point, so both ends of the pair are
        # exact integers. The two far points only steer rotation and scale: plain rounding moves the crop by
        # less than 1/SPAN of their error.
        cx, cy = self.width * k / 2.0, self.height * k / 2.0
        sx0, sy0 = source_of(cx, cy)
        best = None
        for ix in range(int(round(sx0)) - ANCHOR_SEARCH, int(round(sx0)) + ANCHOR_SEARCH + 1):
            for iy in range(int(round(sy0)) - ANCHOR_SEARCH, int(round(sy0)) + ANCHOR_SEARCH + 1):
                dx = m[0][0] * ix + m[0][1] * iy + m[0][2]
                dy = m[1][0] * ix + m[1][1] * iy + m[1][2]
                err = (dx - round(dx)) ** 2 + (dy - round(dy)) ** 2
                if best is None or err < best[0]:
                    best = (err, ix, iy, int(round(dx)), int(round(dy)))
        _, ax, ay, adx, ady = best
        src_points, dst_points = [ax, ay], [adx, ady]
        for dx, dy in ((adx + SPAN, ady), (adx, ady + SPAN)):
            sx, sy = source_of(dx, dy)
            src_points += [int(round(sx)), int(round(sy))]
            dst_points += [dx, dy]
        return k, src_points, dst_points, self.width * k, self.height * k
