"""Audio checks of the corpus stage: read each file once, and compare it with what its header says.

libsndfile reads whatever a truncated file still holds, so a WAV cut inside its data chunk would
pass at a fraction of its duration. The container states the length: the RIFF ``data`` chunk its
size in bytes, FLAC's STREAMINFO (and other formats' headers) the number of frames. A file shorter
than it declares is corrupt.
"""

from __future__ import annotations

import os
import struct

import numpy as np
import soundfile as sf

from emocue.corpus.records import AudioInfo

# A data chunk size streaming writers leave when they cannot seek back to fill it in.
_UNKNOWN_SIZES = (0, 0xFFFFFFFF)


def wav_data_sizes(path: str) -> tuple[int, int] | None:
    """(declared, present) bytes of a RIFF/WAVE file's `data` chunk; None if not RIFF/WAVE or the
    size is left unset (0 or 0xFFFFFFFF)."""
    with open(path, "rb") as handle:
        header = handle.read(12)
        if len(header) < 12 or header[:4] != b"RIFF" or header[8:12] != b"WAVE":
            return None
        file_size = os.fstat(handle.fileno()).st_size
        offset = 12
        while offset + 8 <= file_size:
            handle.seek(offset)
            chunk_id, chunk_size = struct.unpack("<4sI", handle.read(8))
            if chunk_id == b"data":
                if chunk_size in _UNKNOWN_SIZES:
                    return None
                return chunk_size, file_size - offset - 8
            offset += 8 + chunk_size + (chunk_size & 1)  # chunks are padded to an even size
    return None


def truncation(path: str, declared_frames: int, frames_read: int) -> str | None:
    """Why the file is shorter than its header says, or None."""
    sizes = wav_data_sizes(path)
    if sizes is not None and sizes[1] < sizes[0]:
        return (f"truncated audio: the WAV header declares {sizes[0]} data bytes, "
                f"the file holds {sizes[1]}")
    if frames_read < declared_frames:
        return f"truncated audio: the header declares {declared_frames} frames, {frames_read} could be read"
    return None


def probe_audio(path: str, min_duration_s: float) -> tuple[AudioInfo | None, str | None]:
    """Read the whole file once (catches truncated/corrupt data): its info, or the reason it is bad."""
    if not os.path.isfile(path):
        return None, "missing audio file"
    try:
        with sf.SoundFile(path) as audio:
            declared_frames, sample_rate = audio.frames, audio.samplerate
            samples = audio.read(dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, ValueError, TypeError) as error:
        return None, f"unreadable audio: {error}"
    num_frames, num_channels = samples.shape
    truncated = truncation(path, declared_frames, num_frames)
    if truncated:
        return None, truncated
    if num_frames == 0:
        return None, "zero-length audio"
    if not np.isfinite(samples).all():
        return None, "unreadable audio: non-finite samples (NaN/inf)"
    duration_s = num_frames / sample_rate
    if duration_s < min_duration_s:
        return None, (f"audio too short for one feature frame ({duration_s * 1000:.1f} ms "
                      f"< {min_duration_s * 1000:g} ms)")
    return AudioInfo(duration_s, int(sample_rate), int(num_channels)), None
