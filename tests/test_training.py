"""Training, resuming and exporting on a tiny generated fer2013.csv: the whole chain, quickly."""

from __future__ import annotations

import json

import numpy as np
import pytest

from models.emotion import FER2013_ORDER
from training.data import load_split


def write_fer_csv(path, per_split: dict[str, int], seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    lines = ["emotion,pixels,Usage"]
    for usage, n in per_split.items():
        for i in range(n):
            label = i % 7
            img = rng.integers(0, 256, 48 * 48)
            img[: 48 * (label + 1) * 4] = 255  # a learnable hint per class
            lines.append(f"{label},{' '.join(map(str, img))},{usage}")
    path.write_text("\n".join(lines) + "\n")


@pytest.fixture
def toy_fer(tmp_path, monkeypatch):
    """Write a tiny fer2013.csv (Training and PublicTest sizes given) with a private cache."""
    monkeypatch.setenv("MOODTUNE_CACHE", str(tmp_path / "cache"))

    def make(train: int, val: int):
        path = tmp_path / "fer2013.csv"
        write_fer_csv(path, {"Training": train, "PublicTest": val})
        return path

    return make


def test_csv_and_folder_layouts_load_the_same_way(tmp_path):
    csv_path = tmp_path / "fer2013.csv"
    write_fer_csv(csv_path, {"Training": 14, "PublicTest": 7, "PrivateTest": 7})
    train, val, test = (load_split(csv_path, s) for s in ("train", "val", "test"))
    assert (len(train), len(val), len(test)) == (14, 7, 7)
    assert train.images.shape == (14, 48, 48) and train.images.dtype == np.uint8
    import cv2

    root = tmp_path / "folders" / "val"
    for i, (img, label) in enumerate(zip(val.images, val.labels, strict=True)):
        folder = root / FER2013_ORDER[label].value
        folder.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(folder / f"PublicTest_{i}.png"), img)
    folder_split = load_split(tmp_path / "folders", "val")
    assert sorted(folder_split.labels.tolist()) == sorted(val.labels.tolist())


@pytest.mark.timeout(600)
def test_train_resume_export_promote_serve(tmp_path, toy_fer):
    from training import export, promote, train

    csv_path = toy_fer(140, 70)
    run = tmp_path / "run"
    args = ["--data", str(csv_path), "--out", str(run), "--widths", "8", "8", "8", "8"]
    args += ["--init", "", "--batch-size", "32"]
    assert train.main([*args, "--epochs", "1"]) == 0
    assert json.loads((run / "state.json").read_text())["epoch"] == 1
    # Same command with more epochs continues from the checkpoint.
    assert train.main([*args, "--epochs", "2"]) == 0
    log = (run / "log.csv").read_text().splitlines()
    assert [row.split(",")[0] for row in log[1:]] == ["1", "2"]
    # Export writes into the run's own folder, never into the tree.
    assert export.main(["--run", str(run), "--data", str(csv_path)]) == 0
    bundle = run / "bundle"
    meta = json.loads((bundle / "emotion.json").read_text())
    assert meta["labels"] == [e.value for e in FER2013_ORDER] and meta["input_size"] == 48
    assert meta["run"]["bn_recalibrated_on"] == 140  # statistics of clean training faces
    assert meta["run"]["recipe"]["widths"] == [8, 8, 8, 8]
    # Export reads val through the written bundle and checks it against Keras. This 2-epoch toy
    # model gives near-uniform probabilities, so float16 rounding may flip a near-tie; the
    # probability gap is what float16 must hold here, and test_pipeline holds the real model
    # to the whole serving bar on FER2013 val.
    check = meta["metrics"]["serving_check"]
    assert check["max_prob_gap"] <= 0.01, check
    # Promotion is the explicit step that changes what is served.
    served = tmp_path / "weights"
    assert promote.main([str(bundle), "--to", str(served)]) == 0
    from models.pipeline import Analyzer

    reading = Analyzer.load("litert", str(served)).classify_crop(np.zeros((48, 48), np.uint8))
    assert sum(reading.probabilities.values()) == pytest.approx(1.0, abs=1e-4)
    assert promote.main([str(tmp_path / "nothing"), "--to", str(served)]) == 1

    # A later session continues from the served weights: a warm restart in a new run, which
    # may also swap the pooled head for the flatten one and still start at the same function.
    import keras

    from training.model import build_model, init_weights

    fresh = build_model(widths=(8, 8, 8, 8))
    init_weights(fresh, served / "emotion.keras")
    exported = keras.models.load_model(served / "emotion.keras", compile=False)
    for a, b in zip(fresh.get_weights(), exported.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    warm = tmp_path / "warm"
    warm_args = ["--data", str(csv_path), "--out", str(warm), "--widths", "8", "8", "8", "8"]
    init = ["--init", str(served / "emotion.keras")]
    assert train.main([*warm_args, *init, "--epochs", "1"]) == 0
    assert export.main(["--run", str(warm), "--data", str(csv_path)]) == 0
    warm_meta = json.loads((warm / "bundle" / "emotion.json").read_text())
    assert warm_meta["run"]["warm_start_from"] == meta["run"]
    assert warm_meta["architecture"]["head"] == "flatten"


def test_flatten_head_starts_exactly_where_the_pooled_model_was(tmp_path):
    from training.model import build_model, init_weights

    rng = np.random.default_rng(0)
    pooled = build_model(widths=(8, 8, 8, 8), head="gap")
    pooled.set_weights([rng.normal(0, 0.5, w.shape).astype("float32") for w in pooled.weights])
    # Batch-norm variances must stay positive for a meaningful comparison.
    pooled.set_weights([np.abs(w) if "variance" in v.path else w for v, w in
                        zip(pooled.weights, pooled.get_weights(), strict=True)])  # fmt: skip
    pooled.save(tmp_path / "pooled.keras")
    flat = build_model(widths=(8, 8, 8, 8), head="flatten")
    assert flat.count_params() > pooled.count_params()
    init_weights(flat, tmp_path / "pooled.keras")
    x = rng.random((16, 48, 48, 1)).astype("float32")
    np.testing.assert_allclose(
        flat(x, training=False).numpy(), pooled(x, training=False).numpy(), atol=1e-5
    )
    with pytest.raises(ValueError, match="cannot map"):
        init_weights(build_model(widths=(8, 8, 8, 16)), tmp_path / "pooled.keras")


def test_recipes_are_files_and_flags_override_them(tmp_path):
    from pathlib import Path

    from training.config import Config, parse_args

    assert parse_args([]) == Config()  # the defaults are the served recipe (stage 6)
    assert Config.from_file("training/recipes/stage6_clean.toml") == Config()
    recipe = tmp_path / "r.toml"
    recipe.write_text('epochs = 3\nwidths = [4, 8, 8, 16]\nhead = "gap"\n')
    cfg = parse_args(["--recipe", str(recipe), "--epochs", "5", "--lr", "0.01"])
    assert (cfg.epochs, cfg.widths, cfg.head, cfg.lr) == (5, [4, 8, 8, 16], "gap", 0.01)
    recipe.write_text("epoch = 3\n")
    with pytest.raises(ValueError, match="unknown keys"):
        Config.from_file(recipe)
    for path in sorted(Path("training/recipes").glob("*.toml")):
        Config.from_file(path)  # every committed recipe parses


def test_ferplus_votes_move_a_share_of_each_target(tmp_path):
    from training.augment import ferplus_votes, targets
    from training.data import Split

    votes = tmp_path / "votes.csv"
    cols = "neutral,happiness,surprise,sadness,anger,disgust,fear,contempt,unknown,NF"
    votes.write_text(
        f"file,{cols}\n"
        "train/angry/Training_1.jpg,2,0,0,0,6,0,0,1,1,0\n"  # contempt/unknown have no class
        "train/fear/Training_2.jpg,0,0,0,0,0,0,0,0,5,5\n"  # nothing usable: keeps its label
    )
    split = Split(
        np.zeros((3, 48, 48), np.uint8), np.array([0, 2, 3]),
        ("/x/train/angry/Training_1.jpg", "/x/train/fear/Training_2.jpg", "/x/train/happy/T_3.jpg"),
    )  # fmt: skip
    v = ferplus_votes(split, votes)
    np.testing.assert_allclose(v[0], [0.75, 0, 0, 0, 0, 0, 0.25])  # angry 6, neutral 2 of 8
    assert not v[1].any() and not v[2].any()
    y = targets(split.labels, v, 0.4)
    np.testing.assert_allclose(y[0], [0.6 + 0.3, 0, 0, 0, 0, 0, 0.1])
    np.testing.assert_array_equal(y[1:], np.eye(7)[[2, 3]])
    np.testing.assert_array_equal(targets(split.labels, v, 0.0), np.eye(7)[split.labels])


@pytest.mark.timeout(600)
def test_crop_runs_and_ensembles_are_served_as_one_graph(tmp_path, toy_fer):
    import keras

    from training import export, train
    from training.augment import centre_crop, train_dataset

    x = np.random.default_rng(0).random((8, 48, 48, 1)).astype("float32")
    np.testing.assert_array_equal(centre_crop(x, 44), x[:, 2:46, 2:46])
    ds = train_dataset(x, np.eye(7, dtype="float32")[[0] * 8], np.ones(8, "float32"),
                       batch_size=4, erase_prob=0.0, crop=44, seed=0)  # fmt: skip
    assert next(iter(ds))[0].shape == (4, 44, 44, 1)

    csv_path = toy_fer(70, 35)
    base = ["--data", str(csv_path), "--widths", "8", "8", "8", "8", "--init", "", "--epochs", "1"]
    assert train.main([*base, "--out", str(tmp_path / "a")]) == 0
    assert train.main([*base, "--out", str(tmp_path / "b"), "--crop", "44", "--optimizer", "sgd",
                       "--lr", "0.01", "--weight-decay", "5e-4"]) == 0  # fmt: skip
    bundle = tmp_path / "ens"
    runs = [str(tmp_path / "a"), str(tmp_path / "b")]
    assert export.main(["--run", *runs, "--out", str(bundle), "--data", str(csv_path)]) == 0
    meta = json.loads((bundle / "emotion.json").read_text())
    assert [m["crop"] for m in meta["architecture"]["ensemble"]] == [0, 44]
    assert len(meta["run"]["ensemble"]) == 2
    # The served graph is the mean of the members, each on its own centre crop.
    served = keras.models.load_model(bundle / "emotion.keras", compile=False)
    from models.preprocess import preprocess_batch

    faces = preprocess_batch(load_split(csv_path, "train").images)  # as export recalibrates
    a, b = (export.load_member(tmp_path / r, "best.weights.h5", faces, True)[0] for r in "ab")
    want = (a(x, training=False) + b(centre_crop(x, 44), training=False)) / 2
    np.testing.assert_allclose(served(x, training=False), want, atol=1e-5)


@pytest.mark.timeout(600)
def test_weight_averaging_run_averages_epochs_resumes_and_exports(tmp_path, toy_fer):
    import keras

    from training import export, train

    csv_path = toy_fer(140, 70)
    run = tmp_path / "run"
    args = ["--data", str(csv_path), "--out", str(run), "--widths", "8", "8", "8", "8"]
    args += ["--init", "", "--swa-from", "2"]

    def trainable(path):
        m = keras.models.load_model(path, compile=False)
        return [v.numpy() for v in m.trainable_weights]

    assert train.main([*args, "--epochs", "2"]) == 0
    w2 = trainable(run / "last.keras")
    for avg, w in zip(trainable(run / "swa.keras"), w2, strict=True):
        np.testing.assert_array_equal(avg, w)  # one epoch averaged: that epoch's weights
    # Stopped and started again: epoch 3 joins the average the checkpoint carried.
    assert train.main([*args, "--epochs", "3"]) == 0
    w3 = trainable(run / "last.keras")
    for avg, a, b in zip(trainable(run / "swa.keras"), w2, w3, strict=True):
        np.testing.assert_allclose(avg, (a + b) / 2, atol=1e-6)
    assert json.loads((run / "state.json").read_text())["swa_n"] == 2
    rows = (run / "log.csv").read_text().splitlines()
    header = rows[0].split(",")
    assert [r.split(",")[header.index("swa_n")] for r in rows[1:]] == ["", "1", "2"]
    assert export.main(["--run", str(run), "--data", str(csv_path), "--weights", "swa.keras"]) == 0
    swa_meta = json.loads((run / "bundle" / "emotion.json").read_text())["run"]
    assert swa_meta["weights"] == "swa.keras" and swa_meta["swa_averaged_epochs"] == 2
    assert swa_meta["epochs_trained"] == 3


def test_recalibrated_batch_norm_holds_the_statistics_of_the_data():
    import keras
    from keras import layers

    from training.model import recalibrate_bn

    inputs = keras.Input((4, 4, 1))
    x = layers.Conv2D(3, 3, padding="same")(inputs)
    x = layers.Dropout(0.5)(x)
    x = layers.BatchNormalization(momentum=0.9)(x)
    model = keras.Model(inputs, x)
    data = np.random.default_rng(0).normal(2.0, 3.0, (64, 4, 4, 1)).astype("float32")
    feats = model.layers[1](data).numpy()  # the conv output: what the BN layer sees
    bn = model.layers[-1]
    # One batch: exactly the data's mean and variance. Several: the mean over the batches.
    recalibrate_bn(model, data, batch_size=64)
    np.testing.assert_allclose(bn.moving_mean.numpy(), feats.mean((0, 1, 2)), rtol=1e-4)
    np.testing.assert_allclose(bn.moving_variance.numpy(), feats.var((0, 1, 2)), rtol=1e-4)
    recalibrate_bn(model, data, batch_size=16)
    halves = feats.reshape(4, 16, 4, 4, 3)
    np.testing.assert_allclose(bn.moving_mean.numpy(), feats.mean((0, 1, 2)), rtol=1e-4)
    np.testing.assert_allclose(bn.moving_variance.numpy(), halves.var((1, 2, 3)).mean(0), rtol=1e-4)
    assert bn.momentum == 0.9 and model.layers[2].rate == 0.5


def test_full_integer_export_is_served_and_measured(tmp_path, toy_fer):
    from training import export, train

    csv_path = toy_fer(70, 35)
    run, bundle = tmp_path / "run", tmp_path / "int8"
    args = ["--data", str(csv_path), "--out", str(run), "--widths", "8", "8", "8", "8"]
    args += ["--init", "", "--epochs", "1"]
    assert train.main(args) == 0
    out = ["--run", str(run), "--out", str(bundle), "--data", str(csv_path)]
    assert export.main([*out, "--tflite", "int8-full"]) == 0
    meta = json.loads((bundle / "emotion.json").read_text())
    assert meta["tflite_weights"] == "int8-full"
    assert set(meta["metrics"]["serving_check"]) == {
        "accuracy_drop", "max_recall_drop", "ece_rise", "top1_agreement", "max_prob_gap", "passes"
    }  # fmt: skip
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_path=str(bundle / "emotion.tflite"))
    types = {d["dtype"].__name__ for d in interp.get_tensor_details()}
    assert "int8" in types  # activations too, not only weights


def test_auto_precision_follows_the_cpu(tmp_path):
    from training.train import resolve_precision

    amx, plain = tmp_path / "amx", tmp_path / "plain"
    amx.write_text("flags\t: fpu avx512f avx512_bf16 amx_bf16 amx_tile\n")
    plain.write_text("flags\t: fpu avx512f avx512_bf16\n")
    assert resolve_precision("auto", str(amx)) == "mixed_bfloat16"
    assert resolve_precision("auto", str(plain)) == "float32"
    assert resolve_precision("auto", str(tmp_path / "missing")) == "float32"
    assert resolve_precision("mixed_bfloat16", str(plain)) == "mixed_bfloat16"


def test_temperature_is_applied_only_when_it_lowers_calibration_error():
    from models.classifier import calibrate
    from training.export import choose_temperature, expected_calibration_error

    rng = np.random.default_rng(0)
    labels = rng.integers(0, 7, 4000)
    logits = rng.normal(0, 1, (4000, 7))
    logits[np.arange(4000), labels] += 1.5
    honest = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    # Sharpen: the same ranking, said with too much confidence; a temperature above 1 fixes it.
    overconfident = calibrate(honest, 0.4)
    t = choose_temperature(overconfident, labels)
    assert t > 1.5
    assert expected_calibration_error(
        calibrate(overconfident, t), labels
    ) < expected_calibration_error(overconfident, labels)
    # Labels drawn from the probabilities themselves: already calibrated, so (about) no change.
    sampled = np.array([rng.choice(7, p=row) for row in honest])
    assert choose_temperature(honest, sampled) == pytest.approx(1.0, abs=0.1)
