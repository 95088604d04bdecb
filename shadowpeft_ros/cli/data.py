"""``shadowpeft data``: build the training data that is too slow to make on the fly."""

from __future__ import annotations

import dataclasses

from . import CliError, HelpFormatter

ASR_DESCRIPTION = """\
Speak the first N sentences of the training split with espeak-ng (several voices, rates, pitches
and noise levels, each example's fixed by --seed), transcribe them with the Whisper model and
settings of the robot's speech node (the 'speech' section of config/dog.yaml, or --params-file),
and append one JSON line per example to OUT/<hash>/examples.jsonl:

  {"text", "spoken", "transcript", "attached", "detached", "kind", "templates",
   "voice", "rate", "pitch", "noise", "confidence", "wer", "decode_s", "clip_s", "asr"}

<hash> covers the generator's output, the seed, the voices, rates, noise and Whisper settings, so
a changed generator or a new Whisper default gets a fresh cache. The build resumes: run the same
command again after an interruption and it continues from the last line; a larger --n extends the
cache. Then it prints the word error rate against what was said (both sides normalised as the
interpreter reads them), the share of transcripts that changed, and sample pairs.

Time: measured 0.37 s per clip (0.30 s of it Whisper, the rest espeak-ng and mixing) with the
bundled tiny.en on one thread of a 2-core machine busy with training, so the default --n 2000
takes about 12-13 minutes; a larger Whisper model takes longer in proportion to its decode time.
On the first 300 examples the WER was 0.30 (0.25 on clean audio).

Training loads the file with shadowpeft_ros.interpreter.asr_data.load_asr_examples, which leaves
out empty transcripts and, by default, those whose numbers Whisper changed.
"""

ASR_EPILOG = """\
examples:
  shadowpeft data asr                          # 2000 examples into runs/asr-cache/
  nice -n 10 shadowpeft data asr --n 300 --threads 1
  shadowpeft data asr --model ~/models/whisper-base.en-ct2 --out /data/asr-cache
"""


def register(subparsers) -> None:
    parser = subparsers.add_parser("data", help="Build training data and the Whisper adapter (spoken examples).",
                                   description=__doc__, formatter_class=HelpFormatter)
    sub = parser.add_subparsers(dest="data_command", metavar="KIND")
    sub.required = True
    _register_asr(sub)
    _register_whisper(sub)


WHISPER_DESCRIPTION = """\
Train the LoRA adapter that makes Whisper tiny.en the 'tiny.en-commands' model: the first N
training sentences spoken by espeak-ng in voices that neither the evaluation audio nor the speech
benchmark's held-out set use, at several rates, pitches and noise levels; the encoder context and
decoder prompt are the speech node's. Writes adapter_model.safetensors (float16), adapt_options.json
and metrics.json to OUT; the speech node merges it into tiny.en once, into the cache.

Time: about 20 minutes for the defaults on 2 CPU cores (speaking 1000 clips, 300 steps of 8).
Measure the result with benchmarks/bench_speech_decoding.py --configs tiny.en:prompt:beam5:ctx15:rp1.1,DIR:...
where DIR is the assembled model (shadowpeft_ros.speech.adapt.assemble_adapted(OUT)).
"""


def _register_whisper(sub) -> None:
    from ..speech.adapt import WhisperAdaptOptions

    defaults = WhisperAdaptOptions()
    helps = {f.name: f.metadata.get("help", "") for f in dataclasses.fields(WhisperAdaptOptions)}
    parser = sub.add_parser("whisper", help="Train the Whisper adapter of 'tiny.en-commands' on spoken commands.",
                            description=WHISPER_DESCRIPTION, formatter_class=HelpFormatter)
    parser.add_argument("--out", default="models/whisper/tiny.en-commands", help="Adapter directory.")
    for name in ("n", "seed", "steps", "batch_size", "learning_rate", "r"):
        kind = float if name == "learning_rate" else int
        parser.add_argument(f"--{name.replace('_', '-')}", type=kind, default=getattr(defaults, name), help=helps[name])
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default).")
    parser.add_argument("--no-progress", action="store_true", help="Hide the progress bars.")
    parser.set_defaults(func=run_whisper)


def run_whisper(args) -> int:
    import os

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from ..speech.adapt import WhisperAdaptOptions, train_whisper_adapter
    from ..speech.models import ModelAssemblyError
    from ..speech.tts import TtsError

    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    try:
        options = WhisperAdaptOptions(n=args.n, seed=args.seed, steps=args.steps, batch_size=args.batch_size,
                                      learning_rate=args.learning_rate, r=args.r)
        metrics = train_whisper_adapter(options, args.out, progress=not args.no_progress)
    except (ValueError, TtsError, ModelAssemblyError) as exc:
        raise CliError(str(exc)) from None
    print(f"adapter: {args.out} ({metrics['trainable_params']:,} trainable parameters, {metrics['clips']} clips)")
    print(f"loss {metrics['first_loss']:.3f} -> {metrics['final_loss']:.3f} in {metrics['train_seconds']:.0f} s")
    return 0


def _register_asr(sub) -> None:
    from ..interpreter.asr_data import DEFAULT_CACHE_ROOT, AsrDataOptions

    defaults = AsrDataOptions()
    helps = {f.name: f.metadata.get("help", "") for f in dataclasses.fields(AsrDataOptions)}
    parser = sub.add_parser("asr", help="Speak training sentences with espeak-ng and transcribe them with Whisper.",
                            description=ASR_DESCRIPTION, epilog=ASR_EPILOG, formatter_class=HelpFormatter)
    parser.add_argument("--n", type=int, default=defaults.n, help=helps["n"])
    parser.add_argument("--seed", type=int, default=defaults.seed, help=helps["seed"])
    parser.add_argument("--out", default=str(DEFAULT_CACHE_ROOT), help="Cache root (git-ignored under runs/).")
    parser.add_argument("--params-file", default="", help=helps["params_file"])
    parser.add_argument("--model", default=None,
                        help="Whisper model instead of the parameter file's (see `shadowpeft transcribe --help`).")
    parser.add_argument("--threads", type=int, default=None,
                        help="CPU threads for Whisper instead of the parameter file's cpu_threads (not in the hash).")
    parser.add_argument("--voices", default=",".join(defaults.voices), help="Comma-separated espeak-ng voices; "
                        "the defaults avoid every voice the evaluation audio uses.")
    parser.add_argument("--samples", type=int, default=10, help="Sample (said -> transcribed) pairs to print.")
    parser.add_argument("--no-progress", action="store_true", help="Hide the progress bar.")
    parser.set_defaults(func=run_asr)


def run_asr(args) -> int:
    import os

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from ..interpreter.asr_data import AsrDataOptions, build_asr_cache, summarize_asr_cache
    from ..speech.asr import AsrModelError
    from ..speech.tts import TtsError

    overrides = {}
    if args.model is not None:
        overrides["model"] = args.model
    if args.threads is not None:
        overrides["cpu_threads"] = args.threads
    voices = tuple(v.strip() for v in args.voices.split(",") if v.strip())
    try:
        options = AsrDataOptions(n=args.n, seed=args.seed, voices=voices, params_file=args.params_file,
                                 asr_overrides=overrides)
        options.asr_options()  # a wrong parameter file or Whisper setting fails before any work
        path = build_asr_cache(options, args.out, progress=not args.no_progress)
    except (ValueError, AsrModelError, TtsError, RuntimeError) as exc:
        raise CliError(str(exc)) from None
    summary = summarize_asr_cache(path, samples=args.samples)
    print(f"cache: {summary.path}")
    print(f"examples: {summary.lines} ({summary.empty} with an empty transcript)")
    wer = "n/a" if summary.wer is None else f"{summary.wer:.3f}"
    print(f"WER against what was said (normalised as the interpreter reads it): {wer}; "
          f"transcripts changed: {summary.changed_share:.1%}; numbers changed: {summary.numbers_changed_share:.1%} "
          "(left out of training by default)")
    for noise, value in summary.wer_by_noise.items():
        print(f"  {noise:14s} WER {'n/a' if value is None else f'{value:.3f}'}")
    print(f"time per clip: {summary.mean_clip_s:.2f} s (Whisper {summary.mean_decode_s:.2f} s)")
    for said, heard in summary.samples:
        print(f"  {said!r} -> {heard!r}")
    return 0
