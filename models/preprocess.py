"""The one preprocessing step shared by training and serving."""

from __future__ import annotations

import cv2
import numpy as np

# Bump when the function below changes; exported models record the version they were trained with.
PREPROCESS_VERSION = 1
INPUT_SIZE = 48


def preprocess_face(gray: np.ndarray, size: int = INPUT_SIZE) -> np.ndarray:
    """Grayscale face crop (any size, uint8) -> float32 array (size, size, 1) in [0, 1]."""
    if gray.ndim == 3:
        gray = cv2.cvtColor(gray, cv2.COLOR_BGR2GRAY)
    if gray.shape != (size, size):
        # INTER_AREA averages when shrinking, which matches how FER2013's crops were made.
        interp = cv2.INTER_AREA if min(gray.shape) > size else cv2.INTER_LINEAR
        gray = cv2.resize(gray, (size, size), interpolation=interp)
    return (gray.astype(np.float32) / 255.0)[..., None]


def preprocess_batch(grays: np.ndarray, size: int = INPUT_SIZE) -> np.ndarray:
    """Stack of uint8 crops (N, H, W) -> float32 (N, size, size, 1)."""
    if grays.shape[1:] == (size, size):
        return (grays.astype(np.float32) / 255.0)[..., None]
    return np.stack([preprocess_face(g, size) for g in grays])
