"""Round video selfies: a handful of frames decoded in memory from untrusted video bytes.

Telegram video notes are square MP4 (H.264) clips of up to a minute; we read short ones (and
short ordinary videos) from a few evenly spaced frames. Size, duration and frame size are
checked from the container before any frame is decoded, and nothing touches the disk.
"""

from __future__ import annotations

import io

import numpy as np

from models.emotion import FaceReading
from models.errors import CorruptImage, ImageTooLarge, NoFaceFound, UnsupportedImage

DEFAULT_MAX_VIDEO_BYTES = 20 * 1024 * 1024
DEFAULT_MAX_SECONDS = 20.0
DEFAULT_FRAMES = 5
MAX_FRAME_PIXELS = 1920 * 1080


class VideoTooLong(UnsupportedImage):
    """The clip runs longer than we read."""


def sample_frames(
    data: bytes,
    frames: int = DEFAULT_FRAMES,
    max_bytes: int = DEFAULT_MAX_VIDEO_BYTES,
    max_seconds: float = DEFAULT_MAX_SECONDS,
) -> list[np.ndarray]:
    """Up to `frames` grayscale frames spread over the clip (uint8 arrays, upright as stored)."""
    import av  # PyAV: FFmpeg's demuxers and decoders, in memory

    if not data:
        raise CorruptImage("empty video")
    if len(data) > max_bytes:
        raise ImageTooLarge(f"{len(data)} bytes > {max_bytes}")
    try:
        container = av.open(io.BytesIO(data), mode="r")
    except (av.error.FFmpegError, ValueError) as e:
        raise UnsupportedImage(f"not a readable video: {e}") from None
    with container:
        if not container.streams.video:
            raise UnsupportedImage("no video stream")
        stream = container.streams.video[0]
        ctx = stream.codec_context
        if not ctx.width or not ctx.height or ctx.width * ctx.height > MAX_FRAME_PIXELS:
            raise ImageTooLarge(f"{ctx.width}x{ctx.height} frames")
        seconds = _duration(container, stream)
        if seconds is not None and seconds > max_seconds:
            raise VideoTooLong(f"{seconds:.1f} s > {max_seconds:.0f} s")
        stream.thread_type = "AUTO"
        # Decode forward once and keep the frames nearest the evenly spaced targets: video
        # notes are short, and seeking in a clip held in memory saves little.
        span = seconds if seconds else max_seconds
        targets = [span * (i + 0.5) / frames for i in range(frames)]
        picked: list[np.ndarray] = []
        try:
            for frame in container.decode(stream):
                t = float(frame.time) if frame.time is not None else 0.0
                if t > max_seconds:
                    raise VideoTooLong(f"still playing at {t:.1f} s")
                if targets and t >= targets[0]:
                    picked.append(frame.to_ndarray(format="gray"))
                    while targets and t >= targets[0]:
                        targets.pop(0)
                if not targets:
                    break
        except av.error.FFmpegError as e:
            if not picked:
                raise CorruptImage(f"undecodable video: {e}") from None
    if not picked:
        raise CorruptImage("no frames decoded")
    return picked


def _duration(container, stream) -> float | None:
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / 1_000_000  # microseconds (av.time_base)
    return None


def combine(readings: list[FaceReading]) -> FaceReading:
    """One reading from several frames: probabilities averaged, the largest face's box kept."""
    if not readings:
        raise NoFaceFound("no face in any frame")
    emotions = list(readings[0].probabilities)
    mean = {e: float(np.mean([r.probabilities[e] for r in readings])) for e in emotions}
    top = max(mean, key=mean.__getitem__)
    face = max((r.face for r in readings), key=lambda b: b.area)
    return FaceReading(top, mean[top], mean, face, max(r.faces_found for r in readings))
