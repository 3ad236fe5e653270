"""A training run's recipe: one dataclass, its command line derived from it, recipes as files.

    python -m training.train --recipe training/recipes/stage6_clean.toml --out /work/runs/clean

Defaults are the recipe of the served model's last stage (stage 6); a recipe file (TOML, the
same keys as the fields below) overrides them, and command-line flags override both.
"""

from __future__ import annotations

import argparse
import tomllib
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path


def _opt(default, help: str):  # noqa: A002 - mirrors argparse
    if isinstance(default, list | dict):
        return field(default_factory=lambda: type(default)(default), metadata={"help": help})
    return field(default=default, metadata={"help": help})


@dataclass
class Config:
    data: str = _opt("../shared/datasets/fer2013", "FER2013 root with train/ val/, or fer2013.csv")
    out: str = _opt("runs/clean", "run directory (checkpoints, logs); outside the work tree")
    init: str = _opt("models/weights/emotion.keras", "warm start from these weights ('' = scratch)")
    epochs: int = _opt(10, "epochs in the schedule")
    batch_size: int = _opt(64, "images per step")
    optimizer: str = _opt("adamw", "adamw, or sgd (Nesterov momentum 0.9)")
    lr: float = _opt(1e-4, "peak learning rate")
    weight_decay: float = _opt(0.05, "decoupled weight decay (AdamW) or L2 coefficient (SGD)")
    warmup_epochs: float = _opt(0.3, "linear warm-up from lr/100, then cosine to 0")
    label_smoothing: float = _opt(0.1, "share of each target spread over all classes")
    class_weight_power: float = _opt(0.3, "loss weight per class: (n_max / n_class) ** power")
    ferplus: float = _opt(0.0, "share of the FER+ crowd-vote distribution in each target")
    widths: list[int] = _opt([32, 64, 128, 256], "channels of the four conv blocks")
    convs: int = _opt(2, "3x3 convs per block")
    dropout: float = _opt(0.3, "dropout before and after the dense layer")
    head: str = _opt("flatten", "gap (average the last map) or flatten (keep its 3x3 layout)")
    crop: int = _opt(0, "train on random crops of this size, serve the centre (0 = whole face)")
    erase_prob: float = _opt(0.0, "chance of one random-erasing rectangle per image")
    swa_from: int = _opt(0, "average weights from this epoch on, lr constant (0 = off)")
    precision: str = _opt("auto", "float32, mixed_bfloat16, or auto (bfloat16 only with AMX)")
    seed: int = _opt(1337, "random seed")
    limit: int = _opt(0, "train on the first N images only (smoke tests; 0 = all)")

    @classmethod
    def from_file(cls, path: str | Path, **overrides) -> Config:
        raw = tomllib.loads(Path(path).read_text())
        unknown = set(raw) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(f"{path}: unknown keys {sorted(unknown)}")
        return cls(**{**raw, **overrides})

    def to_dict(self) -> dict:
        return asdict(self)


def parse_args(argv: list[str] | None = None, description: str = "") -> Config:
    """Flags for every Config field; `--recipe FILE` supplies the defaults they override."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--recipe", help="a TOML recipe file (training/recipes/)")
    for f in fields(Config):
        default = f.default_factory() if f.default is MISSING else f.default  # type: ignore[operator]
        kind = int if isinstance(default, list) else type(default)
        nargs = "+" if isinstance(default, list) else None
        p.add_argument(
            f"--{f.name.replace('_', '-')}", type=kind, nargs=nargs, default=None,
            help=f"{f.metadata['help']} (default {default})",
        )  # fmt: skip
    a = vars(p.parse_args(argv))
    given = {k: v for k, v in a.items() if v is not None and k != "recipe"}
    return Config.from_file(a["recipe"], **given) if a["recipe"] else Config(**given)
