"""Read any RIFF/WAVE file (PCM 8/16/24/32-bit, float 32/64, extensible) into float32 mono; write 16-bit WAVs atomically."""

from __future__ import annotations

import os
import struct
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from kitsu_tui.audio.base import PIPELINE_RATE, Audio
from kitsu_tui.audio.resample import resample, to_mono

FORMAT_PCM = 0x0001
FORMAT_FLOAT = 0x0003
FORMAT_EXTENSIBLE = 0xFFFE


class AudioFileError(ValueError):
    """An audio file cannot be used; str() is one line naming the file and the cause."""


@dataclass(frozen=True, slots=True)
class WavFormat:
    """The fields of a WAV 'fmt ' chunk that decoding needs."""

    format_tag: int
    channels: int
    rate: int
    bits: int


def _parse_fmt(name: str, chunk: bytes) -> WavFormat:
    """Decode a 'fmt ' chunk, resolving WAVE_FORMAT_EXTENSIBLE to its sub-format."""
    if len(chunk) < 16:
        raise AudioFileError(f"{name}: corrupt WAV file ('fmt ' chunk is {len(chunk)} bytes)")
    tag, channels, rate, _byte_rate, _align, bits = struct.unpack("<HHIIHH", chunk[:16])
    if tag == FORMAT_EXTENSIBLE:
        if len(chunk) < 40:
            raise AudioFileError(f"{name}: corrupt WAV file (short WAVE_FORMAT_EXTENSIBLE header)")
        tag = struct.unpack("<H", chunk[24:26])[0]
    if channels < 1:
        raise AudioFileError(f"{name}: WAV header says {channels} channels")
    if rate < 1:
        raise AudioFileError(f"{name}: WAV header says sample rate {rate}")
    return WavFormat(tag, channels, rate, bits)


def _read_chunks(name: str, data: bytes) -> tuple[WavFormat, bytes]:
    """Walk the RIFF chunks and return the format and the raw sample bytes."""
    if len(data) < 12 or data[:4] not in (b"RIFF", b"RF64") or data[8:12] != b"WAVE":
        raise AudioFileError(f"{name}: not a WAV file (RIFF header missing)")
    fmt: WavFormat | None = None
    samples: bytes | None = None
    pos = 12
    while pos + 8 <= len(data):
        chunk_id = data[pos : pos + 4]
        size = struct.unpack("<I", data[pos + 4 : pos + 8])[0]
        body = data[pos + 8 : pos + 8 + size]
        if chunk_id == b"fmt ":
            fmt = _parse_fmt(name, body)
        elif chunk_id == b"data":
            samples = body  # a truncated data chunk keeps what is there, like most players
        pos += 8 + size + (size & 1)
    if fmt is None:
        raise AudioFileError(f"{name}: corrupt WAV file (no 'fmt ' chunk)")
    if samples is None:
        raise AudioFileError(f"{name}: corrupt WAV file (no 'data' chunk)")
    return fmt, samples


def _decode(name: str, fmt: WavFormat, raw: bytes) -> npt.NDArray[np.float32]:
    """Turn raw interleaved sample bytes into a float32 (frames, channels) array in [-1, 1]."""
    width = fmt.bits // 8
    if fmt.bits % 8 or width == 0:
        raise AudioFileError(f"{name}: unsupported WAV sample size {fmt.bits} bits")
    usable = len(raw) - len(raw) % (width * fmt.channels)
    raw = raw[:usable]
    if fmt.format_tag == FORMAT_FLOAT and width in (4, 8):
        values = np.frombuffer(raw, dtype="<f4" if width == 4 else "<f8").astype(np.float32)
        values = np.nan_to_num(values, nan=0.0, posinf=1.0, neginf=-1.0)
    elif fmt.format_tag == FORMAT_PCM and width == 1:
        values = (np.frombuffer(raw, dtype=np.uint8).astype(np.float32) - 128.0) / 128.0
    elif fmt.format_tag == FORMAT_PCM and width == 2:
        values = np.frombuffer(raw, dtype="<i2").astype(np.float32) / 32768.0
    elif fmt.format_tag == FORMAT_PCM and width == 3:
        b = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 3).astype(np.int32)
        ints = b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)
        ints = np.where(ints >= 1 << 23, ints - (1 << 24), ints)
        values = ints.astype(np.float32) / float(1 << 23)
    elif fmt.format_tag == FORMAT_PCM and width == 4:
        values = (np.frombuffer(raw, dtype="<i4").astype(np.float64) / float(1 << 31)).astype(np.float32)
    else:
        kind = {FORMAT_PCM: "PCM", FORMAT_FLOAT: "float"}.get(
            fmt.format_tag, f"format 0x{fmt.format_tag:04x}"
        )
        raise AudioFileError(
            f"{name}: unsupported WAV encoding ({kind}, {fmt.bits}-bit); convert it to 16-bit PCM, e.g. "
            f"ffmpeg -i in.wav -c:a pcm_s16le out.wav"
        )
    return values.reshape(-1, fmt.channels)


def read_wav(path: str | os.PathLike[str]) -> tuple[Audio, int]:
    """Read a WAV file as float32 mono (channels averaged) and return it with its own sample rate."""
    name = str(path)
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise AudioFileError(f"{name}: file not found") from None
    except IsADirectoryError:
        raise AudioFileError(f"{name}: is a directory, not a WAV file") from None
    except OSError as exc:
        raise AudioFileError(f"{name}: cannot read file ({exc.strerror or exc})") from None
    if not data:
        raise AudioFileError(f"{name}: empty file (0 bytes)")
    fmt, raw = _read_chunks(name, data)
    frames = _decode(name, fmt, raw)
    if frames.shape[0] == 0:
        raise AudioFileError(f"{name}: no audio frames")
    return to_mono(frames), fmt.rate


def load_wav(path: str | os.PathLike[str], rate: int = PIPELINE_RATE) -> Audio:
    """Read a WAV file as float32 mono resampled to `rate` (16 kHz by default, what VAD and ASR want)."""
    samples, file_rate = read_wav(path)
    return resample(samples, file_rate, rate)


def write_wav(path: str | os.PathLike[str], samples: Audio, rate: int) -> Path:
    """Write mono float samples as a 16-bit PCM WAV via a temporary file and an atomic rename."""
    target = Path(path)
    mono = np.asarray(samples, dtype=np.float32).reshape(-1)
    pcm = (np.clip(np.nan_to_num(mono), -1.0, 1.0) * 32767.0).round().astype("<i2").tobytes()
    header = b"RIFF" + struct.pack("<I", 36 + len(pcm)) + b"WAVE"
    header += b"fmt " + struct.pack("<IHHIIHH", 16, FORMAT_PCM, 1, int(rate), int(rate) * 2, 2, 16)
    header += b"data" + struct.pack("<I", len(pcm))
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(header)
            handle.write(pcm)
        os.replace(tmp_name, target)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return target
