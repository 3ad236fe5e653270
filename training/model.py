"""The emotion CNN (VGG-style blocks with batch norm, sized to train on a CPU) and its helpers."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
from keras import layers

HEADS = ("gap", "flatten")


def conv_block(x, filters: int, convs: int, dropout: float):
    for _ in range(convs):
        x = layers.Conv2D(filters, 3, padding="same", use_bias=False)(x)
        x = layers.BatchNormalization()(x)
        x = layers.Activation("relu")(x)
    x = layers.MaxPooling2D()(x)
    if dropout:
        x = layers.Dropout(dropout)(x)
    return x


def build_model(
    input_size: int = 48,
    num_classes: int = 7,
    widths: tuple[int, ...] | list[int] = (32, 64, 128, 256),
    convs: int = 2,
    dropout: float = 0.3,
    head: str = "flatten",
) -> keras.Model:
    """VGG-style CNN: 4 blocks of `convs` 3x3 convs + BN + ReLU, max-pool, then a small head.

    `head="gap"` averages the last feature map over space; `head="flatten"` keeps its 3x3 layout
    (where a feature fires: brow, eyes, mouth) at almost no extra compute, only head parameters.
    """
    if head not in HEADS:
        raise ValueError(f"head must be one of {HEADS}, not {head!r}")
    inputs = keras.Input((input_size, input_size, 1), name="face")
    x = inputs
    for i, w in enumerate(widths):
        x = conv_block(x, w, convs, dropout=0.1 * (i + 1) if i < len(widths) - 1 else 0.0)
    x = layers.GlobalAveragePooling2D()(x) if head == "gap" else layers.Flatten()(x)
    x = layers.Dropout(dropout)(x)
    x = layers.Dense(256, use_bias=False)(x)
    x = layers.BatchNormalization()(x)
    x = layers.Activation("relu")(x)
    x = layers.Dropout(dropout)(x)
    # Softmax in float32 even under mixed precision, for stable probabilities.
    x = layers.Dense(num_classes, dtype="float32", name="logits")(x)
    outputs = layers.Activation("softmax", dtype="float32", name="probs")(x)
    return keras.Model(inputs, outputs, name="moodtune_emotion")


def init_weights(model: keras.Model, path: str | Path) -> None:
    """Warm-start `model` from a saved model of the same depth and widths.

    A pooled head's first dense kernel (C, U) may start a flatten head (H*W*C, U): tiled H*W
    times over 1/(H*W) it computes the same mean, so the warm start keeps the parent's function
    (stage 4 of the served model took this step).
    """
    src = keras.models.load_model(path, compile=False).get_weights()
    dst = model.get_weights()
    if len(src) != len(dst):
        raise ValueError(f"architectures differ: {len(src)} vs {len(dst)} weight tensors")
    out = []
    for s, d in zip(src, dst, strict=True):
        if s.shape == d.shape:
            out.append(s)
        elif s.ndim == d.ndim == 2 and s.shape[1] == d.shape[1] and d.shape[0] % s.shape[0] == 0:
            cells = d.shape[0] // s.shape[0]
            out.append(np.tile(s, (cells, 1)) / cells)
        else:
            raise ValueError(f"cannot map weights of shape {s.shape} onto {d.shape}")
    model.set_weights(out)


def recalibrate_bn(model: keras.Model, x: np.ndarray, batch_size: int = 256) -> None:
    """Recompute every batch-norm layer's moving statistics as their mean over `x`.

    Training gathers them on augmented batches (and averaged weights belong to none of the
    networks averaged); served faces are clean, so they get statistics of clean faces. Dropout
    is switched off meanwhile, as at serving time.
    """
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


def accuracy_plain_and_flip(
    model: keras.Model, x: np.ndarray, y: np.ndarray
) -> tuple[float, float]:
    """(plain accuracy, horizontal-flip TTA accuracy) on preprocessed faces."""
    p = model.predict(x, batch_size=256, verbose=0)
    pf = model.predict(x[:, :, ::-1, :], batch_size=256, verbose=0)
    return float((p.argmax(1) == y).mean()), float(((p + pf).argmax(1) == y).mean())


def serving_model(members: list[keras.Model], input_size: int = 48) -> keras.Model:
    """One graph for the bundle: each member reads its centre crop of the face; probabilities
    are averaged, so an ensemble costs one call."""
    if len(members) == 1 and members[0].input_shape[1] == input_size:
        return members[0]
    inputs = keras.Input((input_size, input_size, 1), name="face")
    outs = []
    for i, m in enumerate(members):
        cut = (input_size - m.input_shape[1]) // 2
        x = layers.Cropping2D(cut)(inputs) if cut else inputs
        outs.append(keras.Model(m.inputs[0], m.outputs[0], name=f"member_{i}")(x))  # unique names
    probs = outs[0] if len(outs) == 1 else layers.Average(dtype="float32")(outs)
    return keras.Model(inputs, probs, name="moodtune_serving")
