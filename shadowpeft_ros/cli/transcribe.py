"""``shadowpeft transcribe FILE...``: run audio files through the speech node's streaming path, print JSON lines."""

from __future__ import annotations

import json
import sys

from . import CliError, HelpFormatter

DESCRIPTION = """\
Play each file through the same code the microphone uses (sound-card callback, ring buffer,
16 kHz resampling, Silero VAD, Whisper) and print one JSON line per utterance found:

  {"file", "start_s", "end_s", "text", "confidence", "latency_s"}

start_s and end_s are the detected speech within the file. latency_s is the time from the end of
speech in the stream to the transcript being ready: at --speed 1 (real-time playback) it is the
latency a speaker would see. No wake phrase or push-to-talk gate is applied.
"""

EPILOG = """\
examples:
  shadowpeft transcribe command.wav
  shadowpeft transcribe recordings/*.wav --speed 4 --beam-size 5
  shadowpeft transcribe clip.wav --backend openai-whisper --model ~/.cache/whisper/tiny.en.pt
"""


def register(subparsers) -> None:
    from ..speech.options import BACKENDS, AsrOptions

    defaults = AsrOptions()
    parser = subparsers.add_parser("transcribe", help="Transcribe audio files through the streaming speech path.",
                                   description=DESCRIPTION, epilog=EPILOG, formatter_class=HelpFormatter)
    parser.add_argument("files", nargs="+", metavar="FILE", help="WAV (or FLAC/OGG) files, any rate, mono or stereo.")
    parser.add_argument("--backend", choices=BACKENDS, default="faster-whisper", help="ASR backend.")
    parser.add_argument("--model", default="", help="Model directory, checkpoint or name; empty means the bundled "
                        "tiny.en (faster-whisper). openai-whisper's released weights need a download.")
    parser.add_argument("--compute-type", default=defaults.compute_type, help="faster-whisper weight type.")
    parser.add_argument("--beam-size", type=int, default=defaults.beam_size, help="Beam width (1 = greedy).")
    parser.add_argument("--encoder-context-s", type=float, default=defaults.encoder_context_s,
                        help="faster-whisper encoder context in seconds (30 = Whisper's full window).")
    parser.add_argument("--language", default="en", help="Language code; empty lets multilingual models detect it.")
    parser.add_argument("--speed", type=float, default=1.0, help="Playback speed: 1.0 is real time.")
    parser.add_argument("--end-silence-ms", type=int, default=None, help="VAD silence that ends an utterance.")
    parser.add_argument("--vad-threshold", type=float, default=None, help="VAD speech probability threshold.")
    parser.set_defaults(func=run)


def run(args) -> int:
    import os

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from ..speech.asr import AsrModelError, load_backend
    from ..speech.audio import AudioSourceError, open_source
    from ..speech.options import AsrOptions, AudioOptions, SegmenterOptions
    from ..speech.pipeline import SpeechPipeline

    vad = {}
    if args.end_silence_ms is not None:
        vad["end_silence_ms"] = args.end_silence_ms
    if args.vad_threshold is not None:
        vad["threshold"] = args.vad_threshold
    try:
        asr_options = AsrOptions(backend=args.backend, model=args.model, compute_type=args.compute_type,
                                 beam_size=args.beam_size, language=args.language,
                                 encoder_context_s=args.encoder_context_s)
        segmenter_options = SegmenterOptions(**vad)
        AudioOptions(source=args.files[0], playback_speed=args.speed)  # checks --speed before the model loads
    except ValueError as exc:
        raise CliError(str(exc)) from None
    try:
        backend = load_backend(asr_options)
    except AsrModelError as exc:
        raise CliError(str(exc)) from None
    failed = 0
    for name in args.files:
        try:
            audio_options = AudioOptions(source=name, playback_speed=args.speed, file_gap_s=0.5)
            source = open_source(audio_options)
        except (AudioSourceError, ValueError) as exc:
            print(f"shadowpeft transcribe: {exc}", file=sys.stderr)
            failed += 1
            continue

        def emit(utterance, name=name):
            t = utterance.transcript
            segment = utterance.segment
            start = utterance.file_offset_s
            print(json.dumps({"file": name, "start_s": round(start, 3),
                              "end_s": round(start + segment.speech_end_s - segment.speech_start_s, 3),
                              "text": t.text, "confidence": round(t.confidence, 4),
                              "latency_s": round(utterance.latency_s, 4)}), flush=True)

        pipeline = SpeechPipeline(source, backend, emit, segmenter_options, audio_options)
        pipeline.start()
        try:
            while not pipeline.wait(0.5):
                if pipeline.failed is not None:
                    break
        finally:
            pipeline.stop()
        if pipeline.failed is not None:
            print(f"shadowpeft transcribe: {name}: {pipeline.failed}", file=sys.stderr)
            failed += 1
    if failed == len(args.files):
        raise CliError("no file could be transcribed")
    return 1 if failed else 0
