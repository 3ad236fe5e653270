"""Round video selfies: frames sampled in memory, limits checked before decoding, readings combined."""

from __future__ import annotations

import io

import cv2
import numpy as np
import pytest

from models.emotion import Emotion
from models.errors import CorruptImage, ImageTooLarge, NoFaceFound, UnsupportedImage
from models.video import VideoTooLong, combine, sample_frames
from tests.media import astronaut_bgr, no_face_png


def mp4(frame_bgr: np.ndarray, seconds: float, fps: int = 10, side: int = 240) -> bytes:
    """An H.264 MP4 made in memory: the picture, drifting a little each frame (a video note)."""
    import av

    buf = io.BytesIO()
    with av.open(buf, mode="w", format="mp4") as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.width = stream.height = side
        stream.pix_fmt = "yuv420p"
        base = cv2.resize(frame_bgr, (side + 20, side + 20))
        for i in range(int(seconds * fps)):
            shift = i % 20
            img = np.ascontiguousarray(base[shift : shift + side, 10 : 10 + side])
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="bgr24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return buf.getvalue()


@pytest.fixture(scope="module")
def analyzer():
    from models.pipeline import Analyzer

    return Analyzer.load("litert")


def test_a_video_note_with_a_face_is_read_from_a_few_frames(analyzer):
    clip = mp4(astronaut_bgr(), seconds=3)
    frames = sample_frames(clip, frames=5)
    assert len(frames) == 5 and all(f.ndim == 2 and f.shape == (240, 240) for f in frames)
    assert len({f.tobytes() for f in frames}) == 5  # spread over the clip, not one frame
    reading = combine([analyzer.analyze_gray(f) for f in frames])
    assert reading.emotion is Emotion.HAPPY
    assert analyzer.analyze_video(clip) == reading
    assert sum(reading.probabilities.values()) == pytest.approx(1.0, abs=1e-4)


def test_a_video_without_a_face_says_so(analyzer):
    blank = cv2.imdecode(np.frombuffer(no_face_png(), np.uint8), cv2.IMREAD_COLOR)
    with pytest.raises(NoFaceFound):
        analyzer.analyze_video(mp4(blank, seconds=2))
    with pytest.raises(NoFaceFound):
        combine([])


def test_limits_are_checked_before_decoding():
    long_clip = mp4(astronaut_bgr(), seconds=25, fps=2)
    with pytest.raises(VideoTooLong):
        sample_frames(long_clip, max_seconds=20)
    with pytest.raises(ImageTooLarge):
        sample_frames(long_clip, max_bytes=len(long_clip) - 1)
    with pytest.raises(UnsupportedImage):
        sample_frames(b"%PDF-1.4 not a video at all" * 10)
    with pytest.raises(CorruptImage):
        sample_frames(b"")
    clip = mp4(astronaut_bgr(), seconds=2)
    with pytest.raises((CorruptImage, UnsupportedImage)):
        sample_frames(clip[: len(clip) // 4])  # cut short: the index at the end is missing
