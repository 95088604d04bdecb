"""Real ASR noise for training: generated sentences spoken by espeak-ng and transcribed by the robot's Whisper.

The hand-made confusion table in ``data.asr_noise`` guesses what Whisper gets wrong. This module
measures it instead: a share of the train split is spoken in several espeak-ng voices, rates,
pitches and noise levels, transcribed with the recogniser and settings the robot itself uses (the
``speech`` section of ``config/dog.yaml``), and the transcripts are kept with the clean targets.

The transcripts are cached as one JSON line per example, because speaking and transcribing costs a
few tenths of a second per sentence. The file is append-only and flushed after every line, so an
interrupted build resumes where it stopped. Its directory is named by a hash of everything that
decides its content (the generator's output, the seed, voices, rates, pitches, noise and Whisper
settings): a changed generator or a new Whisper default gets a fresh cache instead of stale
transcripts. ``n`` is not part of the hash: the generator and the per-example choices are
prefix-stable, so a larger ``n`` extends the same file and a smaller one reads its first lines.

Nothing here imports rclpy. Build with ``shadowpeft data asr``; training calls
``load_asr_examples(asr_cache_path(AsrDataOptions(...)))``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import logging
import os
import random
import re
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple, Union

from . import data
from .data import Example

logger = logging.getLogger("shadowpeft_ros")

PathLike = Union[str, Path]

# Bump when the way clips are made changes (padding, mixing, spoken form), so old caches are not reused.
ASR_DATA_VERSION = 1
BUILD_COMMAND = "shadowpeft data asr"
DEFAULT_CACHE_ROOT = Path("runs") / "asr-cache"
CACHE_FILE = "examples.jsonl"
OPTIONS_FILE = "options.json"
GENERATOR_PROBE = 50  # examples whose texts and targets fingerprint the generator
NOISE_KINDS = ("whitenoise", "pinknoise", "brownnoise")
NOISE_BUFFER_S = 60.0

# espeak-ng's own voices and variants, none of them one that eval/make_cases.py speaks the
# evaluation audio in (en-us, en-gb, en-gb-scotland, en-029, en-us-nyc, en-gb-x-rp, en-gb+m3,
# en-us+f2, en-us+f3) nor one of speech/corpus.py's, so the audio evaluation stays a held-out voice test.
DEFAULT_VOICES = ("en-us+m1", "en-us+f4", "en-us+m4", "en-gb+f1", "en-gb+m2", "en-gb+f5", "en-gb-x-gbclan",
                  "en-gb-x-gbcwmd", "en-gb-x-rp+m6", "en-us+klatt")
DEFAULT_RATES = (130, 145, 160, 175, 190, 200)
DEFAULT_PITCHES = (35, 50, 65)
# kind:SNR in dB against the speech's RMS. The evaluation audio has pink noise at about 22-27 dB and
# brown at 13-18 dB; the lower levels here are harder than anything it contains.
DEFAULT_NOISES = ("pinknoise:20", "pinknoise:10", "brownnoise:15", "brownnoise:6", "whitenoise:18")
# Fields of AsrOptions that cannot change a transcript, so they stay out of the cache key.
ASR_FIELDS_NOT_HASHED = ("cpu_threads", "warmup", "low_confidence_threshold", "allow_download")

_VOICE_NAME = re.compile(r"^[a-z]{2,3}(?:-[a-zA-Z0-9]+)*(?:\+[A-Za-z0-9_-]+)?$")


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise ValueError(message)


def parse_noise(spec: str) -> Optional[Tuple[str, float]]:
    """Parse a noise level "kind:snr_db" (e.g. "pinknoise:20") into (kind, snr); "none" means clean audio."""
    if spec == "none":
        return None
    kind, sep, snr = spec.partition(":")
    _check(sep == ":" and kind in NOISE_KINDS, f"noise levels read kind:snr_db with kind in {NOISE_KINDS} "
                                               f"(e.g. pinknoise:20) or 'none', got {spec!r}")
    try:
        value = float(snr)
    except ValueError:
        raise ValueError(f"noise level {spec!r}: the SNR must be a number of dB") from None
    _check(-10.0 <= value <= 60.0, f"noise level {spec!r}: the SNR must be -10..60 dB")
    return kind, value


@dataclass
class AsrDataOptions:
    """Which training sentences are spoken, how, and which recogniser transcribes them."""

    n: int = field(default=2000, metadata={
        "help": "Train examples to speak (the first n of data.generate('train', n, seed)); a larger n extends "
                "an existing cache, a smaller one reads its first n lines."})
    seed: int = field(default=0, metadata={
        "help": "Seed of the generator and of each example's voice, rate and noise."})
    voices: Tuple[str, ...] = field(default=DEFAULT_VOICES, metadata={
        "help": "espeak-ng voices, optionally with a variant (en-us+m1). The defaults avoid every voice the "
                "evaluation audio uses."})
    rates: Tuple[int, ...] = field(default=DEFAULT_RATES, metadata={"help": "Speaking rates in words per minute."})
    pitches: Tuple[int, ...] = field(default=DEFAULT_PITCHES, metadata={"help": "espeak-ng pitches (0-99, 50 normal)."})
    noises: Tuple[str, ...] = field(default=DEFAULT_NOISES, metadata={
        "help": "Background noise levels as kind:snr_db (whitenoise, pinknoise, brownnoise), mixed into the "
                "examples that are not clean."})
    clean_share: float = field(default=0.4, metadata={"help": "Share of examples spoken without noise."})
    lead_silence_s: float = field(default=0.2, metadata={
        "help": "Audio before the speech, about what the speech node's VAD pre-roll keeps."})
    trail_silence_s: float = field(default=0.3, metadata={
        "help": "Audio after the speech, about the VAD post-roll plus the end-of-speech silence."})
    params_file: str = field(default="", metadata={
        "help": "ROS parameter file whose 'speech' section gives the Whisper settings; empty means the package's "
                "config/dog.yaml, so the cache follows the robot's recogniser."})
    asr_overrides: Dict[str, Any] = field(default_factory=dict, metadata={
        "help": "AsrOptions fields set over the parameter file's (e.g. {'model': DIR, 'cpu_threads': 1})."})

    def __post_init__(self):
        self.voices, self.rates, self.pitches = tuple(self.voices), tuple(self.rates), tuple(self.pitches)
        self.noises = tuple(self.noises)
        self.asr_overrides = dict(self.asr_overrides)
        _check(0 <= self.n <= 1_000_000, f"n must be 0..1000000, got {self.n}")
        _check(bool(self.voices), "voices must name at least one espeak-ng voice")
        for voice in self.voices:
            _check(isinstance(voice, str) and bool(_VOICE_NAME.match(voice)),
                   f"{voice!r} is not an espeak-ng voice name (language[-region][+variant], e.g. en-us+m1)")
        _check(bool(self.rates) and all(80 <= r <= 450 for r in self.rates),
               f"rates must be 80..450 words per minute, got {self.rates}")
        _check(bool(self.pitches) and all(0 <= p <= 99 for p in self.pitches),
               f"pitches must be 0..99, got {self.pitches}")
        _check(0.0 <= self.clean_share <= 1.0, f"clean_share must be 0..1, got {self.clean_share}")
        _check(self.clean_share == 1.0 or bool(self.noises), "noises must not be empty unless clean_share is 1")
        for spec in self.noises:
            _check(parse_noise(spec) is not None, "'none' is not a noise level: set clean_share instead")
        _check(0.0 <= self.lead_silence_s <= 5.0, f"lead_silence_s must be 0..5 s, got {self.lead_silence_s}")
        _check(0.0 <= self.trail_silence_s <= 5.0, f"trail_silence_s must be 0..5 s, got {self.trail_silence_s}")
        from ..speech.options import AsrOptions

        known = {f.name for f in dataclasses.fields(AsrOptions)}
        unknown = sorted(set(self.asr_overrides) - known)
        _check(not unknown, f"asr_overrides names unknown AsrOptions fields {unknown}; known are {sorted(known)}")

    def asr_options(self):
        """Return the AsrOptions the robot's speech node would use, with ``asr_overrides`` applied."""
        from ..params_file import load_params_file
        from ..paths import default_params_file
        from ..speech.options import AsrOptions

        path = Path(self.params_file) if self.params_file else default_params_file()
        speech = load_params_file(path).get("speech", {})
        known = {f.name for f in dataclasses.fields(AsrOptions)}
        values = {k: v for k, v in speech.items() if k in known}
        values.update(self.asr_overrides)
        return AsrOptions(**values)

    def pick(self, index: int) -> Tuple[str, int, int, str]:
        """Return (voice, rate, pitch, noise) of example ``index``: fixed by the seed, whatever n is."""
        rng = random.Random(f"shadowpeft-asr-data:{self.seed}:{index}")
        voice, rate, pitch = rng.choice(self.voices), rng.choice(self.rates), rng.choice(self.pitches)
        noise = "none" if rng.random() < self.clean_share else rng.choice(self.noises)
        return voice, rate, pitch, noise


def asr_identity(asr_options) -> Dict[str, Any]:
    """Return the recogniser settings that can change a transcript (recorded per line and hashed)."""
    values = dataclasses.asdict(asr_options)
    return {k: v for k, v in sorted(values.items()) if k not in ASR_FIELDS_NOT_HASHED}


def generator_fingerprint(seed: int = 0) -> str:
    """Hash the first examples the generator makes, so any change to its output is noticed."""
    digest = hashlib.sha256()
    for e in data.generate("train", GENERATOR_PROBE, seed, asr_noise_share=0.0):
        digest.update(json.dumps([e.text, e.attached, e.detached, e.kind, list(e.templates)]).encode())
    return digest.hexdigest()[:16]


def cache_settings(options: AsrDataOptions) -> Dict[str, Any]:
    """Return everything that decides the cache's content (n excepted: the cache is prefix-stable)."""
    return {"version": ASR_DATA_VERSION, "generator": generator_fingerprint(options.seed), "seed": options.seed,
            "voices": list(options.voices), "rates": list(options.rates), "pitches": list(options.pitches),
            "noises": list(options.noises), "clean_share": options.clean_share,
            "lead_silence_s": options.lead_silence_s, "trail_silence_s": options.trail_silence_s,
            "asr": asr_identity(options.asr_options())}


def cache_key(options: AsrDataOptions) -> str:
    """Return the cache directory name for ``options``: a hash of ``cache_settings``."""
    blob = json.dumps(cache_settings(options), sort_keys=True).encode()
    return f"seed{options.seed}-{hashlib.sha256(blob).hexdigest()[:12]}"


def asr_cache_path(options: AsrDataOptions, root: Optional[PathLike] = None) -> Path:
    """Return the JSONL file that holds (or will hold) the transcripts for ``options``, without building it."""
    return Path(root if root is not None else DEFAULT_CACHE_ROOT) / cache_key(options) / CACHE_FILE


# ----------------------------------------------------------------------------------------- spoken form

_NUMBER_WORDS = ("zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
                 "sixteen seventeen eighteen nineteen twenty thirty forty fifty sixty seventy eighty ninety "
                 "hundred").split()
# Written unit -> (singular, plural) as said aloud. "in" is absent: the generator always spells inches.
_SPOKEN_UNITS = {
    "m/s": ("meter per second", "meters per second"), "cm": ("centimeter", "centimeters"),
    "mm": ("millimeter", "millimeters"), "m": ("meter", "meters"), "ft": ("foot", "feet"), "yd": ("yard", "yards"),
    "deg": ("degree", "degrees"), "secs": ("second", "seconds"), "sec": ("second", "seconds"),
    "s": ("second", "seconds"), "mins": ("minute", "minutes"), "min": ("minute", "minutes"),
}
_UNIT_AFTER_NUMBER = re.compile(
    r"(?<![\w.])(\d+(?:\.\d+)?|" + "|".join(_NUMBER_WORDS) + r")(\s+)("
    + "|".join(re.escape(u) for u in sorted(_SPOKEN_UNITS, key=len, reverse=True)) + r")(?![\w/])",
    re.IGNORECASE)


def spoken_form(text: str) -> str:
    """Return what a person says for a generated sentence: written units after a number become words.

    The generator writes some quantities as a transcript would ("0.3 m", "8 ft", "at 0.2 m/s");
    espeak-ng would read those letters out ("em", "eff tee"). Digits stay: espeak-ng reads them
    as numbers.
    """
    def expand(match: re.Match) -> str:
        number, space, unit = match.groups()
        singular, plural = _SPOKEN_UNITS[unit.lower()]
        return f"{number}{space}{singular if number.lower() in ('1', 'one') else plural}"

    return _UNIT_AFTER_NUMBER.sub(expand, text)


# --------------------------------------------------------------------------------------------- building


def _model_input(text: str) -> str:
    from .normalise import normalise_utterance

    return normalise_utterance(text)


def numbers_changed(said: str, heard: str) -> bool:
    """Return True when the numbers of a transcript differ from what was said (once both are normalised)."""
    find = lambda text: re.findall(r"\d+(?:\.\d+)?", _model_input(text))  # noqa: E731
    return find(said) != find(heard)


def _words(text: str) -> str:
    """Return the words the model reads, without case or punctuation: what a transcript error changes."""
    from ..speech.wer import normalise_transcript

    return normalise_transcript(_model_input(text))


def transcript_wer(references: Sequence[str], hypotheses: Sequence[str]) -> Optional[float]:
    """Return the corpus WER after the interpreter's normaliser, i.e. on what the model reads.

    Both sides pass ``normalise_utterance`` first, so "zero point three meters" and Whisper's
    "0.3 meters." count as equal; then ``speech.wer.word_error_rate`` scores them.
    """
    from ..speech.wer import word_error_rate

    return word_error_rate([_model_input(r) for r in references], [_model_input(h) for h in hypotheses])


def _complete_lines(path: Path) -> int:
    """Return the number of complete lines in ``path``, cutting off a last line that a crash left unfinished."""
    if not path.is_file():
        return 0
    with open(path, "rb+") as f:
        content = f.read()
        end = content.rfind(b"\n") + 1
        if end != len(content):
            logger.warning("%s: dropping an unfinished last line (%d bytes) before resuming", path, len(content) - end)
            f.truncate(end)
    return content[:end].count(b"\n")


def _read_lines(path: Path) -> Iterator[dict]:
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                yield json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}:{number}: not a JSON line ({exc}); rebuild with `{BUILD_COMMAND}`") from None


@contextlib.contextmanager
def _exclusive(directory: Path):
    """Hold a lock on the cache directory, so two builds never interleave their lines."""
    import fcntl

    with open(directory / ".lock", "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RuntimeError(f"another build is writing {directory}; wait for it or stop it") from None
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def check_voices(voices: Sequence[str]) -> None:
    """Raise ValueError for a voice or variant espeak-ng does not have (it would silently fall back)."""
    def listed(kind: str) -> List[List[str]]:
        out = subprocess.run(["espeak-ng", f"--voices={kind}"], capture_output=True, text=True, timeout=30).stdout
        return [line.split() for line in out.splitlines()[1:] if line.split()]

    languages = {row[1] for row in listed("en")}
    variants = {row[4].rsplit("/", 1)[-1].lower() for row in listed("variant") if len(row) >= 5}
    for voice in voices:
        language, _, variant = voice.partition("+")
        if language not in languages:
            raise ValueError(f"espeak-ng has no English voice {language!r}; see `espeak-ng --voices=en`")
        if variant and variant.lower() not in variants:
            raise ValueError(f"espeak-ng has no variant {variant!r} (in {voice!r}); see `espeak-ng --voices=variant`")


class Speaker:
    """Speak one sentence into 16 kHz float32 audio with a voice, rate, pitch and noise level."""

    def __init__(self, options: AsrDataOptions, tmp: Path):
        self.options = options
        self.tmp = tmp
        self.noise: Dict[str, Any] = {}

    def _noise_buffer(self, kind: str):
        """Return a minute of sox noise at full scale, the same on every run (sox's repeatable mode)."""
        import numpy as np
        import soundfile

        from ..speech.options import SAMPLE_RATE
        from ..speech.tts import mix_noise

        if kind not in self.noise:
            silence = self.tmp / "silence.wav"
            soundfile.write(str(silence), np.zeros(int(NOISE_BUFFER_S * SAMPLE_RATE), np.float32), SAMPLE_RATE,
                            subtype="PCM_16")
            # Noise mixed into silence is the noise: the one sox helper with a repeatable seed.
            path = mix_noise(silence, self.tmp / f"{kind}.wav", kind=kind, amplitude=1.0, seed=0)
            self.noise[kind], _ = soundfile.read(str(path), dtype="float32")
        return self.noise[kind]

    def speak(self, text: str, index: int, voice: str, rate: int, pitch: int, noise: str):
        import numpy as np
        import soundfile

        from ..speech.options import SAMPLE_RATE
        from ..speech.tts import synthesize

        path = synthesize(text, self.tmp / "clip.wav", voice=voice, speed_wpm=rate, pitch=pitch)
        speech, _ = soundfile.read(str(path), dtype="float32")
        lead = np.zeros(int(round(self.options.lead_silence_s * SAMPLE_RATE)), np.float32)
        trail = np.zeros(int(round(self.options.trail_silence_s * SAMPLE_RATE)), np.float32)
        audio = np.concatenate([lead, speech, trail])
        level = parse_noise(noise)
        if level is None:
            return audio
        kind, snr_db = level
        buffer = self._noise_buffer(kind)
        if len(buffer) < len(audio):
            buffer = np.tile(buffer, len(audio) // len(buffer) + 1)
        start = random.Random(f"shadowpeft-asr-noise:{self.options.seed}:{index}").randrange(
            len(buffer) - len(audio) + 1)
        segment = buffer[start:start + len(audio)]
        speech_rms = float(np.sqrt(np.mean(speech ** 2))) if len(speech) else 0.0
        noise_rms = float(np.sqrt(np.mean(segment ** 2))) or 1.0
        gain = speech_rms / (noise_rms * 10 ** (snr_db / 20))
        return np.clip(audio + gain * segment, -1.0, 1.0).astype(np.float32)


def build_asr_cache(options: AsrDataOptions, out_dir: Optional[PathLike] = None, progress: bool = True) -> Path:
    """Speak and transcribe the first ``options.n`` train examples into the cache, resuming a partial one.

    Return the JSONL file. ``out_dir`` is the cache root (default ``runs/asr-cache``, git-ignored);
    the file lies in a subdirectory named by ``cache_key``. A complete cache returns at once,
    without loading Whisper.
    """
    path = asr_cache_path(options, out_dir)
    directory = path.parent
    directory.mkdir(parents=True, exist_ok=True)
    settings = cache_settings(options)
    settings_file = directory / OPTIONS_FILE
    if not settings_file.is_file():
        settings_file.write_text(json.dumps(settings, indent=1) + "\n")
    with _exclusive(directory):
        done = _complete_lines(path)
        examples = data.generate("train", max(options.n, done), options.seed, asr_noise_share=0.0)
        lines = _read_lines(path) if done else iter(())
        for i, line in enumerate(lines):
            if line.get("text") != examples[i].text:
                raise RuntimeError(f"{path}:{i + 1} holds {line.get('text')!r} where the generator now makes "
                                   f"{examples[i].text!r}; delete {directory} and rebuild with `{BUILD_COMMAND}`")
        if done >= options.n:
            return path
        _build_lines(options, settings["asr"], examples, done, path, progress)
    return path


def _build_lines(options: AsrDataOptions, asr_settings: Dict[str, Any], examples: List[Example], done: int,
                 path: Path, progress: bool) -> None:
    from ..speech.asr import load_backend
    from ..speech.tts import TtsError, espeak_available

    if not espeak_available():
        raise TtsError("espeak-ng is not installed (apt-get install -y espeak-ng)")
    check_voices(options.voices)
    asr_options = options.asr_options()
    backend = load_backend(asr_options)
    logger.info("speaking examples %d..%d into %s", done, options.n - 1, path)
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=options.n, initial=done, unit="clip", desc="asr data", dynamic_ncols=True)
    try:
        with tempfile.TemporaryDirectory(prefix="shadowpeft-asr-") as tmp, open(path, "a", encoding="utf-8") as out:
            speaker = Speaker(options, Path(tmp))
            for index in range(done, options.n):
                example = examples[index]
                voice, rate, pitch, noise = options.pick(index)
                started = time.perf_counter()
                spoken = spoken_form(example.text)
                audio = speaker.speak(spoken, index, voice, rate, pitch, noise)
                transcript = backend.transcribe(audio)
                record = {
                    "index": index, "text": example.text, "spoken": spoken, "transcript": transcript.text,
                    "attached": example.attached, "detached": example.detached, "kind": example.kind,
                    "templates": list(example.templates), "voice": voice, "rate": rate, "pitch": pitch,
                    "noise": noise, "confidence": round(transcript.confidence, 4),
                    "wer": transcript_wer([spoken], [transcript.text]),
                    "decode_s": round(transcript.decode_s, 4), "clip_s": round(time.perf_counter() - started, 4),
                    "asr": asr_settings,
                }
                out.write(json.dumps(record, ensure_ascii=False) + "\n")
                out.flush()
                os.fsync(out.fileno())
                if bar is not None:
                    bar.update(1)
    finally:
        if bar is not None:
            bar.close()


# ---------------------------------------------------------------------------------------------- reading


def _resolve(path: PathLike) -> Path:
    path = Path(path)
    if path.is_dir():
        path = path / CACHE_FILE
    if not path.is_file():
        raise FileNotFoundError(f"ASR training cache not found: {path}. Build it with `{BUILD_COMMAND}` "
                                f"(add --n/--seed/--out to match the options you train with)")
    return path


def load_asr_examples(path: PathLike, n: Optional[int] = None, max_wer: Optional[float] = None,
                      drop_changed_numbers: bool = True) -> List[Example]:
    """Return the cached examples with Whisper's transcript as their text (the cache file or its directory).

    ``noisy`` is True when the transcript's words differ from the clean sentence's once both are
    normalised as the model reads them (case, punctuation and "two" against "2" do not count).
    Lines with an empty transcript (Whisper heard nothing) are skipped. So are, by default, lines
    whose numbers Whisper changed ("one point five meters" heard as "someone 0.5 meters"): their
    target holds a number the text no longer has, and the model must copy numbers, never invent
    them. ``max_wer`` also skips lines above that WER; ``n`` reads only the first n lines.
    """
    path = _resolve(path)
    examples, empty, too_wrong, renumbered = [], 0, 0, 0
    for number, line in enumerate(_read_lines(path)):
        if n is not None and number >= n:
            break
        transcript = line["transcript"].strip()
        said = line.get("spoken", line["text"])
        if not transcript:
            empty += 1
            continue
        if max_wer is not None and line.get("wer") is not None and line["wer"] > max_wer:
            too_wrong += 1
            continue
        if drop_changed_numbers and numbers_changed(said, transcript):
            renumbered += 1
            continue
        noisy = _words(transcript) != _words(said)
        examples.append(Example(transcript, line["attached"], line["detached"], line["kind"],
                                tuple(line.get("templates", ())), noisy=noisy))
    if empty:
        logger.info("%s: skipped %d lines with an empty transcript", path, empty)
    if too_wrong:
        logger.info("%s: skipped %d lines with a WER above %g", path, too_wrong, max_wer)
    if renumbered:
        logger.info("%s: skipped %d lines whose numbers Whisper changed", path, renumbered)
    return examples


@dataclass
class AsrCacheSummary:
    """What Whisper made of the spoken training sentences."""

    path: str
    lines: int
    empty: int  # transcripts with no text
    wer: Optional[float]  # corpus WER after the interpreter's normaliser
    changed_share: float  # transcripts whose words differ from what was said, once normalised
    numbers_changed_share: float  # transcripts whose numbers differ (load_asr_examples drops them by default)
    wer_by_noise: Dict[str, Optional[float]]
    mean_clip_s: float  # synthesis, mixing and transcription, per clip
    mean_decode_s: float
    samples: List[Tuple[str, str]]  # (what was said, what Whisper wrote)


def summarize_asr_cache(path: PathLike, samples: int = 10) -> AsrCacheSummary:
    """Measure a cache: WER of transcripts against what was said, share changed, timings, and sample pairs."""
    path = _resolve(path)
    lines = list(_read_lines(path))
    spoken = [line.get("spoken", line["text"]) for line in lines]
    heard = [line["transcript"] for line in lines]
    changed = [i for i in range(len(lines)) if _words(spoken[i]) != _words(heard[i])]
    by_noise: Dict[str, List[int]] = {}
    for i, line in enumerate(lines):
        by_noise.setdefault(line.get("noise", "none"), []).append(i)
    wer_by_noise = {noise: transcript_wer([spoken[i] for i in idx], [heard[i] for i in idx])
                    for noise, idx in sorted(by_noise.items())}
    # Show changed transcripts, spread over the file, so the samples are what training really adds.
    shown = changed[::max(1, len(changed) // samples)][:samples] if changed else list(range(min(samples, len(lines))))
    mean = lambda key: sum(line.get(key, 0.0) for line in lines) / len(lines) if lines else 0.0  # noqa: E731
    return AsrCacheSummary(
        path=str(path), lines=len(lines), empty=sum(1 for h in heard if not h.strip()),
        wer=transcript_wer(spoken, heard) if lines else None,
        changed_share=len(changed) / len(lines) if lines else 0.0,
        numbers_changed_share=sum(numbers_changed(a, b) for a, b in zip(spoken, heard)) / len(lines) if lines else 0.0,
        wer_by_noise=wer_by_noise,
        mean_clip_s=mean("clip_s"), mean_decode_s=mean("decode_s"),
        samples=[(spoken[i], heard[i]) for i in shown])
