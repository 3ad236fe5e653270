"""The emotion model, served through LiteRT (no TensorFlow import) or plain Keras.

A model bundle is a folder holding `emotion.tflite`, `emotion.keras` and `emotion.json`; the JSON
carries the label order, input size, preprocessing version and calibration, so nothing about the
model is repeated by hand elsewhere.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from models.emotion import Emotion
from models.preprocess import PREPROCESS_VERSION

DEFAULT_BUNDLE = Path(__file__).parent / "weights"


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """What the exported model says about itself (emotion.json)."""

    labels: tuple[Emotion, ...]
    input_size: int
    preprocess_version: int
    temperature: float = 1.0
    tta_flip: bool = False
    metrics: dict | None = None

    @classmethod
    def load(cls, bundle: Path) -> ModelInfo:
        meta = json.loads((bundle / "emotion.json").read_text())
        info = cls(
            labels=tuple(Emotion(x) for x in meta["labels"]),
            input_size=int(meta["input_size"]),
            preprocess_version=int(meta["preprocess_version"]),
            temperature=float(meta.get("temperature", 1.0)),
            tta_flip=bool(meta.get("tta_flip", False)),
            metrics=meta.get("metrics"),
        )
        if info.preprocess_version != PREPROCESS_VERSION:
            raise RuntimeError(
                f"model expects preprocessing v{info.preprocess_version}, "
                f"this code has v{PREPROCESS_VERSION}: re-export or retrain the model"
            )
        return info


class EmotionModel:
    """Batch of preprocessed faces (N, S, S, 1) float32 -> calibrated probabilities (N, 7)."""

    backend = "base"

    def __init__(self, info: ModelInfo) -> None:
        self.info = info

    @property
    def labels(self) -> tuple[Emotion, ...]:
        return self.info.labels

    @property
    def input_size(self) -> int:
        return self.info.input_size

    def _raw(self, batch: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def predict(self, batch: np.ndarray, tta: bool | None = None) -> np.ndarray:
        batch = np.ascontiguousarray(batch, dtype=np.float32)
        if self.info.tta_flip if tta is None else tta:
            # One call on [faces; mirrored faces] costs less than two calls.
            n = len(batch)
            both = self._raw(np.concatenate([batch, batch[:, :, ::-1, :]]))
            probs = (both[:n] + both[n:]) / 2
        else:
            probs = self._raw(batch)
        return calibrate(probs, self.info.temperature)

    def predict_many(self, faces: np.ndarray, chunk: int = 512) -> np.ndarray:
        """predict() over a whole dataset, in chunks so the input tensor stays small."""
        return np.concatenate(
            [self.predict(faces[i : i + chunk]) for i in range(0, len(faces), chunk)]
        )


def calibrate(probs: np.ndarray, temperature: float) -> np.ndarray:
    """Temperature-scale probabilities (softmax of log p / T)."""
    if temperature == 1.0:
        return probs
    logits = np.log(np.clip(probs, 1e-7, 1.0)) / temperature
    logits -= logits.max(axis=1, keepdims=True)
    e = np.exp(logits)
    return e / e.sum(axis=1, keepdims=True)


class LiteRTModel(EmotionModel):
    backend = "litert"

    def __init__(self, bundle: Path, info: ModelInfo, num_threads: int = 1) -> None:
        super().__init__(info)
        from ai_edge_litert.interpreter import Interpreter

        self._interp = Interpreter(
            model_path=str(bundle / "emotion.tflite"), num_threads=num_threads
        )
        self._in = self._interp.get_input_details()[0]["index"]
        self._out = self._interp.get_output_details()[0]["index"]
        self._batch = 0
        self._lock = threading.Lock()  # an interpreter serves one call at a time

    def _raw(self, batch: np.ndarray) -> np.ndarray:
        with self._lock:
            if batch.shape[0] != self._batch:
                self._interp.resize_tensor_input(self._in, batch.shape)
                self._interp.allocate_tensors()
                self._batch = batch.shape[0]
            self._interp.set_tensor(self._in, batch)
            self._interp.invoke()
            return self._interp.get_tensor(self._out).copy()


class KerasModel(EmotionModel):
    backend = "keras"

    def __init__(self, bundle: Path, info: ModelInfo) -> None:
        super().__init__(info)
        import keras

        self._model = keras.models.load_model(bundle / "emotion.keras", compile=False)

    def _raw(self, batch: np.ndarray) -> np.ndarray:
        # Direct call, not predict(): predict() sets up a dataset per call and is ~20x slower.
        return np.asarray(self._model(batch, training=False), dtype=np.float32)


def load_model(bundle: str | Path | None = None, backend: str = "litert") -> EmotionModel:
    """Load the exported model bundle with the chosen backend ('litert' or 'keras')."""
    bundle = Path(bundle) if bundle else DEFAULT_BUNDLE
    info = ModelInfo.load(bundle)
    if backend == "litert":
        return LiteRTModel(bundle, info)
    if backend == "keras":
        return KerasModel(bundle, info)
    raise ValueError(f"unknown backend {backend!r}")
