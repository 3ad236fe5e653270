"""Train the emotion CNN on FER2013; resumable, checkpointed every epoch.

    python -m training.train --data ../shared/datasets/fer2013 --out runs/base --epochs 40

Re-running the same command continues from `out/last.keras` with the run's saved config.
The run directory describes itself: config.json (the recipe), state.json (progress and best
val accuracy), log.csv (one row per epoch), last.keras (model + optimizer), best.weights.h5.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import sys
import time
import types
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np


@dataclass
class Config:
    data: str = "../shared/datasets/fer2013"
    out: str = "runs/base"
    epochs: int = 40
    batch_size: int = 64
    lr: float = 2e-3
    weight_decay: float = 0.05
    warmup_epochs: float = 2.0
    label_smoothing: float = 0.1
    class_weight_power: float = 0.3
    widths: tuple[int, ...] = (64, 128, 256, 512)
    convs: int = 2
    dropout: float = 0.4
    head: str = "gap"  # "flatten" keeps the last 3x3 feature map's layout (training.model)
    mixup: float = 0.0
    erase_prob: float = 0.5
    seed: int = 1337
    precision: str = "auto"  # mixed_bfloat16 where the CPU has AMX, else float32
    limit: int = 0  # train on the first N images only (smoke tests)
    init: str = ""  # start from these weights (.keras or .weights.h5): a warm restart
    swa_from: int = 0  # average weights from this epoch on, lr constant after warm-up (0 = off)
    teacher: str = ""  # distil: blend the labels with this model's ten-view TTA probabilities
    distill: float = 0.5  # the teacher's share of each training target
    sam: float = 0.0  # sharpness-aware minimisation radius rho (0 = off)
    extra: dict = field(default_factory=dict)


def parse_args(argv: list[str] | None = None) -> Config:
    d = Config()
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", default=d.data, help="FER2013 root with train/ val/, or fer2013.csv")
    p.add_argument("--out", default=d.out, help="run directory (checkpoints, logs)")
    p.add_argument("--epochs", type=int, default=d.epochs)
    p.add_argument("--batch-size", type=int, default=d.batch_size)
    p.add_argument("--lr", type=float, default=d.lr)
    p.add_argument("--weight-decay", type=float, default=d.weight_decay)
    p.add_argument("--warmup-epochs", type=float, default=d.warmup_epochs)
    p.add_argument("--label-smoothing", type=float, default=d.label_smoothing)
    p.add_argument("--class-weight-power", type=float, default=d.class_weight_power)
    p.add_argument("--widths", default=",".join(map(str, d.widths)))
    p.add_argument("--convs", type=int, default=d.convs)
    p.add_argument("--dropout", type=float, default=d.dropout)
    p.add_argument("--head", default=d.head, choices=["gap", "flatten"])
    p.add_argument("--mixup", type=float, default=d.mixup, help="mixup alpha (0 = off)")
    p.add_argument("--erase-prob", type=float, default=d.erase_prob)
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument(
        "--precision", default=d.precision, choices=["auto", "mixed_bfloat16", "float32"]
    )
    p.add_argument("--limit", type=int, default=d.limit)
    p.add_argument(
        "--init", default=d.init, help="start from a trained model's weights (same architecture)"
    )
    p.add_argument(
        "--swa-from", type=int, default=d.swa_from,
        help="stochastic weight averaging: average the weights at the end of every epoch from "
        "this one on, at a constant learning rate after warm-up (0 = off); saved as swa.keras",
    )  # fmt: skip
    p.add_argument(
        "--teacher", default=d.teacher,
        help="a trained model whose ten-view TTA probabilities on the training faces are "
        "blended into the targets (self-distillation); cached as teacher.npy in the run",
    )  # fmt: skip
    p.add_argument("--distill", type=float, default=d.distill, help="the teacher's share")
    p.add_argument(
        "--sam", type=float, default=d.sam,
        help="sharpness-aware minimisation: step with the gradient taken this far (L2 radius) "
        "uphill of the weights; each step costs two passes (0 = off)",
    )  # fmt: skip
    a = p.parse_args(argv)
    return Config(
        data=a.data, out=a.out, epochs=a.epochs, batch_size=a.batch_size, lr=a.lr,
        weight_decay=a.weight_decay, warmup_epochs=a.warmup_epochs,
        label_smoothing=a.label_smoothing, class_weight_power=a.class_weight_power,
        widths=tuple(int(w) for w in a.widths.split(",")), convs=a.convs, dropout=a.dropout,
        head=a.head, mixup=a.mixup, erase_prob=a.erase_prob, seed=a.seed, precision=resolve_precision(a.precision),
        limit=a.limit, init=a.init, swa_from=a.swa_from, teacher=a.teacher, distill=a.distill,
        sam=a.sam,
    )  # fmt: skip


def resolve_precision(choice: str, cpuinfo: str = "/proc/cpuinfo") -> str:
    """`auto` picks mixed bfloat16 only on CPUs with AMX tiles.

    On a 2-core Xeon with AVX-512 BF16 but no AMX, bfloat16 ran 1.7x slower than float32
    (230 vs 138 s per epoch, batch 64, 1.24M params); the shared notes measured it ~2x faster
    than float32 on another 2-core machine, which AMX explains. Pass a precision to override.
    """
    if choice != "auto":
        return choice
    try:
        flags = Path(cpuinfo).read_text()
    except OSError:
        return "float32"
    return "mixed_bfloat16" if "amx_bf16" in flags else "float32"


def class_weights(labels: np.ndarray, power: float, k: int = 7) -> np.ndarray:
    """Per-class loss weights (n_max / n_c) ** power, normalised to mean 1 over samples."""
    counts = np.bincount(labels, minlength=k).astype(np.float64)
    w = (counts.max() / np.maximum(counts, 1)) ** power
    w /= (w[labels]).mean()
    return w.astype(np.float32)


def make_datasets(cfg: Config, train, val, soft: np.ndarray | None = None):
    import tensorflow as tf
    from keras import layers

    from models.preprocess import preprocess_batch

    x_tr, y_tr = preprocess_batch(train.images), train.labels
    x_va, y_va = preprocess_batch(val.images), val.labels
    w = class_weights(y_tr, cfg.class_weight_power)
    sw = w[y_tr]
    y_tr_oh = np.eye(7, dtype=np.float32)[y_tr]
    if soft is not None:
        y_tr_oh = (1 - cfg.distill) * y_tr_oh + cfg.distill * soft.astype(np.float32)
    y_va_oh = np.eye(7, dtype=np.float32)[y_va]

    geo = tf.keras.Sequential(
        [
            layers.RandomFlip("horizontal", seed=cfg.seed),
            layers.RandomRotation(0.04, fill_mode="reflect", seed=cfg.seed + 1),
            layers.RandomZoom((-0.15, 0.1), fill_mode="reflect", seed=cfg.seed + 2),
            layers.RandomTranslation(0.1, 0.1, fill_mode="reflect", seed=cfg.seed + 3),
        ]
    )

    def photometric(x):
        n = tf.shape(x)[0]
        contrast = tf.random.uniform([n, 1, 1, 1], 0.7, 1.3)
        bright = tf.random.uniform([n, 1, 1, 1], -0.12, 0.12)
        mean = tf.reduce_mean(x, axis=[1, 2, 3], keepdims=True)
        return tf.clip_by_value((x - mean) * contrast + mean + bright, 0.0, 1.0)

    def random_erase(x):
        # One random rectangle per image (p=erase_prob), 2-20% of the area, filled with noise.
        n = tf.shape(x)[0]
        s = 48.0
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
        apply = tf.cast(tf.random.uniform([n, 1, 1, 1]) < cfg.erase_prob, tf.float32)
        mask = mask * apply
        noise = tf.random.uniform(tf.shape(x))
        return x * (1 - mask) + noise * mask

    def augment(x, y, w_):
        x = tf.cast(geo(x, training=True), tf.float32)
        x = photometric(x)
        if cfg.erase_prob > 0:
            x = random_erase(x)
        if cfg.mixup > 0:
            n = tf.shape(x)[0]
            g1 = tf.random.gamma([n], cfg.mixup)
            g2 = tf.random.gamma([n], cfg.mixup)
            lam = g1 / (g1 + g2)
            perm = tf.random.shuffle(tf.range(n))
            lx = lam[:, None, None, None]
            x = lx * x + (1 - lx) * tf.gather(x, perm)
            ly = lam[:, None]
            y = ly * y + (1 - ly) * tf.gather(y, perm)
            w_ = lam * w_ + (1 - lam) * tf.gather(w_, perm)
        return x, y, w_

    ds_tr = (
        tf.data.Dataset.from_tensor_slices((x_tr, y_tr_oh, sw))
        .shuffle(len(x_tr), seed=cfg.seed, reshuffle_each_iteration=True)
        .batch(cfg.batch_size, drop_remainder=True)
        .map(augment, num_parallel_calls=tf.data.AUTOTUNE)
        .prefetch(2)
    )
    ds_va = tf.data.Dataset.from_tensor_slices((x_va, y_va_oh)).batch(256)
    return ds_tr, ds_va, x_va, y_va


def widen_to(src: list[np.ndarray], dst: list[np.ndarray], seed: int = 0) -> list[np.ndarray]:
    """Map a model's weights onto a same-depth model that is wider or flattens instead of pooling.

    Both changes keep the function (Chen et al. 2016, Net2WiderNet), so a warm start begins at
    the parent's accuracy. A wider conv copies its filters into the new channels (and their
    batch-norm entries); the next layer splits each old channel's outgoing weights among its
    copies in random shares that sum to one, which keeps the sum and breaks the copies' symmetry.
    A pooled head's first dense kernel, (C, U), is tiled H*W times over 1/(H*W) for a flatten
    head, (H*W*C, U), which computes the same mean.
    """
    if len(src) != len(dst):
        raise ValueError(f"architectures differ: {len(src)} vs {len(dst)} weight tensors")
    rng = np.random.default_rng(seed)
    out: list[np.ndarray] = []
    pick = share = None  # how the last widened layer's new channels map onto its old ones
    for s, d in zip(src, dst, strict=True):
        if s.ndim == 4:  # conv kernel (kh, kw, c_in, c_out)
            if pick is not None:
                s = s[:, :, pick, :] * share[None, None, :, None]
                pick = share = None
            c, c_new = s.shape[3], d.shape[3]
            if c_new > c:
                pick = np.concatenate([np.arange(c), rng.integers(0, c, c_new - c)])
                share = _shares(pick, rng)
                s = s[..., pick]
        elif s.ndim == 1 and pick is not None and d.shape == pick.shape:
            s = s[pick]  # batch-norm entries of a widened conv
        elif s.ndim == 2 and pick is not None:  # dense kernel after Flatten of a widened conv
            rows = s.reshape(-1, pick.max() + 1, s.shape[1])  # (cell, old channel, unit)
            s = (rows[:, pick, :] * share[None, :, None]).reshape(-1, s.shape[1])
            pick = share = None
        if s.shape == d.shape:
            out.append(s)
        elif s.ndim == d.ndim == 2 and s.shape[1] == d.shape[1] and d.shape[0] % s.shape[0] == 0:
            cells = d.shape[0] // s.shape[0]
            out.append(np.tile(s, (cells, 1)) / cells)
        else:
            raise ValueError(f"cannot map weights of shape {s.shape} onto {d.shape}")
    return out


def _shares(pick: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Random positive weights per new channel that sum to one over each old channel's copies."""
    u = rng.uniform(0.5, 1.5, len(pick))
    total = np.bincount(pick, weights=u)
    return (u / total[pick]).astype(np.float32)


def sam_train_step(rho: float):
    """A Keras train_step for sharpness-aware minimisation (Foret et al., 2021).

    The gradient is taken at w + rho * g / |g|, the most loss-raising point within rho of the
    weights, and applied at w: the step seeks flat minima, which tend to generalise better.
    Keras's own step does the second pass and the update; the perturbation is added before it
    and taken off after, so the optimizer's update lands on the unperturbed weights.
    """
    import keras
    import tensorflow as tf

    def step(self, data):
        x, y, sw = keras.utils.unpack_x_y_sample_weight(data)
        with tf.GradientTape() as tape:
            y_pred = self(x, training=True)
            loss = self.compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sw, training=True)
        weights = self.trainable_variables
        grads = tape.gradient(loss, weights)
        scale = rho / (tf.linalg.global_norm(grads) + 1e-12)
        eps = [g * scale for g in grads]
        for w, e in zip(weights, eps, strict=True):
            w.assign_add(e)
        logs = type(self).train_step(self, data)
        for w, e in zip(weights, eps, strict=True):
            w.assign_sub(e)
        return logs

    return step


def init_weights(model, path: Path) -> None:
    """Copy weights from a saved model or weights file into `model` (same depth, maybe wider)."""
    import keras

    if path.name.endswith(".weights.h5"):
        model.load_weights(path)
    else:
        parent = keras.models.load_model(path, compile=False).get_weights()
        model.set_weights(widen_to(parent, model.get_weights()))
    print(f"initialised from {path}", flush=True)


def recalibrate_bn(model, x: np.ndarray, batch_size: int = 256) -> None:
    """Recompute every batch-norm layer's moving statistics as their mean over `x`.

    Averaged weights (SWA) need statistics of their own: the averaged moving statistics belong
    to none of the averaged networks. Dropout is switched off meanwhile, as at serving time.
    """
    from keras import layers

    bns = [la for la in model.layers if isinstance(la, layers.BatchNormalization)]
    drops = [la for la in model.layers if isinstance(la, layers.Dropout)]
    momenta, rates = [b.momentum for b in bns], [d.rate for d in drops]
    for d in drops:
        d.rate = 0.0
    for b in bns:
        b.moving_mean.assign(np.zeros(b.moving_mean.shape, "float32"))
        b.moving_variance.assign(np.ones(b.moving_variance.shape, "float32"))
    try:
        for i, start in enumerate(range(0, len(x), batch_size)):
            for b in bns:
                b.momentum = i / (i + 1)  # cumulative mean over batches
            model(x[start : start + batch_size], training=True)
    finally:
        for b, m in zip(bns, momenta, strict=True):
            b.momentum = m
        for d, r in zip(drops, rates, strict=True):
            d.rate = r


def shifted_views(x: np.ndarray, step: int = 2) -> Iterator[np.ndarray]:
    """The faces, shifted ±step px in x and in y (reflect-padded), each also mirrored: ten views."""
    pad = np.pad(x, ((0, 0), (step, step), (step, step), (0, 0)), mode="reflect")
    h, w = x.shape[1:3]
    for dy, dx in [(0, 0), (0, step), (0, -step), (step, 0), (-step, 0)]:
        v = pad[:, step + dy : step + dy + h, step + dx : step + dx + w]
        yield v
        yield v[:, :, ::-1]


def teacher_probs(model, x: np.ndarray) -> np.ndarray:
    """The normalised geometric mean of the ten views' probabilities: a notch better than one pass.

    Served flip TTA reads 68.85% of val with the stage-6 model, ten views 69.21%; distilling the
    ten-view reading into the targets lets one network learn what the extra views add.
    """
    logp = [np.log(model.predict(v, batch_size=256, verbose=0) + 1e-7) for v in shifted_views(x)]
    g = np.exp(np.mean(logp, axis=0))  # log p >= log 1e-7, so exp can't underflow to all zeros
    return (g / g.sum(1, keepdims=True)).astype(np.float32)


def evaluate_tta(model, x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """(plain accuracy, horizontal-flip TTA accuracy) on preprocessed arrays."""
    p = model.predict(x, batch_size=256, verbose=0)
    pf = model.predict(x[:, :, ::-1, :], batch_size=256, verbose=0)
    return float((p.argmax(1) == y).mean()), float(((p + pf).argmax(1) == y).mean())


def main(argv: list[str] | None = None) -> int:
    cfg = parse_args(argv)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    cfg_path, state_path = out / "config.json", out / "state.json"
    state = {"epoch": 0, "best_val": 0.0, "best_epoch": 0}
    if (out / "last.keras").exists() and state_path.exists():
        saved = json.loads(cfg_path.read_text())
        saved["widths"] = tuple(saved["widths"])
        cfg = Config(**{**saved, "epochs": cfg.epochs})  # the recipe is the run's own
        state = json.loads(state_path.read_text())
        print(f"resuming {out} at epoch {state['epoch']}/{cfg.epochs}", flush=True)
    cfg_path.write_text(json.dumps(asdict(cfg), indent=2))

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras
    import tensorflow as tf

    from training.data import load_split
    from training.model import build_model

    keras.utils.set_random_seed(cfg.seed + state["epoch"])
    keras.mixed_precision.set_global_policy(cfg.precision)
    train, val = load_split(cfg.data, "train"), load_split(cfg.data, "val")
    if cfg.limit:
        idx = np.random.default_rng(cfg.seed).permutation(len(train))[: cfg.limit]
        train = type(train)(train.images[idx], train.labels[idx])
    from models.preprocess import preprocess_batch

    soft = None
    if cfg.teacher:
        cache = out / "teacher.npy"
        if cache.exists():
            soft = np.load(cache)
        else:
            t = keras.models.load_model(cfg.teacher, compile=False)
            soft = teacher_probs(t, preprocess_batch(train.images))
            np.save(cache, soft)
            del t
        agree = float((soft.argmax(1) == train.labels).mean())
        print(f"teacher {cfg.teacher}: agrees with {agree:.1%} of the training labels", flush=True)
    ds_tr, ds_va, x_va, y_va = make_datasets(cfg, train, val, soft)

    pick = np.random.default_rng(cfg.seed).permutation(len(train))[:8192]
    x_bn = preprocess_batch(train.images[pick])  # clean faces, as served
    steps = len(train) // cfg.batch_size

    if state["epoch"] > 0:
        model = keras.models.load_model(out / "last.keras")
    else:
        model = build_model(widths=cfg.widths, convs=cfg.convs, dropout=cfg.dropout, head=cfg.head)
        if cfg.init:
            init_weights(model, Path(cfg.init))
        warm = int(cfg.warmup_epochs * steps)
        schedule = keras.optimizers.schedules.CosineDecay(
            initial_learning_rate=cfg.lr / 100,
            decay_steps=max(1, cfg.epochs * steps - warm),
            alpha=1.0 if cfg.swa_from else 0.0,  # 1.0: constant after warm-up
            warmup_target=cfg.lr,
            warmup_steps=warm,
        )
        opt = keras.optimizers.AdamW(learning_rate=schedule, weight_decay=cfg.weight_decay)
        model.compile(
            optimizer=opt,
            loss=keras.losses.CategoricalCrossentropy(label_smoothing=cfg.label_smoothing),
            metrics=["accuracy"],
        )
    if cfg.sam:
        # A training behaviour, not part of the model: bound to this instance, so checkpoints
        # stay plain models; a resumed run binds it again here.
        model.train_step = types.MethodType(sam_train_step(cfg.sam), model)
    print(f"model: {model.count_params():,} params; {steps} steps/epoch", flush=True)
    # Val is scored on a copy whose batch-norm statistics come from clean faces, as export
    # recomputes them: the moving ones, gathered on augmented batches, cost 1-2 points on val.
    probe = keras.models.clone_model(model)
    if cfg.swa_from:
        swa_model = keras.models.clone_model(model)
        if state.get("swa_n"):
            swa_model.load_weights(out / "swa.keras")

    class Checkpoint(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.t0 = time.time()

        def on_epoch_end(self, epoch, logs=None):
            logs = dict(logs or {})
            probe.set_weights(self.model.get_weights())
            recalibrate_bn(probe, x_bn)
            acc, acc_tta = evaluate_tta(probe, x_va, y_va)
            lr = float(self.model.optimizer.learning_rate)
            row = {
                "epoch": epoch + 1,
                "loss": round(logs.get("loss", float("nan")), 4),
                "train_acc": round(logs.get("accuracy", float("nan")), 4),
                "val_acc": round(acc, 4),
                "val_acc_tta": round(acc_tta, 4),
                "lr": f"{lr:.2e}",
                **({"swa_n": "", "swa_val_acc": "", "swa_val_acc_tta": ""} if cfg.swa_from else {}),
                "seconds": round(time.time() - self.t0, 1),
            }
            if cfg.swa_from and epoch + 1 >= cfg.swa_from:
                n = state.get("swa_n", 0)
                avg = [
                    a + (w - a) / (n + 1)
                    for a, w in zip(swa_model.get_weights(), self.model.get_weights(), strict=True)
                ] if n else self.model.get_weights()  # fmt: skip
                swa_model.set_weights(avg)
                recalibrate_bn(swa_model, x_bn)
                s_acc, s_tta = evaluate_tta(swa_model, x_va, y_va)
                row.update(
                    swa_n=n + 1, swa_val_acc=round(s_acc, 4), swa_val_acc_tta=round(s_tta, 4)
                )
                swa_model.save(out / "swa.tmp.keras")
                os.replace(out / "swa.tmp.keras", out / "swa.keras")
                state["swa_n"] = n + 1
            new_log = not (out / "log.csv").exists()
            with open(out / "log.csv", "a", newline="") as f:
                wr = csv.DictWriter(f, fieldnames=list(row))
                if new_log:
                    wr.writeheader()
                wr.writerow(row)
            print(" ".join(f"{k}={v}" for k, v in row.items()), flush=True)
            if acc_tta > state["best_val"]:
                state.update(best_val=acc_tta, best_epoch=epoch + 1)
                self.model.save_weights(out / "best.weights.h5")
            # Write the checkpoint first, then the state that points at it, so a kill between
            # the two resumes one epoch early rather than skipping one.
            self.model.save(out / "last.tmp.keras")
            os.replace(out / "last.tmp.keras", out / "last.keras")
            state["epoch"] = epoch + 1
            state_path.write_text(json.dumps(state, indent=2))

    if state["epoch"] >= cfg.epochs:
        print(f"run already complete: best val {state['best_val']:.4f} @ {state['best_epoch']}")
        return 0
    model.fit(
        ds_tr,
        epochs=cfg.epochs,
        initial_epoch=state["epoch"],
        callbacks=[Checkpoint()],
        verbose=2 if sys.stdout.isatty() else 0,
    )
    print(f"done: best val (flip TTA) {state['best_val']:.4f} at epoch {state['best_epoch']}")
    del tf
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
