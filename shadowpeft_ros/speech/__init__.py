"""Speech core (no rclpy): audio sources, VAD segmentation, Whisper backends, the command gate and TTS.

Typical use::

    source = open_source(AudioOptions(source="clip.wav", playback_speed=1.0))
    backend = load_backend(AsrOptions())            # Whisper base, biased toward the command language
    pipeline = SpeechPipeline(source, backend, on_utterance=print)
    pipeline.start(); pipeline.wait(); pipeline.stop()
"""

from .asr import AsrModelError, FasterWhisperBackend, OpenAIWhisperBackend, Transcript, load_backend
from .audio import (AudioSource, AudioSourceError, AudioStream, FakeSoundCard, LoopbackSoundCard, MicrophoneSource,
                    RingBuffer, StreamResampler, open_source, read_wav)
from .duplex import DuplexDecision, DuplexOptions, HalfDuplex
from .gate import STOP_WORDS, CommandGate, GateDecision, contains_stop_word, is_stop_utterance
from .models import ModelAssemblyError, assemble_base
from .options import AsrOptions, AudioOptions, GateOptions, SegmenterOptions
from .pipeline import SpeechPipeline, Utterance, audio_problem
from .vad import Segment, VadSegmenter, segment_audio

__all__ = [
    "AsrModelError", "AsrOptions", "AudioOptions", "AudioSource", "AudioSourceError", "AudioStream", "CommandGate",
    "DuplexDecision", "DuplexOptions", "HalfDuplex", "LoopbackSoundCard", "ModelAssemblyError", "STOP_WORDS",
    "assemble_base", "audio_problem", "contains_stop_word", "is_stop_utterance", "FakeSoundCard", "FasterWhisperBackend", "GateDecision", "GateOptions", "MicrophoneSource",
    "OpenAIWhisperBackend", "RingBuffer", "Segment", "SegmenterOptions", "SpeechPipeline", "StreamResampler",
    "Transcript", "Utterance", "VadSegmenter", "load_backend", "open_source", "read_wav", "segment_audio",
]
