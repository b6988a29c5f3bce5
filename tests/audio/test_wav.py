"""WAV reading (all encodings, errors), resampling, downmixing and atomic writing."""

from __future__ import annotations

import struct
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from kitsu_tui.audio.resample import FrameChunker, StreamResampler, resample, to_mono
from kitsu_tui.audio.wav import AudioFileError, load_wav, read_wav, write_wav


def _wav_bytes(
    payload: bytes, tag: int, channels: int, rate: int, bits: int, extensible: bool = False
) -> bytes:
    """Build a RIFF/WAVE file by hand so every encoding can be tested without other libraries."""
    align = channels * bits // 8
    if extensible:
        sub = struct.pack("<H", tag) + b"\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"
        fmt = struct.pack("<HHIIHH", 0xFFFE, channels, rate, rate * align, align, bits)
        fmt += struct.pack("<HHI", 22, bits, 0) + sub
    else:
        fmt = struct.pack("<HHIIHH", tag, channels, rate, rate * align, align, bits)
    chunks = b"fmt " + struct.pack("<I", len(fmt)) + fmt
    chunks += b"LIST" + struct.pack("<I", 4) + b"INFO"  # an unrelated chunk must be skipped
    chunks += b"data" + struct.pack("<I", len(payload)) + payload
    return b"RIFF" + struct.pack("<I", 4 + len(chunks)) + b"WAVE" + chunks


def _tone(rate: int, seconds: float, freq: float = 440.0, amp: float = 0.5) -> np.ndarray:
    """A sine wave as float64."""
    t = np.arange(int(rate * seconds)) / rate
    return amp * np.sin(2 * np.pi * freq * t)


def _peak_freq(samples: np.ndarray, rate: int) -> float:
    """Frequency of the strongest FFT bin."""
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(samples.size)))
    return float(np.fft.rfftfreq(samples.size, 1.0 / rate)[int(np.argmax(spectrum))])


@pytest.mark.parametrize(
    ("tag", "bits", "encode"),
    [
        (1, 8, lambda x: (np.round(x * 127) + 128).astype(np.uint8).tobytes()),
        (1, 16, lambda x: np.round(x * 32767).astype("<i2").tobytes()),
        (1, 24, lambda x: b"".join(int(v).to_bytes(3, "little", signed=True) for v in np.round(x * 8388607))),
        (1, 32, lambda x: np.round(x * 2147483647).astype("<i4").tobytes()),
        (3, 32, lambda x: x.astype("<f4").tobytes()),
        (3, 64, lambda x: x.astype("<f8").tobytes()),
    ],
)
@pytest.mark.parametrize("extensible", [False, True])
def test_reads_every_encoding_as_float_mono(
    tmp_path: Path, tag: int, bits: int, encode: Callable[[np.ndarray], bytes], extensible: bool
) -> None:
    """8/16/24/32-bit PCM and 32/64-bit float, plain and extensible headers, decode to the same signal."""
    signal = _tone(8000, 0.05)
    path = tmp_path / "x.wav"
    path.write_bytes(_wav_bytes(encode(signal), tag, 1, 8000, bits, extensible))
    samples, rate = read_wav(path)
    assert rate == 8000
    assert samples.dtype == np.float32
    assert samples.shape == signal.shape
    tolerance = 0.02 if bits == 8 else 1e-3
    assert np.max(np.abs(samples - signal)) < tolerance


def test_stereo_is_averaged_to_mono(tmp_path: Path) -> None:
    """Left 0.5 and right -0.1 become 0.2."""
    frames = np.stack([np.full(100, 0.5), np.full(100, -0.1)], axis=1)
    path = tmp_path / "s.wav"
    path.write_bytes(_wav_bytes(np.round(frames * 32767).astype("<i2").tobytes(), 1, 2, 16000, 16))
    samples, _ = read_wav(path)
    assert samples.shape == (100,)
    assert np.allclose(samples, 0.2, atol=1e-3)


def test_load_wav_resamples_to_16k_and_keeps_pitch(tmp_path: Path) -> None:
    """A 44.1 kHz stereo 440 Hz tone comes out as 16 kHz mono at 440 Hz with the same duration."""
    tone = _tone(44100, 1.0)
    stereo = np.stack([tone, tone], axis=1)
    path = tmp_path / "t.wav"
    path.write_bytes(_wav_bytes(np.round(stereo * 32767).astype("<i2").tobytes(), 1, 2, 44100, 16))
    samples = load_wav(path)
    assert abs(samples.size - 16000) <= 2
    assert abs(_peak_freq(samples, 16000) - 440.0) < 2.0
    assert 0.3 < float(np.sqrt(np.mean(samples**2))) < 0.4  # RMS of a 0.5 sine is 0.354


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "x.wav: empty file (0 bytes)"),
        (b"ID3\x04hello this is an mp3 really", "x.wav: not a WAV file (RIFF header missing)"),
        (b"RIFF\x04\x00\x00\x00WAVE", "x.wav: corrupt WAV file (no 'fmt ' chunk)"),
    ],
)
def test_unreadable_files_give_one_line(tmp_path: Path, content: bytes, message: str) -> None:
    """Empty, non-WAV and headerless files raise AudioFileError naming the file and the cause."""
    path = tmp_path / "x.wav"
    path.write_bytes(content)
    with pytest.raises(AudioFileError) as info:
        read_wav(path)
    assert str(info.value) == str(tmp_path / message)
    assert "\n" not in str(info.value)
    assert isinstance(info.value, ValueError)


def test_no_frames_missing_file_and_unsupported_encoding(tmp_path: Path) -> None:
    """A data chunk with no samples, a missing path and A-law each get their own readable cause."""
    empty = tmp_path / "x.wav"
    empty.write_bytes(_wav_bytes(b"", 1, 1, 16000, 16))
    with pytest.raises(AudioFileError, match=r"x\.wav: no audio frames$"):
        read_wav(empty)
    with pytest.raises(AudioFileError, match=r"missing\.wav: file not found$"):
        read_wav(tmp_path / "missing.wav")
    alaw = tmp_path / "a.wav"
    alaw.write_bytes(_wav_bytes(b"\x00" * 100, 6, 1, 8000, 8))
    with pytest.raises(AudioFileError, match=r"a\.wav: unsupported WAV encoding \(format 0x0006, 8-bit\)"):
        read_wav(alaw)


def test_write_wav_round_trips_atomically(tmp_path: Path) -> None:
    """write_wav produces a 16-bit file read_wav gets back, and leaves no temporary file behind."""
    signal = _tone(22050, 0.3).astype(np.float32)
    target = tmp_path / "out" / "reply.wav"
    write_wav(target, signal, 22050)
    samples, rate = read_wav(target)
    assert rate == 22050
    assert np.max(np.abs(samples - signal)) < 1e-4
    assert [p.name for p in target.parent.iterdir()] == ["reply.wav"]
    header = target.read_bytes()[:44]
    assert struct.unpack("<HHIIHH", header[20:36]) == (1, 1, 22050, 44100, 2, 16)


def test_stream_resampler_matches_whole_clip_resampling() -> None:
    """Resampling 48 kHz in 30 ms blocks gives the same tone (and length) as one-shot resampling."""
    tone = _tone(48000, 1.0).astype(np.float32)
    stream = StreamResampler(48000, 16000)
    blocks = [stream.process(tone[i : i + 1440]) for i in range(0, tone.size, 1440)]
    blocks.append(stream.process(np.zeros(0, dtype=np.float32), last=True))
    joined = np.concatenate(blocks)
    assert abs(joined.size - 16000) <= 2
    assert abs(_peak_freq(joined, 16000) - 440.0) < 2.0
    whole = resample(tone, 48000, 16000)
    assert np.max(np.abs(joined[200:15000] - whole[200:15000])) < 1e-3


def test_to_mono_and_chunker() -> None:
    """to_mono averages channels; the chunker re-cuts odd blocks into exact 512-sample frames in order."""
    assert np.allclose(to_mono(np.array([[1.0, 0.0], [0.5, 0.5]])), [0.5, 0.5])
    chunker = FrameChunker(512)
    data = np.arange(2000, dtype=np.float32)
    frames = chunker.push(data[:700]) + chunker.push(data[700:1300]) + chunker.push(data[1300:])
    assert [f.size for f in frames] == [512, 512, 512]
    assert np.array_equal(np.concatenate(frames), data[:1536])
    assert chunker.pending == 2000 - 1536
