#!/usr/bin/env python3
"""Speech benchmark: which Whisper model and bias the dog should use, measured in one run.

    PYTHONPATH=. .venv/bin/python benchmarks/bench_speech_models.py [--out docs/results/speech.json]
    PYTHONPATH=. .venv/bin/python -m pytest benchmarks/bench_speech_models.py -m benchmark -s

What it measures, all in one process except the memory probes:

1. The headline table, on the spoken cases of ``eval/cases.jsonl``: every configuration (model x
   bias) hears every clip through the evaluation's own speech stage (``SpeechStage``: fake sound
   card at real time -> ring buffer -> 16 kHz -> Silero VAD -> Whisper -> command gate), clip by
   clip with the configurations interleaved in rotating order, so machine load falls on all of them
   alike. WER is ``speech.wer.word_error_rate`` (Whisper's ``EnglishTextNormalizer`` on both sides),
   the same function that gives the figure in ``docs/results/summary.md``.
   Latency is end of speech -> transcript ready. Peak RSS comes from a separate process per model
   (load, warm-up, five clips), since one process holding every model has one peak for all.
2. Other decoding settings (word-list hotwords, beam 5), decoded offline on the same clips; the beam
   search settings, the encoder context and temperature fallback are compared on the cases, the
   held-out set and the stops in ``benchmarks/bench_speech_decoding.py``.
3. Noise: the same clips mixed with a fan and with babble (``speech.corpus``) at 10 and 0 dB SNR.
4. Held-out: sentences and voices that neither the cases nor the bias text come from, with the
   bias's failure counted: command words in the transcript that were not said ("forward the degrees").
5. Stops: stop phrases and non-stop commands, clean and in noise: detected stops and false stops.
6. The VAD: commands spoken in two halves with a 400 ms pause must come out as one utterance.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

os.environ.setdefault("HF_HUB_OFFLINE", "1")

MAIN_CONFIGS = ("tiny.en:off", "tiny.en:prompt", "tiny.en:prompt:beam5", "base:off", "base:prompt", "base:prompt:beam5")
EXTRA_CONFIGS = ("tiny.en:words", "base:words")
NOISES = (("fan", 10.0), ("fan", 0.0), ("babble", 10.0), ("babble", 0.0))
PAUSE_HALVES = (("walk forward one meter", "then turn left and sit"), ("turn right", "and lie down"),
                ("go back two meters", "then wave your paw"), ("stand up", "and spin around"))


def asr_options(config: str):
    from shadowpeft_ros.speech.options import AsrOptions

    model, bias, *rest = config.split(":")
    # Greedy unless the name says otherwise, whatever the current default: a name means one setting.
    beam = int(rest[0][4:]) if rest and rest[0].startswith("beam") else 1
    return AsrOptions(model=model, bias=bias, beam_size=beam)


def pct(values, q):
    return float(np.percentile(values, q)) if values else float("nan")


def wer(refs, hyps):
    from shadowpeft_ros.speech.wer import word_error_rate

    return word_error_rate(list(refs), list(hyps))


def rss_probe(model: str, clips) -> float:
    """Return the peak RSS (MiB) of a fresh process that loads ``model`` and transcribes five clips."""
    code = (
        "import os, resource, sys, soundfile\n"
        "os.environ.setdefault('HF_HUB_OFFLINE', '1')\n"
        "from shadowpeft_ros.speech.asr import load_backend\n"
        "from shadowpeft_ros.speech.options import AsrOptions\n"
        "from shadowpeft_ros.speech.vad import segment_audio\n"
        f"b = load_backend(AsrOptions(model={model!r}, bias='prompt', beam_size=1))\n"
        "for p in sys.argv[1:]:\n"
        "    for s in segment_audio(soundfile.read(p, dtype='float32')[0]): b.transcribe(s.audio)\n"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)\n")
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    out = subprocess.run([sys.executable, "-c", code, *clips[:5]], capture_output=True, text=True, env=env,
                         timeout=600)
    if out.returncode != 0:
        raise RuntimeError(f"RSS probe for {model} failed: {out.stderr[-800:]}")
    return float(out.stdout.strip().splitlines()[-1])


def vad_segments(audios, segmenter=None):
    """Segment each signal with the streaming VAD: a list of segment lists, one per signal."""
    from shadowpeft_ros.speech.vad import segment_audio

    return [segment_audio(audio, segmenter) for audio in audios]


def transcribe_segments(backend, segmented):
    """Transcribe already segmented signals: one text (the segments joined) and decode time per signal."""
    texts, decode = [], []
    for segments in segmented:
        parts = [backend.transcribe(s.audio) for s in segments]
        texts.append(" ".join(p.text.strip() for p in parts).strip())
        decode.append(sum(p.decode_s for p in parts))
    return texts, decode


def offline_transcripts(backend, audios, segmenter=None):
    """Segment each signal with the streaming VAD and transcribe it: the speech path without real time."""
    return transcribe_segments(backend, vad_segments(audios, segmenter))


def false_command_words(refs, hyps) -> float:
    """Return command-vocabulary words in the transcripts that the reference lacks, per reference word."""
    from shadowpeft_ros.speech.wer import normalise_transcript
    from shadowpeft_ros.speech.vocabulary import command_vocabulary

    vocab = {w for phrase in command_vocabulary() for w in normalise_transcript(phrase).split()}
    extra = total = 0
    for ref, hyp in zip(refs, hyps):
        r, h = normalise_transcript(ref).split(), normalise_transcript(hyp).split()
        total += len(r)
        for w in set(h):
            if w in vocab:
                extra += max(0, h.count(w) - r.count(w))
    return extra / max(total, 1)


def run(out_path=None, configs=MAIN_CONFIGS, extra_configs=EXTRA_CONFIGS, limit=0) -> dict:
    import soundfile

    from shadowpeft_ros.evaluation.stages import SpeechStage
    from shadowpeft_ros.speech.asr import load_backend
    from shadowpeft_ros.speech.corpus import (build_held_out, build_stop_set, make_babble_noise, make_fan_noise,
                                              mix_at_snr, pause_command)
    from shadowpeft_ros.speech.gate import CommandGate
    from shadowpeft_ros.speech.options import SegmenterOptions
    from shadowpeft_ros.speech.tts import synthesize
    from shadowpeft_ros.speech.vad import segment_audio

    started, uptime = start_run("speech models benchmark")
    spoken = spoken_cases()
    if limit:
        spoken = spoken[:limit]
    paths = [str(ROOT / "eval" / c["audio"]) for c in spoken]
    refs = [c["text"] for c in spoken]
    clean = [soundfile.read(p, dtype="float32")[0] for p in paths]
    result = {"uptime_start": uptime, "cases": len(spoken), "configs": {}}

    rss = {}
    for model in sorted({c.split(":")[0] for c in configs}):
        rss[model] = rss_probe(model, paths)  # beam 1; a beam of 5 adds little memory at these lengths
        print(f"peak RSS probe {model}: {rss[model]:.0f} MiB")

    # 1. Headline: the evaluation's speech stage, real-time playback, configurations interleaved.
    stages = {}
    for config in configs:
        t0 = time.perf_counter()
        stages[config] = SpeechStage(asr_options(config))
        stages[config].load_total_s = time.perf_counter() - t0
    heard = {c: [None] * len(spoken) for c in configs}
    for i, path in enumerate(paths):
        order = list(configs[i % len(configs):]) + list(configs[:i % len(configs)])
        for config in order:
            heard[config][i] = stages[config].hear(path)
    uptime_mid = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    print(f"\nload after the streaming runs: {uptime_mid}")
    print(f"\n1. spoken cases of eval/cases.jsonl ({len(spoken)} clips), real-time playback through the evaluation's "
          "speech stage, configurations interleaved")
    print("| model | bias | beam | WER | latency p50 | latency p95 | peak RSS | load |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for config in configs:
        hs = heard[config]
        hyps = [h.transcript for h in hs]
        lat = [h.asr_s for h in hs if h.asr_s is not None]
        backend = stages[config].backend
        row = {"wer": wer(refs, hyps),
               "latency_p50_s": pct(lat, 50), "latency_p95_s": pct(lat, 95), "heard": len(lat),
               "load_s": backend.load_s + backend.warmup_s, "peak_rss_mib": rss[config.split(":")[0]],
               "transcripts": hyps}
        result["configs"][config] = row
        model, bias = config.split(":")[:2]
        print(f"| {model} | {bias} | {backend.options.beam_size} | {row['wer']:.3f} "
              f"| {row['latency_p50_s']:.2f} s | {row['latency_p95_s']:.2f} s | {row['peak_rss_mib']:.0f} MiB "
              f"| {row['load_s']:.1f} s |")

    backends = {c: stages[c].backend for c in configs}

    # 2. Other settings, offline on the same clips.
    print("\n2. other settings, decoded offline (same VAD segments, no real-time playback)")
    print("| config | WER | decode p50 | decode p95 |")
    print("|---|---:|---:|---:|")
    result["offline"] = {}
    for config in tuple(configs) + tuple(extra_configs):
        backend = backends.get(config) or load_backend(asr_options(config))
        backends[config] = backend
        texts, decode = offline_transcripts(backend, clean)
        result["offline"][config] = {"wer": wer(refs, texts), "decode_p50_s": pct(decode, 50),
                                     "decode_p95_s": pct(decode, 95)}
        r = result["offline"][config]
        print(f"| {config} | {r['wer']:.3f} | {r['decode_p50_s']:.3f} s | {r['decode_p95_s']:.3f} s |")

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        noise = {"fan": soundfile.read(str(make_fan_noise(tmp / "fan.wav", 60.0)), dtype="float32")[0],
                 "babble": soundfile.read(str(make_babble_noise(tmp / "babble.wav", 60.0)), dtype="float32")[0]}

        # 3. Noise.
        print("\n3. WER of the spoken cases in room noise (offline; SNR against the speech's RMS)")
        print("| config | clean | " + " | ".join(f"{k} {s:g} dB" for k, s in NOISES) + " |")
        print("|---|---:|" + "---:|" * len(NOISES))
        result["noise"] = {}
        for config in configs:
            row = {"clean": result["offline"][config]["wer"]}
            for kind, snr in NOISES:
                mixed = [mix_at_snr(a, noise[kind], snr, offset=7919 * i) for i, a in enumerate(clean)]
                row[f"{kind}_{snr:g}dB"] = wer(refs, offline_transcripts(backends[config], mixed)[0])
            result["noise"][config] = row
            print(f"| {config} | " + " | ".join(f"{v:.3f}" for v in row.values()) + " |")

        # 4. Held-out sentences and voices.
        held = build_held_out(tmp / "held")
        held_audio = [soundfile.read(c.path, dtype="float32")[0] for c in held]
        held_refs = [c.text for c in held]
        print(f"\n4. held-out: {len(held)} sentences of our own in voices the cases do not use "
              f"({', '.join(sorted({c.voice for c in held}))})")
        print("| config | WER | command words not said, per reference word |")
        print("|---|---:|---:|")
        result["held_out"] = {}
        for config in configs:
            texts, _ = offline_transcripts(backends[config], held_audio)
            row = {"wer": wer(held_refs, texts), "false_command_words": false_command_words(held_refs, texts),
                   "transcripts": texts}
            result["held_out"][config] = row
            print(f"| {config} | {row['wer']:.3f} | {row['false_command_words']:.3f} |")

        # 5. Stops, clean and in noise.
        stop_clips = build_stop_set(tmp / "stops")
        stop_audio = [soundfile.read(c.path, dtype="float32")[0] for c in stop_clips]
        from shadowpeft_ros.speech.corpus import STOP_PHRASES

        is_stop_said = [c.text in STOP_PHRASES for c in stop_clips]
        gate = CommandGate()
        conditions = [("clean", None, None)] + [(f"{k} {s:g} dB", k, s) for k, s in NOISES]
        print(f"\n5. stops: {sum(is_stop_said)} stop clips, {len(stop_clips) - sum(is_stop_said)} non-stop commands; "
              "detected stops / false stops")
        print("| config | " + " | ".join(c[0] for c in conditions) + " |")
        print("|---|" + "---|" * len(conditions))
        result["stops"] = {}
        for config in configs:
            cells, row = [], {}
            for name, kind, snr in conditions:
                audios = stop_audio if kind is None else [mix_at_snr(a, noise[kind], snr, offset=104729 * i)
                                                          for i, a in enumerate(stop_audio)]
                texts, _ = offline_transcripts(backends[config], audios)
                flags = [gate.decide(t).is_stop for t in texts]
                hit = sum(f for f, s in zip(flags, is_stop_said) if s)
                false = sum(f for f, s in zip(flags, is_stop_said) if not s)
                row[name] = {"detected": hit, "of": sum(is_stop_said), "false": false,
                             "of_non_stop": len(flags) - sum(is_stop_said)}
                cells.append(f"{hit}/{sum(is_stop_said)} / {false}")
            result["stops"][config] = row
            print(f"| {config} | " + " | ".join(cells) + " |")

        # 6. The VAD and pauses inside a command.
        print("\n6. VAD: commands said in two halves with a 400 ms pause, espeak-ng's own padding trimmed "
              "(4 commands x 2 voices)")
        halves = []
        for i, (a, b) in enumerate(PAUSE_HALVES):
            for voice in ("en-us", "en-gb"):
                first = soundfile.read(str(synthesize(a, tmp / f"h{i}a.wav", voice=voice)), dtype="float32")[0]
                second = soundfile.read(str(synthesize(b, tmp / f"h{i}b.wav", voice=voice)), dtype="float32")[0]
                halves.append(pause_command(first, second, 0.4))
        result["vad_pause"] = {}
        for name, options in (("defaults (early decode at end_silence_ms, pause_ms ends it)", SegmenterOptions()),
                              ("old: 300 ms silence ends it", SegmenterOptions(pause_ms=0))):
            counts = [len(segment_audio(h, options)) for h in halves]
            result["vad_pause"][name] = counts
            print(f"  {name}: {sum(n == 1 for n in counts)}/{len(counts)} come out as one utterance "
                  f"(utterances per command: {counts})")

    return finish(result, started, out_path)


def start_run(title: str):
    """Print the run's banner and the machine's load; return (start time, uptime line)."""
    started = time.time()
    uptime = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    print(f"== {title}, {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())} ==")
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs; load at start: {uptime}")
    return started, uptime


def spoken_cases() -> list:
    """Return the spoken cases of eval/cases.jsonl (those with an audio file), as JSON objects."""
    cases = [json.loads(line) for line in (ROOT / "eval" / "cases.jsonl").read_text().splitlines() if line.strip()]
    return [c for c in cases if c.get("audio")]


def finish(result: dict, started: float, out_path) -> dict:
    """Record the load and wall time at the end of a run, print them, and write the JSON when asked."""
    result["uptime_end"] = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    result["wall_s"] = time.time() - started
    print(f"\nload at the end: {result['uptime_end']}; took {result['wall_s']:.0f} s")
    if out_path:
        Path(out_path).parent.mkdir(parents=True, exist_ok=True)
        Path(out_path).write_text(json.dumps(result, indent=1))
        print(f"wrote {out_path}")
    return result


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="", help="Write every figure and transcript as JSON here.")
    parser.add_argument("--configs", default=",".join(MAIN_CONFIGS), help="model:bias[:beamN] configurations.")
    parser.add_argument("--extra-configs", default=",".join(EXTRA_CONFIGS), help="Decoded offline only.")
    parser.add_argument("--limit", type=int, default=0, help="Only the first N spoken cases (a quick look).")
    args = parser.parse_args(argv)
    run(args.out or None, tuple(filter(None, args.configs.split(","))),
        tuple(filter(None, args.extra_configs.split(","))), args.limit)
    return 0


try:
    import pytest

    @pytest.mark.benchmark
    def test_speech_models_benchmark():
        result = run(None)
        assert result["cases"] > 0
except ImportError:  # run as a script without pytest installed
    pass


if __name__ == "__main__":
    sys.exit(main())
