"""FER2013 loading: image folders (<split>/<emotion>/*.jpg) or the canonical fer2013.csv, cached."""

from __future__ import annotations

import csv
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from models.emotion import FER2013_ORDER, Emotion

# Usage values of fer2013.csv and the folder names we map them to.
CSV_SPLITS = {"train": "Training", "val": "PublicTest", "test": "PrivateTest"}
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}


@dataclass(frozen=True)
class Split:
    """Images as uint8 (N, H, W) grayscale, labels as int (N,) in FER2013 order."""

    images: np.ndarray
    labels: np.ndarray
    paths: tuple[str, ...] = ()

    def __len__(self) -> int:
        return len(self.labels)

    def counts(self) -> dict[Emotion, int]:
        return {e: int((self.labels == i).sum()) for i, e in enumerate(FER2013_ORDER)}


def cache_dir() -> Path:
    root = os.environ.get("MOODTUNE_CACHE") or Path.home() / ".cache" / "moodtune"
    path = Path(root) / "datasets"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _fingerprint(paths: list[Path]) -> str:
    h = hashlib.sha1()
    for p in paths:
        st = p.stat()
        h.update(f"{p}:{st.st_size}:{int(st.st_mtime)}".encode())
    return h.hexdigest()[:16]


def list_folder(root: Path) -> list[tuple[Path, int]]:
    """(path, label) for every image under root/<emotion>/, in a stable order."""
    items: list[tuple[Path, int]] = []
    for label, emotion in enumerate(FER2013_ORDER):
        folder = root / emotion.value
        if not folder.is_dir():
            continue
        for p in sorted(folder.iterdir()):
            if p.suffix.lower() in IMAGE_SUFFIXES:
                items.append((p, label))
    if not items:
        names = ", ".join(e.value for e in FER2013_ORDER)
        raise FileNotFoundError(f"no images under {root}/<emotion>/ (emotions: {names})")
    return items


def load_folder(root: str | Path, size: int = 48, use_cache: bool = True) -> Split:
    """Load a folder of emotion folders as grayscale size x size crops (cached as .npz)."""
    root = Path(root).resolve()
    items = list_folder(root)
    paths = [p for p, _ in items]
    key = f"folder-{_fingerprint(paths)}-{size}.npz"
    cached = cache_dir() / key
    if use_cache and cached.exists():
        with np.load(cached) as z:
            return Split(z["images"], z["labels"], tuple(str(p) for p in paths))
    images = np.empty((len(items), size, size), np.uint8)
    for i, (p, _) in enumerate(items):
        img = cv2.imread(str(p), cv2.IMREAD_GRAYSCALE)
        if img is None:
            raise ValueError(f"cannot read image {p}")
        if img.shape != (size, size):
            img = cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA)
        images[i] = img
    labels = np.array([label for _, label in items], np.int64)
    if use_cache:
        tmp = cached.with_suffix(".tmp.npz")
        np.savez(tmp, images=images, labels=labels)
        tmp.replace(cached)
    return Split(images, labels, tuple(str(p) for p in paths))


def load_csv(path: str | Path, split: str) -> Split:
    """Load one split ('train', 'val', 'test' or a raw Usage value) of fer2013.csv."""
    usage = CSV_SPLITS.get(split, split)
    images, labels = [], []
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            if row["Usage"].strip() != usage:
                continue
            pixels = np.array(row["pixels"].split(), dtype=np.uint8)
            side = int(round(len(pixels) ** 0.5))
            images.append(pixels.reshape(side, side))
            labels.append(int(row["emotion"]))
    if not images:
        raise ValueError(f"no rows with Usage={usage!r} in {path}")
    return Split(np.stack(images), np.array(labels, np.int64))


def load_split(source: str | Path, split: str) -> Split:
    """One loader for both layouts: a dataset root with <split>/ folders, a split folder, or a CSV."""
    source = Path(source)
    if source.suffix.lower() == ".csv":
        return load_csv(source, split)
    if (source / split).is_dir():
        return load_folder(source / split)
    return load_folder(source)
