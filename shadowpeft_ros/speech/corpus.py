"""A spoken test corpus synthesised with espeak-ng: varied robot commands, voices, speeds, silence and noise.

Used by the speech tests and the speech benchmark, so both measure the same audio. Nothing is
committed: the corpus is rebuilt from text in a few seconds.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import List, Optional

from .tts import make_noise, mix_noise, pad_silence, synthesize

COMMANDS = (
    "walk forward two meters",
    "turn left",
    "sit down",
    "go back half a meter",
    "turn right ninety degrees",
    "lie down",
    "stand up",
    "walk forward slowly",
    "turn around",
    "do a little dance",
    "wave your paw",
    "move to the left one meter",
    "spin around twice",
    "walk backward three steps",
    "take a stretch",
    "go forward and then sit",
    "turn left and walk forward",
    "move right fifty centimeters",
    "stand up and wave",
    "walk forward one meter quickly",
    "wait five seconds then sit",
    "what is the weather like today",
    "come here",
    "go to the kitchen",
)

VOICES = ("en-us", "en-gb", "en-us+f3", "en-gb-x-rp")
SPEEDS = (140, 165, 190)


@dataclass
class Clip:
    """One corpus file and what was said in it ("" for silence or noise only)."""

    path: str
    text: str
    voice: str = ""
    speed_wpm: int = 0
    lead_s: float = 0.0
    trail_s: float = 0.0
    noise: str = ""


def build_commands(directory: Path, texts=COMMANDS, start_index: int = 0) -> List[Clip]:
    """Synthesise every text with a rotating voice and speed; every third gets long silences, every fourth noise."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    clips = []
    for i, text in enumerate(texts, start=start_index):
        voice, speed = VOICES[i % len(VOICES)], SPEEDS[i % len(SPEEDS)]
        lead, trail = (1.5, 2.0) if i % 3 == 0 else (0.3, 0.3)
        path = directory / f"{i:02d}.wav"
        synthesize(text, path, voice=voice, speed_wpm=speed)
        pad_silence(path, path.with_suffix(".pad.wav"), lead, trail)
        path.with_suffix(".pad.wav").replace(path)
        noise = ""
        if i % 4 == 1:
            noise = "pinknoise"
            mix_noise(path, path.with_suffix(".noisy.wav"), kind=noise, amplitude=0.03, seed=i)
            path.with_suffix(".noisy.wav").replace(path)
        clips.append(Clip(str(path), text, voice, speed, lead, trail, noise))
    return clips


def build_non_speech(directory: Path) -> List[Clip]:
    """Write clips that must yield no utterance: digital silence, and steady white, pink and brown noise."""
    import numpy as np
    import soundfile

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    silence = directory / "silence.wav"
    soundfile.write(str(silence), np.zeros(16000 * 4, dtype=np.float32), 16000, subtype="PCM_16")
    clips = [Clip(str(silence), "")]
    for kind, amplitude in (("whitenoise", 0.05), ("pinknoise", 0.1), ("brownnoise", 0.3)):
        path = make_noise(directory / f"{kind}.wav", 4.0, kind=kind, amplitude=amplitude)
        clips.append(Clip(str(path), "", noise=kind))
    return clips


def write_manifest(clips: List[Clip], path: Path) -> None:
    Path(path).write_text(json.dumps([asdict(c) for c in clips], indent=1))


def word_error_rate(references: List[str], hypotheses: List[str], normalizer: Optional[object] = None) -> float:
    """Return the corpus WER with Whisper's English normaliser applied to both sides (so "2" equals "two")."""
    import jiwer

    if normalizer is None:
        from whisper.normalizers import EnglishTextNormalizer

        normalizer = EnglishTextNormalizer()
    refs = [normalizer(r) for r in references]
    hyps = [normalizer(h) for h in hypotheses]
    return float(jiwer.wer(refs, hyps))
