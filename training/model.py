"""The emotion CNN: VGG-style blocks with batch norm, sized to train on a CPU."""

from __future__ import annotations

import keras
from keras import layers

HEADS = ("gap", "flatten")


def conv_block(x, filters: int, convs: int, dropout: float, wd: float):
    for _ in range(convs):
        x = layers.Conv2D(filters, 3, padding="same", use_bias=False, kernel_regularizer=None)(x)
        x = layers.BatchNormalization()(x)
        x = layers.Activation("relu")(x)
    x = layers.MaxPooling2D()(x)
    if dropout:
        x = layers.Dropout(dropout)(x)
    return x


def build_model(
    input_size: int = 48,
    num_classes: int = 7,
    widths: tuple[int, ...] = (64, 128, 256, 512),
    convs: int = 2,
    dropout: float = 0.4,
    head: str = "gap",
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
        x = conv_block(x, w, convs, dropout=0.1 * (i + 1) if i < len(widths) - 1 else 0.0, wd=0)
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
