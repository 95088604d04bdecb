"""Whisper adapted to the command language: a LoRA on tiny.en, trained on espeak-ng speech of generated commands.

The bundled tiny.en mishears the first word of short commands ("Scoot" as "Good", "Veer" as
"We're", "Glide" as "Light"), and biasing its decoder with the command vocabulary only took the
spoken cases' WER from 0.26 to 0.18. The remaining errors are acoustic, so the model itself is
adapted:

- **Data**: the interpreter's training sentences (``data.generate("train")``, phrasings the
  evaluation never uses) spoken by ``asr_data.Speaker`` in ``ADAPT_VOICES`` at several rates,
  pitches and noise levels. The voices are disjoint from every voice of the evaluation audio
  (``eval/make_cases.py``) and of the speech benchmark's held-out set (``corpus.HELD_OUT_VOICES``),
  so both stay measurements on unseen voices and unseen sentences.
- **Model**: the bundled CTranslate2 tiny.en, converted to transformers (``ct2_whisper``), with a
  PEFT LoRA on every attention and MLP projection of the encoder and the decoder.
- **Input as deployed**: faster-whisper's features, padded to the robot's encoder context
  (``encoder_context_s``, 15 s for tiny.en), and the decoder prompt the speech node sends (the
  command-language bias), so the loss is on exactly what the robot decodes.
- **Use**: ``assemble_adapted`` merges the committed adapter into tiny.en once and converts it back
  to CTranslate2 in the cache (``speech/models.py`` names it ``tiny.en-commands``); faster-whisper
  then loads it like any bundled model.

What it has not seen: a human voice. It is measured on synthetic voices only (held out), so on a
real microphone compare it with ``model: tiny.en`` on your own recordings
(``shadowpeft transcribe``). Rebuild the adapter with ``shadowpeft data whisper``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import random
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import List, Optional, Sequence, Tuple

logger = logging.getLogger("shadowpeft_ros")

BUILD_COMMAND = "shadowpeft data whisper"
ADAPTED_NAME = "tiny.en-commands"
# espeak-ng voices of the interpreter's ASR data (asr_data.DEFAULT_VOICES) without those of the
# speech benchmark's held-out set and without en-gb-x-rp, a voice the evaluation audio speaks in.
ADAPT_VOICES = ("en-us+m1", "en-us+f4", "en-gb+f1", "en-gb+m2", "en-gb+f5", "en-us+klatt")
LORA_TARGETS = ("q_proj", "k_proj", "v_proj", "out_proj", "fc1", "fc2")
OPTIONS_FILE = "adapt_options.json"
METRICS_FILE = "metrics.json"


@dataclass
class WhisperAdaptOptions:
    """What the adapter is trained on and how."""

    n: int = field(default=1000, metadata={"help": "Training sentences to speak (the first n of the train split)."})
    seed: int = field(default=0, metadata={"help": "Seed of the sentences, voices, noise, initialisation and order."})
    voices: Tuple[str, ...] = field(default=ADAPT_VOICES, metadata={
        "help": "espeak-ng voices; the defaults avoid every voice of the evaluation audio and of the held-out set."})
    steps: int = field(default=300, metadata={"help": "Optimizer steps."})
    batch_size: int = field(default=8, metadata={"help": "Clips per step."})
    learning_rate: float = field(default=5e-4, metadata={"help": "Peak learning rate (linear decay to 0)."})
    warmup_steps: int = field(default=20, metadata={"help": "Linear warm-up steps."})
    r: int = field(default=16, metadata={"help": "LoRA rank."})
    alpha: int = field(default=32, metadata={"help": "LoRA alpha."})
    dropout: float = field(default=0.05, metadata={"help": "LoRA dropout."})
    encoder_context_s: float = field(default=15.0, metadata={
        "help": "Seconds of audio the encoder sees, as the speech node runs tiny.en (its encoder_context_s)."})

    def __post_init__(self):
        self.voices = tuple(self.voices)
        for name in ("n", "steps", "batch_size", "r", "alpha"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)!r}")
        if not (self.learning_rate > 0):
            raise ValueError(f"learning_rate must be positive, got {self.learning_rate}")
        if not 1.0 <= self.encoder_context_s <= 30.0:
            raise ValueError(f"encoder_context_s must be in [1, 30], got {self.encoder_context_s}")
        if not self.voices:
            raise ValueError("voices must name at least one espeak-ng voice")


def speak_training_clips(options: WhisperAdaptOptions, progress: bool = True) -> Tuple[List, List[str]]:
    """Return (16 kHz float32 clips, what was said) for the first ``options.n`` train sentences."""
    from ..interpreter import data
    from ..interpreter.asr_data import AsrDataOptions, Speaker, check_voices, spoken_form
    from .tts import TtsError, espeak_available

    if not espeak_available():
        raise TtsError("espeak-ng is not installed (apt-get install -y espeak-ng)")
    check_voices(options.voices)
    speech = AsrDataOptions(n=options.n, seed=options.seed, voices=options.voices)
    examples = data.generate("train", options.n, options.seed, asr_noise_share=0.0)
    clips, texts = [], []
    from tqdm.auto import tqdm

    with tempfile.TemporaryDirectory(prefix="shadowpeft-whisper-") as tmp:
        speaker = Speaker(speech, Path(tmp))
        for index, example in enumerate(tqdm(examples, desc="speaking", unit="clip", disable=not progress)):
            voice, rate, pitch, noise = speech.pick(index)
            said = spoken_form(example.text)
            clips.append(speaker.speak(said, index, voice, rate, pitch, noise))
            texts.append(said)
    return clips, texts


def _hf_tiny_en(directory: Path):
    """Convert the bundled tiny.en into transformers form in ``directory`` and load it."""
    from transformers import WhisperForConditionalGeneration

    from .ct2_whisper import convert
    from .models import tiny_en_path

    convert(tiny_en_path(), directory)
    return WhisperForConditionalGeneration.from_pretrained(str(directory))


def _deployed_decoding(encoder_context_s: float):
    """Return (faster-whisper backend, tokenizer, prompt ids) exactly as the speech node builds them for tiny.en."""
    from .asr import load_backend
    from .options import AsrOptions

    backend = load_backend(AsrOptions(model="tiny.en", bias="prompt", warmup=False,
                                      encoder_context_s=encoder_context_s))
    tokenizer, prompt = backend.decoder_prompt("en")
    return backend, tokenizer, list(prompt)


def _short_context(model, frames: int):
    """Give the encoder a position table of ``frames`` mel frames (the sinusoids are fixed); return the full one."""
    import torch

    encoder = model.model.encoder
    full = encoder.embed_positions.weight.data.clone()
    positions = frames // 2  # conv2 has stride 2
    encoder.embed_positions = torch.nn.Embedding(positions, full.shape[1])
    encoder.embed_positions.weight.data.copy_(full[:positions])
    encoder.embed_positions.requires_grad_(False)
    encoder.config.max_source_positions = positions
    return full


def train_whisper_adapter(options: WhisperAdaptOptions, out_dir, progress: bool = True, clips=None,
                          texts: Optional[Sequence[str]] = None) -> dict:
    """Train the LoRA adapter into ``out_dir`` (float16 safetensors, options, metrics) and return the metrics.

    ``clips``/``texts`` replace the spoken training sentences (tests).
    """
    import numpy as np
    import torch
    from faster_whisper.audio import pad_or_trim
    from peft import LoraConfig, get_peft_model

    out_dir = Path(out_dir)
    random.seed(options.seed)
    torch.manual_seed(options.seed)
    if clips is None:
        clips, texts = speak_training_clips(options, progress)
    backend, tokenizer, prompt = _deployed_decoding(options.encoder_context_s)
    frames = int(round(options.encoder_context_s * 100))
    features = [pad_or_trim(backend.model.feature_extractor(clip), frames).astype(np.float32) for clip in clips]
    eot = tokenizer.eot
    sequences = [prompt + tokenizer.encode(" " + text.strip()) + [eot] for text in texts]
    converted = tempfile.TemporaryDirectory(prefix="shadowpeft-whisper-hf-")
    model = _hf_tiny_en(Path(converted.name))
    _short_context(model, frames)
    model = get_peft_model(model, LoraConfig(r=options.r, lora_alpha=options.alpha, lora_dropout=options.dropout,
                                             target_modules=list(LORA_TARGETS)))
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=options.learning_rate,
                                  weight_decay=0.0)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min(1.0, (s + 1) / max(options.warmup_steps, 1)) * max(0.0, 1 - s / options.steps))
    order = list(range(len(sequences)))
    batch = min(options.batch_size, len(order))
    history, started = [], time.perf_counter()
    model.train()
    from tqdm.auto import trange

    for step in trange(options.steps, desc="whisper lora", disable=not progress):
        if step % max(len(order) // batch, 1) == 0:
            random.shuffle(order)
        picked = [order[(step * batch + j) % len(order)] for j in range(batch)]
        length = max(len(sequences[i]) for i in picked) - 1
        decoder_ids = torch.full((batch, length), eot, dtype=torch.long)
        labels = torch.full((batch, length), -100, dtype=torch.long)
        for row, i in enumerate(picked):
            seq = sequences[i]
            decoder_ids[row, :len(seq) - 1] = torch.tensor(seq[:-1])
            # Loss on the transcript and its end only: the prompt is given, as on the robot.
            labels[row, len(prompt) - 1:len(seq) - 1] = torch.tensor(seq[len(prompt):])
        logits = model(input_features=torch.from_numpy(np.stack([features[i] for i in picked])),
                       decoder_input_ids=decoder_ids).logits
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1),
                                                 ignore_index=-100)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad()
        history.append({"step": step, "loss": round(loss.item(), 5)})
    converted.cleanup()
    out_dir.mkdir(parents=True, exist_ok=True)
    model = model.to(torch.float16)
    model.save_pretrained(str(out_dir))
    metrics = {"clips": len(sequences), "steps": options.steps, "trainable_params": trainable,
               "first_loss": history[0]["loss"], "final_loss": history[-1]["loss"],
               "train_seconds": round(time.perf_counter() - started, 1), "history": history}
    (out_dir / OPTIONS_FILE).write_text(json.dumps(asdict(options), indent=1) + "\n")
    (out_dir / METRICS_FILE).write_text(json.dumps(metrics, indent=1) + "\n")
    return metrics


def adapter_key(adapter_dir) -> str:
    """Return a short key of the adapter's weights and the base model they apply to."""
    from .models import sha256_of, tiny_en_path

    digest = hashlib.sha256()
    digest.update(sha256_of(Path(adapter_dir) / "adapter_model.safetensors").encode())
    digest.update(sha256_of(tiny_en_path() / "model.bin").encode())
    return digest.hexdigest()[:12]


def assemble_adapted(adapter_dir, out_dir=None) -> Path:
    """Return a CTranslate2 directory of tiny.en with the adapter merged in, built once into the cache.

    The directory is named by ``adapter_key``, so a new adapter gets a new model; it is written to a
    temporary directory and renamed into place, so a crash never leaves a half model that looks whole.
    """
    from .models import ModelAssemblyError, cache_dir

    adapter_dir = Path(adapter_dir)
    if not (adapter_dir / "adapter_model.safetensors").is_file():
        raise ModelAssemblyError(f"Whisper adapter missing: {adapter_dir / 'adapter_model.safetensors'}; rebuild it "
                                 f"with `{BUILD_COMMAND} --out {adapter_dir}` or set the speech model to tiny.en")
    directory = Path(out_dir) if out_dir else cache_dir() / f"whisper-{ADAPTED_NAME}-{adapter_key(adapter_dir)}"
    if (directory / "model.bin").is_file():
        return directory
    try:
        import ctranslate2
        import torch
        from peft import PeftModel
    except ImportError as exc:
        raise ModelAssemblyError(f"{ADAPTED_NAME} is assembled with torch, transformers and peft ({exc}): install the "
                                 "package's llm extra, or set the speech model to tiny.en") from None

    directory.parent.mkdir(parents=True, exist_ok=True)
    logger.warning("merging the Whisper adapter %s into tiny.en at %s (once)", adapter_dir, directory)
    tmp = Path(tempfile.mkdtemp(prefix=f".{directory.name}.", dir=directory.parent))
    try:
        model = _hf_tiny_en(tmp / "base")
        merged = PeftModel.from_pretrained(model, str(adapter_dir)).merge_and_unload().to(torch.float32)
        merged.save_pretrained(str(tmp / "merged"))
        for name in ("tokenizer.json", "tokenizer_config.json", "processor_config.json", "generation_config.json"):
            if (tmp / "base" / name).is_file():
                shutil.copyfile(tmp / "base" / name, tmp / "merged" / name)
        ctranslate2.converters.TransformersConverter(str(tmp / "merged"), copy_files=["tokenizer.json"]).convert(
            str(tmp / "ct2"), quantization="float16", force=True)
        try:
            os.rename(tmp / "ct2", directory)
        except OSError:
            if not (directory / "model.bin").is_file():  # another process may have won the race
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return directory
