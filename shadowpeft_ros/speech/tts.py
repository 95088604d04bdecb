"""Offline speech synthesis with espeak-ng, and sox helpers to add silence and noise (for tests and demos)."""

from __future__ import annotations

import logging
import shutil
import subprocess
import tempfile
from fractions import Fraction
from pathlib import Path
from typing import Optional, Union

import numpy as np

from .options import SAMPLE_RATE

logger = logging.getLogger("shadowpeft_ros")

PathLike = Union[str, Path]


class TtsError(RuntimeError):
    """espeak-ng or sox is missing or failed."""


def _tool(name: str, package: str) -> str:
    exe = shutil.which(name)
    if exe is None:
        raise TtsError(f"{name} is not installed (apt-get install -y {package})")
    return exe


def espeak_available() -> bool:
    """Return True when espeak-ng is on PATH."""
    return shutil.which("espeak-ng") is not None


def _run(cmd, what: str) -> None:
    try:
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired:
        raise TtsError(f"{what} timed out") from None
    if result.returncode != 0:
        raise TtsError(f"{what} failed ({result.returncode}): {result.stderr.strip()[-500:]}")


def synthesize(text: str, path: PathLike, voice: str = "en", speed_wpm: int = 160, pitch: int = 50,
               amplitude: int = 100, sample_rate: int = SAMPLE_RATE, lead_silence_s: float = 0.0,
               trail_silence_s: float = 0.0) -> Path:
    """Speak ``text`` with espeak-ng into a mono 16-bit WAV at ``sample_rate`` (espeak-ng's 22.05 kHz resampled)."""
    import soundfile
    from scipy.signal import resample_poly

    if not text.strip():
        raise TtsError("nothing to say: the text is empty")
    exe = _tool("espeak-ng", "espeak-ng")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "raw.wav"
        # "--" keeps a text that starts with "-" from being read as an option.
        _run([exe, "-v", voice, "-s", str(int(speed_wpm)), "-p", str(int(pitch)), "-a", str(int(amplitude)),
              "-w", str(raw), "--", text], f"espeak-ng (voice {voice!r})")
        audio, rate = soundfile.read(str(raw), dtype="float32")
    if audio.ndim > 1:
        audio = audio.mean(axis=1)
    if rate != sample_rate:
        ratio = Fraction(sample_rate, rate)
        audio = resample_poly(audio, ratio.numerator, ratio.denominator).astype(np.float32)
    lead = np.zeros(int(round(lead_silence_s * sample_rate)), dtype=np.float32)
    trail = np.zeros(int(round(trail_silence_s * sample_rate)), dtype=np.float32)
    audio = np.clip(np.concatenate([lead, audio, trail]), -1.0, 1.0)
    soundfile.write(str(path), audio, sample_rate, subtype="PCM_16")
    return path


def pad_silence(src: PathLike, dst: PathLike, leading_s: float = 0.0, trailing_s: float = 0.0) -> Path:
    """Write ``src`` with silence before and after it to ``dst`` (sox ``pad``)."""
    exe = _tool("sox", "sox")
    _run([exe, str(src), str(dst), "pad", f"{leading_s:.3f}", f"{trailing_s:.3f}"], "sox pad")
    return Path(dst)


def make_noise(dst: PathLike, duration_s: float, kind: str = "pinknoise", amplitude: float = 0.05,
               sample_rate: int = SAMPLE_RATE) -> Path:
    """Write ``duration_s`` of sox-synthesised noise (whitenoise, pinknoise, brownnoise) to ``dst``."""
    if kind not in ("whitenoise", "pinknoise", "brownnoise"):
        raise ValueError(f"noise kind must be whitenoise, pinknoise or brownnoise, got {kind!r}")
    exe = _tool("sox", "sox")
    _run([exe, "-n", "-r", str(sample_rate), "-c", "1", "-b", "16", str(dst), "synth", f"{duration_s:.3f}", kind,
          "vol", f"{amplitude:.4f}"], "sox synth")
    return Path(dst)


def mix_noise(src: PathLike, dst: PathLike, kind: str = "pinknoise", amplitude: float = 0.05,
              seed: Optional[int] = None) -> Path:
    """Write ``src`` with background noise mixed in to ``dst`` (sox ``-m``), same length and rate."""
    import soundfile

    exe = _tool("sox", "sox")
    info = soundfile.info(str(src))
    with tempfile.TemporaryDirectory() as tmp:
        noise = Path(tmp) / "noise.wav"
        cmd = [exe]
        if seed is not None:
            cmd += ["-R"]  # sox's repeatable mode: same noise on every run
        cmd += ["-n", "-r", str(info.samplerate), "-c", str(info.channels), "-b", "16", str(noise), "synth",
                f"{info.frames / info.samplerate:.3f}", kind, "vol", f"{amplitude:.4f}"]
        _run(cmd, "sox synth")
        # -v 1 on both inputs: sox -m would otherwise halve each to avoid clipping.
        _run([exe, "-m", "-v", "1", str(src), "-v", "1", str(noise), str(dst)], "sox mix")
    return Path(dst)
