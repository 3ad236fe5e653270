"""decode -> detect -> crop -> classify, on real and hostile images."""

from __future__ import annotations

import io
import threading
from collections import Counter

import cv2
import numpy as np
import pytest
from PIL import Image, ImageOps

from bot.replies import error_text
from bot.settings import Settings
from models import fuzz, pipeline
from models.emotion import Emotion
from models.errors import (
    AnimatedImage,
    CorruptImage,
    CostlyImage,
    ImageTooLarge,
    NoFaceFound,
    OddImageShape,
    UnsupportedImage,
)
from models.face import FaceDetector
from models.image import decode_gray, decode_gray_scaled, read_header
from models.pipeline import Analyzer
from models.preprocess import preprocess_batch, preprocess_face
from tests import media


def test_decode_accepts_jpeg_png_webp():
    for data in (media.smiling_jpeg(), media.png_face(), media.webp_face()):
        gray = decode_gray(data)
        assert gray.shape == (512, 512) and gray.dtype == np.uint8


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (b"", CorruptImage),
        (media.PDF_BYTES, UnsupportedImage),
        (b"hello, this is text", UnsupportedImage),
        (media.gif_bytes(), UnsupportedImage),
        (media.truncated_jpeg(), CorruptImage),
        (media.bomb_png(), ImageTooLarge),
    ],
    ids=["empty", "pdf", "text", "gif", "truncated", "bomb"],
)
def test_decode_refuses_bad_input(data, error):
    with pytest.raises(error) as info:
        decode_gray(data)
    assert error_text(info.value, Settings())  # the bot has a friendly message for each


def test_decode_checks_byte_size_before_anything():
    with pytest.raises(ImageTooLarge):
        decode_gray(media.smiling_jpeg(), max_bytes=1000)


def test_decode_checks_pixels_from_header():
    with pytest.raises(ImageTooLarge):
        decode_gray(media.smiling_jpeg(), max_pixels=100_000)


def test_decode_applies_exif_orientation():
    img = Image.fromarray(np.zeros((100, 200), np.uint8))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees when shown
    buf = io.BytesIO()
    img.save(buf, format="JPEG", exif=exif)
    assert decode_gray(buf.getvalue()).shape == (200, 100)


def test_detector_finds_the_face():
    gray = decode_gray(media.smiling_jpeg())
    found = FaceDetector().detect(gray)
    assert found.faces_found == 1
    b = found.box
    assert 150 < b.x + b.w / 2 < 280 and 60 < b.y + b.h / 2 < 180  # the astronaut's face


def test_detector_picks_the_largest_of_several():
    gray = decode_gray(media.two_faces_jpeg())
    found = FaceDetector().detect(gray)
    assert found.faces_found >= 2
    assert found.box.x > 540  # the big face is on the right


def test_detector_finds_small_faces_in_a_second_pass():
    """Small faces are still found (second, finer pass) when no big face is present."""
    img = np.full((1000, 1400, 3), 180, np.uint8)
    img[400:750, 600:930] = cv2.resize(media.astronaut_bgr()[0:300, 100:380], (330, 350))
    found = FaceDetector().detect(decode_gray(media.encode(img)))
    assert 600 <= found.box.x + found.box.w / 2 <= 930
    assert found.box.w < 0.3 * 1000  # too small for the first, coarse pass


def test_detector_raises_when_no_face():
    with pytest.raises(NoFaceFound):
        FaceDetector().detect(decode_gray(media.no_face_png()))


def test_crop_pads_at_image_edges():
    gray = np.full((100, 100), 7, np.uint8)
    from models.emotion import Box

    crop = FaceDetector(margin=0.2).crop(gray, Box(70, 70, 40, 40))
    assert crop.shape == (56, 56)


def test_preprocessing_is_shared_and_consistent():
    faces = np.random.default_rng(0).integers(0, 256, (4, 48, 48), dtype=np.uint8)
    batch = preprocess_batch(faces)
    single = np.stack([preprocess_face(f) for f in faces])
    assert batch.shape == (4, 48, 48, 1) and batch.dtype == np.float32
    np.testing.assert_array_equal(batch, single)
    big = preprocess_face(np.full((300, 300), 255, np.uint8))
    assert big.shape == (48, 48, 1) and big.max() == pytest.approx(1.0)


def test_model_carries_its_own_labels_and_size(analyzer):
    assert analyzer.model.labels == tuple(Emotion)
    assert analyzer.model.input_size == 48


def test_smiling_face_reads_happy(analyzer):
    reading = analyzer.analyze(media.smiling_jpeg())
    assert reading.emotion is Emotion.HAPPY
    assert sum(reading.probabilities.values()) == pytest.approx(1.0, abs=1e-4)
    assert reading.confidence == max(reading.probabilities.values())


def test_real_portraits_from_shared_data(analyzer):
    if not media.YALE.exists():
        pytest.skip("../shared/datasets/yale-faces not present")
    happy = [analyzer.analyze(media.yale("happy", s)).emotion for s in range(1, 16)]
    assert happy.count(Emotion.HAPPY) >= 10


def test_keras_and_litert_agree(analyzer, keras_analyzer):
    faces = [media.smiling_jpeg(), media.yale("sad", 2), media.yale("surprise", 3)]
    for data in faces:
        a, b = analyzer.analyze(data), keras_analyzer.analyze(data)
        assert a.emotion is b.emotion
        for e in Emotion:
            assert a.probabilities[e] == pytest.approx(b.probabilities[e], abs=0.1)


def test_litert_reads_val_as_well_as_keras(analyzer, keras_analyzer):
    """The served LiteRT model keeps what users get from the Keras one on FER2013 val:
    accuracy, every emotion's recall and calibration (training.export's serving bar)."""
    from training.data import load_split
    from training.export import serving_check

    val = load_split(media.SHARED / "fer2013" / "val", "")
    x = preprocess_batch(val.images)
    a, b = analyzer.model.predict_many(x), keras_analyzer.model.predict_many(x)
    check = serving_check(a, b, val.labels)
    assert check["passes"], check
    assert check["top1_agreement"] >= 0.98, check


def test_selfie_framing_finds_one_face_in_the_first_pass():
    gray = decode_gray(media.selfie_1000x750())
    found = FaceDetector(min_face_fracs=(0.3,)).detect(gray)
    assert found.faces_found == 1
    assert 330 < found.box.x + found.box.w / 2 < 580  # the astronaut's face, not her suit


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (media.gray_png(20_000, 16), OddImageShape),
        (media.gray_png(16, 20_000), OddImageShape),
        (media.gray_png(1, 1), OddImageShape),
        (media.gray_png(1001, 100), OddImageShape),
        (media.bomb_png(), ImageTooLarge),
        (fuzz.jpeg_size(media.smiling_jpeg(), 65_535, 65_535), ImageTooLarge),
        (media.gray_png(7000, 7000), ImageTooLarge),
        (media.truncated_jpeg(), CorruptImage),
        (media.png_face()[:-100], CorruptImage),
        (media.webp_face()[:5000], CorruptImage),
        (media.png_with_lying_chunk(), CorruptImage),
        (b"", CorruptImage),
        (media.animated("PNG"), AnimatedImage),
        (media.animated("WEBP"), AnimatedImage),
        (b"hello, this is text", UnsupportedImage),
        (media.PDF_BYTES, UnsupportedImage),
        (media.gif_bytes(), UnsupportedImage),
        (media.pillow_bytes(Image.new("L", (64, 64)), "BMP"), UnsupportedImage),
        (media.pillow_bytes(Image.new("L", (64, 64)), "TIFF"), UnsupportedImage),
    ],
    ids=[
        "20000x16", "16x20000", "1x1", "aspect-10.01", "bomb-png", "bomb-jpeg", "49MP", "truncated-jpeg",
        "truncated-png", "truncated-webp", "chunk-claims-2GB", "empty", "animated-png",
        "animated-webp", "text", "pdf", "gif", "bmp", "tiff",
    ],
)  # fmt: skip
def test_hostile_input_gets_its_domain_error(analyzer, data, error):
    with pytest.raises(error) as info:
        analyzer.analyze(data)
    assert type(info.value) is error
    assert error_text(info.value, Settings())  # the bot has a friendly message for each


def test_aspect_ratio_up_to_ten_is_read():
    """10:1 is the widest accepted; past it OddImageShape (above)."""
    assert decode_gray(media.gray_png(1000, 100)).shape == (100, 1000)
    assert decode_gray(media.gray_png(100, 1000)).shape == (1000, 100)


@pytest.mark.parametrize("shape", [(16, 20_000), (20_000, 16), (30, 5000), (24, 24), (10, 10)])
def test_detector_handles_long_thin_and_tiny_arrays(shape):
    """The root of the 20000x16 traceback: the detector shrank the short side to zero rows."""
    assert FaceDetector().detect_all(np.full(shape, 128, np.uint8)) == []


def test_too_large_message_names_the_limits_in_force():
    with pytest.raises(ImageTooLarge) as info:
        decode_gray(media.smiling_jpeg(), max_bytes=3 * 2**20, max_pixels=100_000)
    text = error_text(info.value, Settings(max_image_bytes=3 * 2**20, max_image_pixels=100_000))
    assert "3 MB and 100,000 pixels" in text


def test_big_png_is_decoded_reduced_in_gray():
    """By the largest power of two (up to 8) that leaves both sides at least 800 px."""
    gray, scale = decode_gray_scaled(media.gray_png(3200, 3200))
    assert gray.shape == (800, 800) and gray.dtype == np.uint8 and scale == 4.0
    gray, scale = decode_gray_scaled(media.gray_png(3200, 2400))
    assert gray.shape == (1200, 1600) and scale == 2.0
    gray, scale = decode_gray_scaled(media.gray_png(1599, 4000))
    assert gray.shape == (4000, 1599) and scale == 1.0


def test_reduced_png_is_read_and_the_face_reported_in_original_pixels(analyzer):
    small = analyzer.analyze(media.png_face())
    big_png = media.pillow_bytes(media.face_pil(2048), "PNG")
    assert read_header(big_png).reduction == 2
    big = analyzer.analyze(big_png)
    assert big.emotion is small.emotion is Emotion.HAPPY
    for a, b in [(big.face.x, small.face.x), (big.face.y, small.face.y)]:
        assert a == pytest.approx(4 * b, abs=40)  # the face, in the 2048 px image's pixels
    assert big.face.w == pytest.approx(4 * small.face.w, rel=0.15)


def test_progressive_jpeg_is_costed_by_its_dct_coefficients():
    """A progressive (or multi-scan) JPEG keeps 2 bytes per DCT coefficient of every component;
    a single-scan one decodes a band at a time, so only the first is refused on a tight budget."""
    face = media.face_pil(1024)
    pixels = 1024 * 1024
    base = read_header(media.pillow_bytes(face, "JPEG", subsampling=0))
    p444 = read_header(media.pillow_bytes(face, "JPEG", subsampling=0, progressive=True))
    p420 = read_header(media.pillow_bytes(face, "JPEG", subsampling=2, progressive=True))
    assert p444.decode_bytes - base.decode_bytes == pytest.approx(6 * pixels, rel=0.01)
    assert p420.decode_bytes - base.decode_bytes == pytest.approx(3 * pixels, rel=0.01)
    budget = base.decode_bytes + pixels
    progressive = media.pillow_bytes(face, "JPEG", progressive=True)
    read_header(media.pillow_bytes(face, "JPEG"), decode_budget=budget)
    with pytest.raises(CostlyImage) as info:
        read_header(progressive, decode_budget=budget)
    assert "as a photo" in error_text(info.value, Settings())


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_is_applied_as_pillow_does(orientation):
    noise = np.random.default_rng(orientation).integers(0, 256, (40, 60), dtype=np.uint8)
    exif = Image.Exif()
    exif[0x0112] = orientation
    data = media.pillow_bytes(Image.fromarray(noise), "JPEG", exif=exif)
    expected = np.asarray(ImageOps.exif_transpose(Image.open(io.BytesIO(data))))
    np.testing.assert_array_equal(decode_gray(data), expected)


def test_png_exif_orientation_is_applied():
    noise = np.random.default_rng(0).integers(0, 256, (40, 60), dtype=np.uint8)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to show
    data = media.pillow_bytes(Image.fromarray(noise), "PNG", exif=exif)
    np.testing.assert_array_equal(decode_gray(data), np.rot90(noise, -1))


def test_decodes_run_at_most_max_decodes_at_once(analyzer, monkeypatch):
    capped = Analyzer(analyzer.model, max_decodes=2)
    state = threading.Condition()
    inside, most, gate = 0, 0, threading.Event()
    real_decode = pipeline.decode

    def held_decode(data, header):
        nonlocal inside, most
        with state:
            inside += 1
            most = max(most, inside)
            state.notify_all()
        gate.wait(timeout=60)
        with state:
            inside -= 1
        return real_decode(data, header)

    monkeypatch.setattr(pipeline, "decode", held_decode)
    results: list = []
    threads = [
        threading.Thread(target=lambda: results.append(capped.analyze(media.png_face())))
        for _ in range(6)
    ]
    try:
        for t in threads:
            t.start()
        with state:
            assert state.wait_for(lambda: inside == 2, timeout=30)
            # A third decode would start at once if the cap let it: give it the chance. (A wait
            # on the condition that would show it, not a sleep; it can only time out here.)
            assert not state.wait_for(lambda: inside > 2, timeout=0.5)
        # A refusal doesn't queue behind the held decodes.
        with pytest.raises(ImageTooLarge):
            capped.analyze(media.bomb_png())
    finally:
        gate.set()
        for t in threads:
            t.join(timeout=60)
    assert most == 2
    assert [r.emotion for r in results] == [Emotion.HAPPY] * 6


def test_fuzzed_images_raise_only_domain_errors(analyzer):
    """100 of models.fuzz's mutants (python -m models.fuzz runs 1,000 and more)."""
    seeds = fuzz.seed_images()
    outcomes = Counter(fuzz.outcome(analyzer, c.data) for c in fuzz.mutants(seeds, 100, seed=7))
    assert not [o for o in outcomes if o.startswith("unhandled")], outcomes
    assert outcomes["ok"] and outcomes["refused:CorruptImage"], outcomes  # both paths reached
