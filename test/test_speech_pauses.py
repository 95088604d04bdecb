"""A pause inside a command keeps it one utterance; a stop goes out on the early decode; bad audio gives nothing."""

import numpy as np
import pytest
import soundfile

from shadowpeft_ros.speech.asr import load_backend
from shadowpeft_ros.speech.audio import open_source
from shadowpeft_ros.speech.corpus import pause_command
from shadowpeft_ros.speech.wer import word_error_rate
from shadowpeft_ros.speech.options import AsrOptions, AudioOptions, SegmenterOptions
from shadowpeft_ros.speech.pipeline import SpeechPipeline, audio_problem
from shadowpeft_ros.speech.tts import synthesize
from shadowpeft_ros.speech.vad import VadSegmenter, segment_audio

HALVES = (("walk forward one meter", "then turn left and sit"), ("go back two meters", "then wave your paw"))


def _speech(text, path, voice):
    return soundfile.read(str(synthesize(text, path, voice=voice)), dtype="float32")[0]


@pytest.mark.parametrize("voice", ["en-us", "en-gb"])
def test_a_400_ms_pause_does_not_cut_a_command_in_two(tmp_path, voice):
    for i, (a, b) in enumerate(HALVES):
        first, second = _speech(a, tmp_path / f"{i}a.wav", voice), _speech(b, tmp_path / f"{i}b.wav", voice)
        joined = pause_command(first, second, 0.4)
        assert len(segment_audio(joined)) == 1, (a, b)
        # The early cut after end_silence_ms happened and was voided when speech resumed.
        segmenter = VadSegmenter()
        cuts = segmenter.accept(joined) + segmenter.flush()
        assert [c.final for c in cuts].count(True) == 1 and not cuts[0].final
        assert len({c.utterance_id for c in cuts}) == 1
        # Control: the old segmentation (300 ms of silence ends an utterance) does cut it in two,
        # and a pause of a full second is two utterances with the defaults too.
        assert len(segment_audio(joined, SegmenterOptions(pause_ms=0))) == 2
        assert len(segment_audio(pause_command(first, second, 1.0))) == 2


@pytest.mark.slow
def test_a_stop_is_published_from_the_early_decode_and_a_command_after_the_pause(tmp_path):
    d = tmp_path / "clips"
    synthesize("stop", d / "a.wav", voice="en-us", lead_silence_s=0.3, trail_silence_s=1.0)
    synthesize("turn left", d / "b.wav", voice="en-gb", lead_silence_s=0.3, trail_silence_s=1.0)
    heard = []
    options = AudioOptions(source=str(d), playback_speed=1.0)
    pipeline = SpeechPipeline(open_source(options), load_backend(AsrOptions()), heard.append, audio_options=options)
    pipeline.start()
    try:
        assert pipeline.wait(60)
    finally:
        pipeline.stop()
    assert [u.source.rsplit("/", 1)[-1] for u in heard] == ["a.wav", "b.wav"], [u.transcript.text for u in heard]
    stop, command = heard
    assert "stop" in stop.transcript.text.lower() and not stop.segment.final
    assert word_error_rate(["turn left"], [command.transcript.text]) == 0 and command.segment.final
    # The stop went out on its early cut; the command had to wait for the pause that ends a command.
    assert command.latency_s >= SegmenterOptions().pause_ms / 1000 - 0.05


def test_bad_audio_is_named():
    assert audio_problem(np.zeros(0, dtype=np.float32)) == "empty audio buffer"
    assert "NaN" in audio_problem(np.array([0.1, np.nan], dtype=np.float32))
    assert audio_problem(np.zeros(1600, dtype=np.float32)) == "audio is digital silence"
    clipped = np.clip(np.sin(np.arange(16000) * 0.05) * 5, -1, 1).astype(np.float32)
    assert "clipped" in audio_problem(clipped) and "gain" in audio_problem(clipped)
    assert audio_problem((0.3 * np.sin(np.arange(16000) * 0.05)).astype(np.float32)) == ""


@pytest.mark.slow
def test_clipped_speech_gives_a_clear_message_and_no_command(tmp_path):
    speech = _speech("walk forward two meters", tmp_path / "s.wav", "en-us")
    loud = np.clip(speech * 30, -1, 1).astype(np.float32)
    soundfile.write(str(tmp_path / "clipped.wav"), np.concatenate([np.zeros(8000), loud, np.zeros(16000)]), 16000)
    heard = []
    options = AudioOptions(source=str(tmp_path / "clipped.wav"), playback_speed=8.0)
    pipeline = SpeechPipeline(open_source(options), load_backend(AsrOptions()), heard.append, audio_options=options)
    pipeline.start()
    try:
        assert pipeline.wait(60)
    finally:
        pipeline.stop()
    assert heard == [] and pipeline.bad_audio >= 1 and "clipped" in pipeline.last_problem
    assert pipeline.segments_seen == 0  # Whisper never ran on it
