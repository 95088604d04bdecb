"""A spoken test corpus synthesised with espeak-ng: varied robot commands, voices, speeds, silence and noise.

Used by the speech tests and the speech benchmark, so both measure the same audio. Nothing is
committed: the corpus is rebuilt from text in a few seconds.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import List

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


# ----------------------------------------------------------------------------------- room noise and held-out speech
# Noise a room makes, built with sox and espeak-ng (nothing recorded is committed): a fan (brown
# noise with a low-passed mains hum and a slow tremolo) and babble (several espeak-ng voices saying
# unrelated things at once). White noise alone flatters a recogniser: it masks no formants.

BABBLE_TEXTS = (
    "The train to the city leaves at half past nine from platform four, so we should hurry.",
    "I think the soup needs a little more salt and perhaps some pepper as well.",
    "Yesterday the library was closed because of the holiday, which nobody told me about.",
    "Could you pass me the newspaper, I want to read about the football results.",
    "My sister is painting the kitchen yellow, and honestly it looks quite nice.",
    "They say it will rain all weekend, so the picnic has been moved indoors.",
)
BABBLE_VOICES = ("en-us", "en-gb", "en-us+f2", "en-gb-scotland", "en-029", "en-us+f3")

# Held-out check of the bias: sentences and voices that neither eval/cases.jsonl nor the bias text
# were written from. Numbers in words on purpose: biasing pulls them toward command words.
HELD_OUT_COMMANDS = (
    "turn right forty five degrees",
    "walk forward seventy centimeters",
    "please move back three and a half feet",
    "rotate left one hundred and eighty degrees",
    "sit down and then wave hello",
    "lie down on the rug",
    "take two steps to the right",
    "spin around three times",
    "wait ten seconds and then stand up",
    "jog ahead twelve meters",
    "shuffle sideways to the left",
    "go back two yards slowly",
    "come over here and sit",
    "turn left sixty five degrees and walk forward",
    "give me a big stretch",
    "dance for me",
)
HELD_OUT_OTHER = (
    "what time is it in tokyo",
    "tell me a joke about cats",
    "the weather is lovely this morning",
    "I left my keys in the car",
)
HELD_OUT_VOICES = ("en-gb-x-gbclan", "en-gb-x-gbcwmd", "en-us+m4", "en-gb+f4")
STOP_PHRASES = ("stop", "stop now", "halt", "dog, stop", "freeze", "stop it", "emergency stop", "stop moving")
NOT_STOP_PHRASES = ("walk forward", "sit down", "turn left", "stand up", "go back a bit", "wave your paw",
                    "step to the right", "lie down")


def make_fan_noise(path: Path, duration_s: float = 30.0, seed: int = 1) -> Path:
    """Write a fan-like noise: brown noise plus a 120 Hz hum, low-passed, with a slow tremolo (sox)."""
    from .tts import _run, _tool

    exe = _tool("sox", "sox")
    _run([exe, "-R", "-n", "-r", "16000", "-c", "1", "-b", "16", str(path), "synth", f"{duration_s:.2f}",
          "brownnoise", "synth", f"{duration_s:.2f}", "sine", "mix", "120", "lowpass", "1200", "tremolo", "7", "20",
          "vol", "0.5"], "sox fan noise")
    return Path(path)


def make_babble_noise(path: Path, duration_s: float = 30.0) -> Path:
    """Write babble: six espeak-ng voices speaking unrelated sentences at once, looped to ``duration_s``."""
    import numpy as np
    import soundfile

    n = int(duration_s * 16000)
    mix = np.zeros(n, dtype=np.float32)
    with tempfile.TemporaryDirectory() as tmp:
        for i, (voice, text) in enumerate(zip(BABBLE_VOICES, BABBLE_TEXTS)):
            clip = synthesize(text, Path(tmp) / f"{i}.wav", voice=voice, speed_wpm=150 + 10 * i)
            audio = soundfile.read(str(clip), dtype="float32")[0]
            audio = np.roll(np.resize(audio, n), i * 7919)  # each talker starts elsewhere in its sentence
            mix += audio / (np.sqrt(np.mean(audio ** 2)) + 1e-9)
    mix *= 0.1 / (np.sqrt(np.mean(mix ** 2)) + 1e-9)
    soundfile.write(str(path), np.clip(mix, -1, 1), 16000, subtype="PCM_16")
    return Path(path)


def speech_rms(audio) -> float:
    """Return the RMS of the speech in ``audio``: samples of 20 ms frames within 30 dB of the loudest frame."""
    import numpy as np

    frames = audio[: len(audio) // 320 * 320].reshape(-1, 320)
    energy = np.mean(frames ** 2, axis=1)
    active = energy > energy.max() * 1e-3
    return float(np.sqrt(np.mean(energy[active]))) if active.any() else 0.0


def mix_at_snr(speech, noise, snr_db: float, offset: int = 0):
    """Return ``speech`` with ``noise`` (looped from ``offset``) mixed in at ``snr_db`` against the speech's RMS."""
    import numpy as np

    part = np.resize(np.roll(noise, -offset), len(speech))
    gain = speech_rms(speech) / (float(np.sqrt(np.mean(part ** 2))) + 1e-12) / (10 ** (snr_db / 20))
    mixed = speech + gain * part
    peak = float(np.max(np.abs(mixed)))
    # Scale down rather than clip: a real recording at this SNR would have been made at a lower gain.
    return (mixed / peak * 0.95 if peak > 0.95 else mixed).astype(np.float32)


def build_held_out(directory: Path) -> List[Clip]:
    """Synthesise the held-out sentences in voices that eval/cases.jsonl does not use."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    clips = []
    for i, text in enumerate(HELD_OUT_COMMANDS + HELD_OUT_OTHER):
        voice, speed = HELD_OUT_VOICES[i % len(HELD_OUT_VOICES)], (145, 160, 175)[i % 3]
        path = synthesize(text, directory / f"held-{i:02d}.wav", voice=voice, speed_wpm=speed,
                          lead_silence_s=0.4, trail_silence_s=0.4)
        clips.append(Clip(str(path), text, voice, speed, 0.4, 0.4))
    return clips


def build_stop_set(directory: Path) -> List[Clip]:
    """Synthesise stop phrases and non-stop commands, two voices each (one eval voice, one held-out)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    clips = []
    for i, text in enumerate(STOP_PHRASES + NOT_STOP_PHRASES):
        for j, voice in enumerate(("en-us", HELD_OUT_VOICES[i % len(HELD_OUT_VOICES)])):
            path = synthesize(text, directory / f"stop-{i:02d}-{j}.wav", voice=voice, speed_wpm=170,
                              lead_silence_s=0.4, trail_silence_s=0.4)
            clips.append(Clip(str(path), text, voice, 170, 0.4, 0.4))
    return clips


def trim_silence(audio, threshold: float = 0.01):
    """Return ``audio`` without its leading and trailing near-silence (espeak-ng pads each clip by about 0.35 s)."""
    import numpy as np

    loud = np.nonzero(np.abs(audio) > threshold)[0]
    return audio[loud[0]:loud[-1] + 1] if len(loud) else audio[:0]


def pause_command(first, second, pause_s: float = 0.4, rate: int = 16000):
    """Return two halves of a command joined by exactly ``pause_s`` of silence, with silence around them."""
    import numpy as np

    pad = np.zeros(int(pause_s * rate), dtype=np.float32)
    lead = np.zeros(int(0.4 * rate), dtype=np.float32)
    return np.concatenate([lead, trim_silence(first), pad, trim_silence(second), lead, lead])
