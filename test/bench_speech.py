"""Speech benchmark: end-of-speech -> transcript latency at real-time playback, real-time factor, load time, memory.

Run: ``PYTHONPATH=. .venv/bin/python -m pytest test/bench_speech.py -m benchmark -s``

The headline figures come from the whole streaming path (fake sound card at real time -> ring
buffer -> resampler -> Silero VAD -> tiny.en) over the espeak-ng corpus the tests use. The
tuning table then decodes the same utterances offline with one setting changed at a time,
since latency = VAD end-silence + queueing + decode time.
"""

import collections
import resource
import statistics
import time

import numpy as np
import pytest

from shadowpeft_ros.speech.asr import load_backend
from shadowpeft_ros.speech.audio import open_source
from shadowpeft_ros.speech.corpus import build_commands
from shadowpeft_ros.speech.wer import word_error_rate
from shadowpeft_ros.speech.options import AsrOptions, AudioOptions, SegmenterOptions
from shadowpeft_ros.speech.pipeline import SpeechPipeline


def _p95(values):
    return float(np.percentile(values, 95))


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _stream(backend, directory, segmenter):
    utterances = []
    options = AudioOptions(source=str(directory), playback_speed=1.0, file_gap_s=1.0)
    pipeline = SpeechPipeline(open_source(options), backend, utterances.append, segmenter, options)
    started = time.perf_counter()
    pipeline.start()
    assert pipeline.wait(600)
    pipeline.stop()
    return utterances, time.perf_counter() - started


@pytest.mark.benchmark
def test_speech_latency_benchmark(tmp_path):
    rss_before = _peak_rss_mb()
    clips = build_commands(tmp_path / "corpus")
    started = time.perf_counter()
    backend = load_backend(AsrOptions())
    load_s = time.perf_counter() - started
    segmenter = SegmenterOptions()
    utterances, wall_s = _stream(backend, tmp_path / "corpus", segmenter)
    latencies = [u.latency_s for u in utterances]
    decode = [u.transcript.decode_s for u in utterances]
    speech_s = sum(u.segment.duration_s for u in utterances)
    by_file = collections.defaultdict(list)
    for u in utterances:
        by_file[u.source].append(u.transcript.text)
    wer = word_error_rate([c.text for c in clips], [" ".join(by_file["file:" + c.path]) for c in clips])
    o = backend.options
    print(f"\n== speech benchmark: faster-whisper {backend.model_name} (bias {o.bias}) {o.compute_type}, beam {o.beam_size}, no timestamps, "
          f"encoder context {o.encoder_context_s:g} s, VAD end-silence {segmenter.end_silence_ms} ms, "
          f"{o.cpu_threads} threads ==")
    print(f"utterances            {len(utterances)} of {len(clips)} clips, WER {wer:.3f}")
    print(f"latency end->ready    median {statistics.median(latencies):.3f} s, p95 {_p95(latencies):.3f} s, "
          f"max {max(latencies):.3f} s (real-time playback)")
    print(f"decode per utterance  median {statistics.median(decode):.3f} s, p95 {_p95(decode):.3f} s")
    print(f"real-time factor      {sum(decode) / speech_s:.3f} (decode time / utterance audio), "
          f"stream {wall_s:.1f} s wall for the corpus")
    print(f"model load            {backend.load_s:.3f} s (+ warm-up {backend.warmup_s:.3f} s; "
          f"load_backend total {load_s:.3f} s)")
    print(f"peak RSS              {_peak_rss_mb():.0f} MiB (process before loading: {rss_before:.0f} MiB)")

    # One setting at a time, decoding the segments the stream cut.
    segments = [u.segment.audio for u in utterances]
    variants = [
        ("chosen (defaults)", {}),
        ("beam 5", {"beam_size": 5}),
        ("encoder context 30 s", {"encoder_context_s": 30.0}),
        ("encoder context 20 s", {"encoder_context_s": 20.0}),
        ("float32", {"compute_type": "float32"}),
        ("float32, beam 5", {"compute_type": "float32", "beam_size": 5}),
        ("1 thread", {"cpu_threads": 1}),
    ]
    print("\ntuning (decode only, same segments):")
    for name, change in variants:
        variant = load_backend(AsrOptions(**change))
        times = []
        texts = []
        for audio in segments:
            t = variant.transcribe(audio)
            times.append(t.decode_s)
            texts.append(t.text)
        wer_v = word_error_rate([c.text for c in clips], texts) if len(texts) == len(clips) else float("nan")
        print(f"  {name:26s} decode median {statistics.median(times):.3f} s, p95 {_p95(times):.3f} s, "
              f"WER {wer_v:.3f}")
    model = backend.model
    times = []
    # Timestamps and library defaults go through faster-whisper's own 30 s path.
    for audio in segments[:8]:
        t0 = time.perf_counter()
        list(model.transcribe(audio, language="en", beam_size=1, without_timestamps=False, vad_filter=False,
                              condition_on_previous_text=False, temperature=0.0)[0])
        times.append(time.perf_counter() - t0)
    print(f"  {'int8, beam 1, timestamps on':26s} decode median {statistics.median(times):.3f} s (8 utterances)")
    times = []
    for audio in segments[:8]:
        t0 = time.perf_counter()
        list(model.transcribe(audio, language="en", beam_size=5, vad_filter=True)[0])  # library defaults
        times.append(time.perf_counter() - t0)
    print(f"  {'library defaults':26s} decode median {statistics.median(times):.3f} s (8 utterances; beam 5, "
          "timestamps, VAD again, temperature fallback)")
    import soundfile

    from shadowpeft_ros.speech.vad import segment_audio

    print("VAD end-silence (adds one for one to latency; too short splits commands at their pauses):")
    for end_silence in (150, 200, 300, 500):
        options = SegmenterOptions(end_silence_ms=end_silence, post_roll_ms=min(150, end_silence))
        counts = [len(segment_audio(soundfile.read(c.path, dtype="float32")[0], options)) for c in clips]
        print(f"  {end_silence:4d} ms: {sum(n == 1 for n in counts)}/{len(clips)} clips give exactly one utterance, "
              f"{sum(n > 1 for n in counts)} split, {sum(n == 0 for n in counts)} lost")
