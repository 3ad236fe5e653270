"""Train the emotion CNN on FER2013; resumable, checkpointed every epoch.

    python -m training.train --recipe training/recipes/stage6_clean.toml --out /work/runs/clean

Re-running the same command continues from `out/last.keras` with the run's saved recipe
(only `--epochs` may change). The run directory describes itself: config.json (the recipe),
state.json (progress, best val), log.csv (one row per epoch), last.keras (model + optimizer),
best.weights.h5, and swa.keras when weights are averaged. Read top to bottom: config, data,
model and optimizer, then the epoch loop that scores, checkpoints and averages.
"""

from __future__ import annotations

import csv
import json
import os
import time
from pathlib import Path

import numpy as np

from training.config import Config, parse_args

VOTES = "ferplus_votes.csv"  # FER+ crowd votes, beside the FER2013 train/ and val/ folders


def resolve_precision(choice: str, cpuinfo: str = "/proc/cpuinfo") -> str:
    """`auto` picks mixed bfloat16 only on CPUs with AMX tiles.

    On a 2-core Xeon with AVX-512 BF16 but no AMX, bfloat16 ran 1.7x slower than float32
    (`python -m training.speed`); AMX is what makes it pay.
    """
    if choice != "auto":
        return choice
    try:
        flags = Path(cpuinfo).read_text()
    except OSError:
        return "float32"
    return "mixed_bfloat16" if "amx_bf16" in flags else "float32"


def main(argv: list[str] | None = None) -> int:
    # -- config: a resumed run keeps its own recipe ---------------------------------------------
    cfg = parse_args(argv, description=__doc__.split("\n")[0])
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    state: dict = {"epoch": 0, "best_val": 0.0, "best_epoch": 0}
    if (out / "last.keras").exists() and (out / "state.json").exists():
        cfg = Config(**{**json.loads((out / "config.json").read_text()), "epochs": cfg.epochs})
        state = json.loads((out / "state.json").read_text())
        print(f"resuming {out} at epoch {state['epoch']}/{cfg.epochs}", flush=True)
    (out / "config.json").write_text(json.dumps(cfg.to_dict(), indent=2))
    if state["epoch"] >= cfg.epochs:
        print(f"run already complete: best val {state['best_val']:.4f} @ {state['best_epoch']}")
        return 0

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras

    from models.preprocess import preprocess_batch
    from training.augment import centre_crop, class_weights, ferplus_votes, targets, train_dataset
    from training.data import load_split
    from training.model import accuracy_plain_and_flip, build_model, init_weights, recalibrate_bn

    keras.utils.set_random_seed(cfg.seed + state["epoch"])
    keras.mixed_precision.set_global_policy(resolve_precision(cfg.precision))

    # -- data -----------------------------------------------------------------------------------
    train, val = load_split(cfg.data, "train"), load_split(cfg.data, "val")
    if cfg.limit:
        idx = np.random.default_rng(cfg.seed).permutation(len(train))[: cfg.limit]
        paths = tuple(train.paths[i] for i in idx) if train.paths else ()
        train = type(train)(train.images[idx], train.labels[idx], paths)
    votes = ferplus_votes(train, Path(cfg.data) / VOTES) if cfg.ferplus else None
    x_tr = preprocess_batch(train.images)
    weights = class_weights(train.labels, cfg.class_weight_power)[train.labels]
    ds_tr = train_dataset(
        x_tr, targets(train.labels, votes, cfg.ferplus), weights, batch_size=cfg.batch_size,
        erase_prob=cfg.erase_prob, crop=cfg.crop, seed=cfg.seed,
    )  # fmt: skip
    x_va = centre_crop(preprocess_batch(val.images), cfg.crop)
    pick = np.random.default_rng(cfg.seed).permutation(len(train))[:8192]
    x_bn = centre_crop(x_tr[pick], cfg.crop)  # clean faces, as served, for batch-norm statistics
    steps = len(train) // cfg.batch_size

    # -- model and optimizer --------------------------------------------------------------------
    if state["epoch"] > 0:
        model = keras.models.load_model(out / "last.keras")
    else:
        model = build_model(
            input_size=cfg.crop or 48, widths=cfg.widths, convs=cfg.convs, dropout=cfg.dropout,
            head=cfg.head,
        )  # fmt: skip
        if cfg.init:
            init_weights(model, cfg.init)
            print(f"initialised from {cfg.init}", flush=True)
        warm = int(cfg.warmup_epochs * steps)
        schedule = keras.optimizers.schedules.CosineDecay(
            initial_learning_rate=cfg.lr / 100,
            decay_steps=max(1, cfg.epochs * steps - warm),
            alpha=1.0 if cfg.swa_from else 0.0,  # 1.0: constant after warm-up, as SWA wants
            warmup_target=cfg.lr,
            warmup_steps=warm,
        )
        if cfg.optimizer == "sgd":
            opt = keras.optimizers.SGD(
                schedule, momentum=0.9, nesterov=True, weight_decay=cfg.weight_decay
            )
        else:
            opt = keras.optimizers.AdamW(learning_rate=schedule, weight_decay=cfg.weight_decay)
        model.compile(
            optimizer=opt,
            loss=keras.losses.CategoricalCrossentropy(label_smoothing=cfg.label_smoothing),
            metrics=["accuracy"],
        )
    print(f"model: {model.count_params():,} params; {steps} steps/epoch", flush=True)
    # Val is scored on a copy with batch-norm statistics of clean faces, as export serves it.
    probe = keras.models.clone_model(model)
    swa = keras.models.clone_model(model) if cfg.swa_from else None
    if swa is not None and state.get("swa_n"):
        swa.load_weights(out / "swa.keras")

    # -- the epoch loop -------------------------------------------------------------------------
    for epoch in range(state["epoch"], cfg.epochs):
        t0 = time.time()
        hist = model.fit(ds_tr, epochs=epoch + 1, initial_epoch=epoch, shuffle=False, verbose=0)
        hist = hist.history
        probe.set_weights(model.get_weights())
        recalibrate_bn(probe, x_bn)
        acc, acc_tta = accuracy_plain_and_flip(probe, x_va, val.labels)
        row = {
            "epoch": epoch + 1,
            "loss": round(hist["loss"][-1], 4),
            "train_acc": round(hist["accuracy"][-1], 4),
            "val_acc": round(acc, 4),
            "val_acc_tta": round(acc_tta, 4),
            "lr": f"{float(model.optimizer.learning_rate):.2e}",
        }
        if swa is not None:
            row.update(swa_n="", swa_val_acc="", swa_val_acc_tta="")
            if epoch + 1 >= cfg.swa_from:
                n = state.get("swa_n", 0)
                new = model.get_weights()
                if n:  # running mean over the averaged epochs
                    new = [
                        a + (w - a) / (n + 1) for a, w in zip(swa.get_weights(), new, strict=True)
                    ]
                swa.set_weights(new)
                recalibrate_bn(swa, x_bn)
                s_acc, s_tta = accuracy_plain_and_flip(swa, x_va, val.labels)
                row.update(
                    swa_n=n + 1, swa_val_acc=round(s_acc, 4), swa_val_acc_tta=round(s_tta, 4)
                )
                swa.save(out / "swa.tmp.keras")
                os.replace(out / "swa.tmp.keras", out / "swa.keras")
                state["swa_n"] = n + 1
        row["seconds"] = round(time.time() - t0, 1)
        new_log = not (out / "log.csv").exists()
        with open(out / "log.csv", "a", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(row))
            if new_log:
                writer.writeheader()
            writer.writerow(row)
        print(" ".join(f"{k}={v}" for k, v in row.items()), flush=True)
        if acc_tta > state["best_val"]:
            state.update(best_val=acc_tta, best_epoch=epoch + 1)
            model.save_weights(out / "best.weights.h5")
        # The checkpoint first, then the state that points at it: a kill between the two
        # resumes one epoch early rather than skipping one.
        model.save(out / "last.tmp.keras")
        os.replace(out / "last.tmp.keras", out / "last.keras")
        state["epoch"] = epoch + 1
        (out / "state.json").write_text(json.dumps(state, indent=2))
    print(f"done: best val (flip TTA) {state['best_val']:.4f} at epoch {state['best_epoch']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
