"""Training targets and the augmented input pipeline."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np

from models.emotion import FER2013_ORDER
from training.data import Split

# FER+ vote columns, by our emotion names; contempt, unknown and not-a-face have no class here.
FERPLUS_COLUMNS = {
    "angry": "anger", "disgust": "disgust", "fear": "fear", "happy": "happiness",
    "sad": "sadness", "surprise": "surprise", "neutral": "neutral",
}  # fmt: skip


def class_weights(labels: np.ndarray, power: float, k: int = 7) -> np.ndarray:
    """Per-class loss weights (n_max / n_c) ** power, normalised to mean 1 over samples."""
    counts = np.bincount(labels, minlength=k).astype(np.float64)
    w = (counts.max() / np.maximum(counts, 1)) ** power
    w /= (w[labels]).mean()
    return w.astype(np.float32)


def ferplus_votes(split: Split, votes_csv: str | Path) -> np.ndarray:
    """Each image's FER+ vote shares over our 7 classes (N, 7); all zero where it has none.

    Rows are matched on the last three path parts (`train/angry/Training_1.jpg`), so the
    votes line up with a folder split wherever it lives.
    """
    cols = [FERPLUS_COLUMNS[e.value] for e in FER2013_ORDER]
    votes: dict[str, np.ndarray] = {}
    with open(votes_csv, newline="") as f:
        for row in csv.DictReader(f):
            votes[row["file"]] = np.array([float(row[c]) for c in cols], np.float32)
    out = np.zeros((len(split), 7), np.float32)
    for i, p in enumerate(split.paths):
        v = votes.get("/".join(Path(p).parts[-3:]))
        if v is not None and v.sum() > 0:
            out[i] = v / v.sum()
    return out


def targets(labels: np.ndarray, votes: np.ndarray | None, share: float) -> np.ndarray:
    """One-hot labels, with `share` of each moved onto its FER+ vote distribution if it has one."""
    onehot = np.eye(7, dtype=np.float32)[labels]
    if votes is None or share == 0:
        return onehot
    has = votes.sum(1, keepdims=True) > 0
    return np.where(has, (1 - share) * onehot + share * votes, onehot).astype(np.float32)


def centre_crop(x: np.ndarray, size: int) -> np.ndarray:
    """The centre size x size window of (N, H, W, C) faces (the whole face if size is 0)."""
    if not size:
        return x
    top, left = (x.shape[1] - size) // 2, (x.shape[2] - size) // 2
    return x[:, top : top + size, left : left + size]


def train_dataset(x, y, sample_w, *, batch_size: int, erase_prob: float, crop: int, seed: int):
    """Augmented, shuffled training batches of (face, target, sample weight)."""
    import tensorflow as tf
    from keras import layers

    geo = tf.keras.Sequential(
        [
            layers.RandomFlip("horizontal", seed=seed),
            layers.RandomRotation(0.04, fill_mode="reflect", seed=seed + 1),
            layers.RandomZoom((-0.15, 0.1), fill_mode="reflect", seed=seed + 2),
            layers.RandomTranslation(0.1, 0.1, fill_mode="reflect", seed=seed + 3),
        ]
    )

    def photometric(x):
        n = tf.shape(x)[0]
        contrast = tf.random.uniform([n, 1, 1, 1], 0.7, 1.3)
        bright = tf.random.uniform([n, 1, 1, 1], -0.12, 0.12)
        mean = tf.reduce_mean(x, axis=[1, 2, 3], keepdims=True)
        return tf.clip_by_value((x - mean) * contrast + mean + bright, 0.0, 1.0)

    def random_crop(x):
        # A window per image at a random whole-pixel offset: crop_and_resize at exact pixels.
        n, s = tf.shape(x)[0], x.shape[1]
        off = tf.floor(tf.random.uniform([n, 2], 0, s - crop + 1))
        box = tf.concat([off, off + crop - 1], axis=1) / (s - 1)
        return tf.image.crop_and_resize(x, box, tf.range(n), (crop, crop))

    def random_erase(x):
        # One random rectangle per image (p=erase_prob), 2-20% of the area, filled with noise.
        n = tf.shape(x)[0]
        s = float(x.shape[1])
        area = tf.random.uniform([n], 0.02, 0.2) * s * s
        ratio = tf.exp(tf.random.uniform([n], math.log(0.3), math.log(3.3)))
        h = tf.clip_by_value(tf.sqrt(area * ratio), 1.0, s)
        wd = tf.clip_by_value(tf.sqrt(area / ratio), 1.0, s)
        y0 = tf.random.uniform([n]) * (s - h)
        x0 = tf.random.uniform([n]) * (s - wd)
        grid = tf.range(s)
        in_y = (grid[None, :] >= y0[:, None]) & (grid[None, :] < (y0 + h)[:, None])
        in_x = (grid[None, :] >= x0[:, None]) & (grid[None, :] < (x0 + wd)[:, None])
        mask = tf.cast(in_y[:, :, None] & in_x[:, None, :], tf.float32)[..., None]
        mask *= tf.cast(tf.random.uniform([n, 1, 1, 1]) < erase_prob, tf.float32)
        return x * (1 - mask) + tf.random.uniform(tf.shape(x)) * mask

    def augment(x, y, w):
        x = photometric(tf.cast(geo(x, training=True), tf.float32))
        if crop:
            x = random_crop(x)
        if erase_prob > 0:
            x = random_erase(x)
        return x, y, w

    return (
        tf.data.Dataset.from_tensor_slices((x, y, sample_w))
        .shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
        .batch(batch_size, drop_remainder=True)
        .map(augment, num_parallel_calls=tf.data.AUTOTUNE)
        .prefetch(2)
    )
