"""decode -> detect -> crop -> classify: the whole reading of a selfie, free of Telegram."""

from __future__ import annotations

import contextlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import numpy as np

from models.classifier import EmotionModel, load_model
from models.emotion import Box, FaceReading
from models.errors import NoFaceFound
from models.face import FaceDetector
from models.image import DEFAULT_MAX_BYTES, DEFAULT_MAX_PIXELS, ImageHeader, decode, read_header
from models.preprocess import preprocess_face
from models.video import combine, sample_frames


class Analyzer:
    """Reads the emotion on the largest face of a photo. Thread-safe; build once, share."""

    def __init__(
        self,
        model: EmotionModel,
        detector: FaceDetector | None = None,
        max_bytes: int = DEFAULT_MAX_BYTES,
        max_pixels: int = DEFAULT_MAX_PIXELS,
        max_decodes: int = 2,
    ) -> None:
        self.model = model
        self.detector = detector or FaceDetector()
        self.max_bytes = max_bytes
        self.max_pixels = max_pixels
        # Images are decoded and searched on `max_decodes` threads of our own, in arrival order.
        # Each decode may take up to image.DECODE_BUDGET, so this bounds a burst's memory; and
        # keeping the big buffers on a few threads matters too: glibc gives every thread its own
        # heap and hands little of it back, so 30 callers decoding each on their own thread
        # held 563 MB at peak (30 x a 4400x4400 WebP), against 266 MB on two threads.
        self._decoders = ThreadPoolExecutor(max_decodes, thread_name_prefix="decode")

    @classmethod
    def load(cls, backend: str = "litert", bundle: str | None = None, **kw) -> Analyzer:
        return cls(load_model(bundle, backend), **kw)

    def analyze(self, data: bytes) -> FaceReading:
        """Image bytes -> reading of the largest face (raises our ImageError / NoFaceFound)."""
        header = read_header(data, self.max_bytes, self.max_pixels)  # refusals don't queue
        reading, scale = self._decoders.submit(self._read, data, header).result()
        if scale != 1.0:  # report the face box in the sender's pixel coordinates
            b = reading.face
            box = Box(
                round(b.x * scale), round(b.y * scale), round(b.w * scale), round(b.h * scale)
            )
            reading = replace(reading, face=box)
        return reading

    def _read(self, data: bytes, header: ImageHeader) -> tuple[FaceReading, float]:
        gray, scale = decode(data, header)
        return self.analyze_gray(gray), scale

    def analyze_video(self, data: bytes) -> FaceReading:
        """Video bytes -> one reading from the faces in a few frames (raises as analyze does)."""
        return self._decoders.submit(self._read_video, data).result()

    def _read_video(self, data: bytes) -> FaceReading:
        readings = []
        for frame in sample_frames(data):
            with contextlib.suppress(NoFaceFound):  # a blink or a turned head in one frame
                readings.append(self.analyze_gray(frame))
        return combine(readings)

    def analyze_gray(self, gray: np.ndarray) -> FaceReading:
        found = self.detector.detect(gray)
        crop = self.detector.crop(gray, found.box)
        return self.classify_crop(crop, found.box, found.faces_found)

    def classify_crop(
        self, crop: np.ndarray, box: Box | None = None, faces: int = 1
    ) -> FaceReading:
        """Reading of an already-cropped face (e.g. a 48x48 FER2013 image)."""
        x = preprocess_face(crop, self.model.input_size)[None]
        probs = self.model.predict(x)[0]
        return reading_from_probs(probs, self.model, box or Box(0, 0, *crop.shape[::-1]), faces)


def reading_from_probs(
    probs: np.ndarray, model: EmotionModel, box: Box, faces: int = 1
) -> FaceReading:
    by_label = {e: float(p) for e, p in zip(model.labels, probs, strict=True)}
    top = max(by_label, key=by_label.__getitem__)
    return FaceReading(top, by_label[top], by_label, box, faces)
