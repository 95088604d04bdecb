#!/usr/bin/env python3
"""Speech decoding settings: beam search knobs, encoder context and temperature fallback, measured offline.

    PYTHONPATH=. .venv/bin/python benchmarks/bench_speech_decoding.py [--configs A,B,...] [--stops-noise]

Every configuration decodes, offline on the VAD segments of ``bench_speech_models.py`` section 2
(the segments are cut once and shared), three sets:

- the 34 spoken cases of ``eval/cases.jsonl``;
- the held-out set (section 4: 20 sentences in voices the cases do not use), with the bias's
  failure counted (command words in the transcript that were not said);
- the speech tests' corpus (``speech.corpus.COMMANDS``: 24 commands of our own in four voices, three
  rates, some with long silences or pink noise), a second set that no setting was chosen on;
- the stop set (section 5: 16 stop clips, 16 non-stop commands), clean, and with ``--stops-noise``
  also in fan and babble at 10 and 0 dB.

A setting tuned on the 34 cases alone would fit their voices and sentences; one is worth keeping
only when the held-out WER and the stops do not get worse with it.

A configuration is ``model:bias`` followed by ``:``-separated settings, each a name and a value:
``beam5`` (beam size), ``nrng3`` (no_repeat_ngram_size), ``rp1.1`` (repetition_penalty), ``lp0.5``
(length_penalty), ``pat2`` (patience), ``ctx30`` (encoder_context_s; 30 is Whisper's full window),
``temp`` (temperature fallback, full-window path only), ``noloopcheck`` (the short path's check for a
run of words said twice in a row off, as before it existed). A setting not named takes a fixed value
(``BASELINE``: greedy, 10 s context, no penalties), whatever the current defaults, so that a name means
one setting in every run.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path


ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from bench_speech_models import (NOISES, false_command_words, finish, pct, spoken_cases,  # noqa: E402
                                 start_run, transcribe_segments, vad_segments, wer)

DEFAULT_CONFIGS = (
    "tiny.en:prompt:beam5:noloopcheck",  # the default before the short path's repeat check
    "tiny.en:prompt:beam5",
    "tiny.en:prompt:beam5:rp1.1",
    "tiny.en:prompt:beam5:ctx15",
    "tiny.en:prompt:beam5:ctx15:rp1.1",  # the default (speech/options.py)
    "tiny.en:prompt:beam5:ctx20:rp1.1",
    "tiny.en:prompt:beam5:ctx30:rp1.1",
    "base:prompt:beam5:noloopcheck",
    "base:prompt:beam5:ctx15:rp1.1",
)
# What a setting that a configuration does not name is set to.
BASELINE = {"beam_size": 1, "encoder_context_s": 10.0, "repetition_penalty": 1.0, "no_repeat_ngram_size": 0,
            "length_penalty": 1.0, "patience": 1.0, "temperature_fallback": False}

SETTINGS = {"beam": ("beam_size", int), "nrng": ("no_repeat_ngram_size", int), "rp": ("repetition_penalty", float),
            "lp": ("length_penalty", float), "pat": ("patience", float), "ctx": ("encoder_context_s", float)}


def decoding_options(config: str):
    """Return the AsrOptions that a configuration name stands for."""
    from shadowpeft_ros.speech.options import AsrOptions

    model, bias, *rest = config.split(":")
    values = dict(BASELINE, model=model, bias=bias)
    for item in rest:
        if item == "noloopcheck":  # the short path's repeat check off (the backend attribute, set below)
            continue
        if item == "temp":
            values["temperature_fallback"] = True
            continue
        for prefix, (name, kind) in SETTINGS.items():
            if item.startswith(prefix) and item[len(prefix):].replace(".", "", 1).isdigit():
                values[name] = kind(item[len(prefix):])
                break
        else:
            raise ValueError(f"unknown setting {item!r} in {config!r}; known: {', '.join(SETTINGS)}, temp")
    return AsrOptions(**values)


def stop_flags(texts):
    from shadowpeft_ros.speech.gate import CommandGate

    gate = CommandGate()
    return [gate.decide(t).is_stop for t in texts]


def run(configs=DEFAULT_CONFIGS, stops_noise=False, out_path=None) -> dict:
    import soundfile

    from shadowpeft_ros.speech.asr import load_backend
    from shadowpeft_ros.speech.corpus import (STOP_PHRASES, build_commands, build_held_out, build_stop_set,
                                              make_babble_noise, make_fan_noise, mix_at_snr)

    started, uptime = start_run("speech decoding benchmark")
    spoken = spoken_cases()
    refs = [c["text"] for c in spoken]
    sets = {"cases": vad_segments([soundfile.read(str(ROOT / "eval" / c["audio"]), dtype="float32")[0]
                                   for c in spoken])}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        held = build_held_out(tmp / "held")
        held_refs = [c.text for c in held]
        sets["held"] = vad_segments([soundfile.read(c.path, dtype="float32")[0] for c in held])
        corpus = build_commands(tmp / "corpus")
        corpus_refs = [c.text for c in corpus]
        sets["corpus"] = vad_segments([soundfile.read(c.path, dtype="float32")[0] for c in corpus])
        stop_clips = build_stop_set(tmp / "stops")
        stop_audio = [soundfile.read(c.path, dtype="float32")[0] for c in stop_clips]
        conditions = [("clean", None, None)]
        if stops_noise:
            noise = {"fan": soundfile.read(str(make_fan_noise(tmp / "fan.wav", 60.0)), dtype="float32")[0],
                     "babble": soundfile.read(str(make_babble_noise(tmp / "babble.wav", 60.0)), dtype="float32")[0]}
            conditions += [(f"{k} {s:g} dB", k, s) for k, s in NOISES]
        for name, kind, snr in conditions:
            audios = stop_audio if kind is None else [mix_at_snr(a, noise[kind], snr, offset=104729 * i)
                                                      for i, a in enumerate(stop_audio)]
            sets["stops " + name] = vad_segments(audios)
    is_stop_said = [c.text in STOP_PHRASES for c in stop_clips]
    n_stop = sum(is_stop_said)

    print(f"\nsets: {len(spoken)} spoken cases, {len(held)} held-out sentences, {len(corpus)} corpus commands, "
          f"{n_stop} stop clips and "
          f"{len(stop_clips) - n_stop} non-stop commands; decode time per clip over the cases (offline)")
    stop_names = [n for n in sets if n.startswith("stops ")]
    print("| config | WER cases | WER held-out | command words not said | WER corpus | decode p50 | decode p95 | "
          + " | ".join(f"{n} (stops / false)" for n in stop_names) + " | full-window decodes |")
    print("|---|---:|---:|---:|---:|---:|---:|" + "---|" * len(stop_names) + "---:|")
    result = {"uptime_start": uptime, "configs": {}}
    for config in configs:
        backend = load_backend(decoding_options(config))
        backend.loop_check = "noloopcheck" not in config.split(":")
        row = {}
        texts, decode = transcribe_segments(backend, sets["cases"])
        row.update(wer_cases=wer(refs, texts), decode_p50_s=pct(decode, 50), decode_p95_s=pct(decode, 95),
                   cases=texts)
        texts, _ = transcribe_segments(backend, sets["held"])
        row.update(wer_held=wer(held_refs, texts), false_command_words=false_command_words(held_refs, texts),
                   held=texts)
        texts, _ = transcribe_segments(backend, sets["corpus"])
        row.update(wer_corpus=wer(corpus_refs, texts), corpus=texts)
        cells = []
        for name in stop_names:
            flags = stop_flags(transcribe_segments(backend, sets[name])[0])
            hit = sum(f for f, s in zip(flags, is_stop_said) if s)
            false = sum(f for f, s in zip(flags, is_stop_said) if not s)
            row[name] = {"detected": hit, "false": false}
            cells.append(f"{hit}/{n_stop} / {false}")
        row["full_window_decodes"] = backend.full_window_decodes
        result["configs"][config] = row
        print(f"| {config} | {row['wer_cases']:.3f} | {row['wer_held']:.3f} | {row['false_command_words']:.3f} "
              f"| {row['wer_corpus']:.3f} | {row['decode_p50_s']:.3f} s | {row['decode_p95_s']:.3f} s | "
              + " | ".join(cells)
              + f" | {row['full_window_decodes']} |", flush=True)
        del backend
    return finish(result, started, out_path)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--configs", default=",".join(DEFAULT_CONFIGS), help="Configurations, comma-separated.")
    parser.add_argument("--stops-noise", action="store_true", help="Also decode the stop set in fan and babble.")
    parser.add_argument("--out", default="", help="Write every figure and transcript as JSON here.")
    args = parser.parse_args(argv)
    run(tuple(filter(None, args.configs.split(","))), args.stops_noise, args.out or None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
