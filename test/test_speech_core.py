"""Speech core without a recogniser: resampling, ring buffer, sources, VAD segmentation, gate and options."""

import time

import numpy as np
import pytest
import soundfile
from scipy.signal import resample_poly

from shadowpeft_ros.speech.audio import (AudioSourceError, AudioStream, FakeSoundCard, MicrophoneSource, RingBuffer,
                                         StreamResampler, downmix, open_source, read_wav)
from shadowpeft_ros.speech.gate import CommandGate
from shadowpeft_ros.speech.options import AsrOptions, AudioOptions, GateOptions, SegmenterOptions
from shadowpeft_ros.speech.tts import make_noise, synthesize
from shadowpeft_ros.speech.vad import VadSegmenter, segment_audio


@pytest.mark.parametrize("rate", [8000, 22050, 44100, 48000, 16000])
@pytest.mark.parametrize("block", [37, 512, 4096])
def test_stream_resampler_matches_whole_signal(rate, block):
    x = np.random.default_rng(rate).normal(size=rate * 2).astype(np.float32)
    resampler = StreamResampler(rate)
    pieces = [resampler.process(x[i:i + block]) for i in range(0, len(x), block)]
    pieces.append(resampler.flush())
    y = np.concatenate(pieces)
    from fractions import Fraction

    f = Fraction(16000, rate)
    reference = resample_poly(x, f.numerator, f.denominator)
    assert len(y) == len(reference) == 32000
    np.testing.assert_allclose(y, reference, atol=1e-5)


def test_ring_buffer_keeps_order_and_counts_overflow():
    ring = RingBuffer(10)
    ring.write(np.arange(4, dtype=np.float32))
    ring.write(np.arange(4, 8, dtype=np.float32))
    np.testing.assert_array_equal(ring.read(0), np.arange(8))
    ring.write(np.arange(100, 115, dtype=np.float32))  # more than fits: the oldest 5 are lost
    assert ring.dropped == 5
    np.testing.assert_array_equal(ring.read(0), np.arange(105, 115))
    assert len(ring.read(0.01)) == 0


def test_downmix_averages_channels_and_scales_integers():
    stereo = np.array([[1.0, 0.0], [0.5, -0.5]], dtype=np.float32)
    np.testing.assert_allclose(downmix(stereo), [0.5, 0.0])
    ints = np.array([[16384], [-32768]], dtype=np.int16)
    np.testing.assert_allclose(downmix(ints), [0.5, -1.0])


def test_missing_and_unreadable_wav_give_clear_errors(tmp_path):
    with pytest.raises(AudioSourceError, match="not found"):
        read_wav(tmp_path / "nope.wav")
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunkjunkjunk")
    with pytest.raises(AudioSourceError, match="cannot read audio file .*bad.wav"):
        read_wav(bad)
    empty_dir = tmp_path / "empty"
    empty_dir.mkdir()
    with pytest.raises(AudioSourceError, match="holds no audio files"):
        open_source(AudioOptions(source=str(empty_dir)))
    with pytest.raises(AudioSourceError, match="neither 'mic' nor an existing"):
        open_source(AudioOptions(source=str(tmp_path / "missing.wav")))


def test_absent_microphone_error_lists_devices():
    # This machine has no sound card: query_devices() is empty and the error must say so.
    import sounddevice

    if len(sounddevice.query_devices()) == 0:
        with pytest.raises(AudioSourceError, match="no audio devices at all"):
            MicrophoneSource()
    with pytest.raises(AudioSourceError) as info:
        open_source(AudioOptions(source="mic", device="no-such-mic-xyz"))
    assert "query_devices" in str(info.value)


class _FakeDevices(list):
    """A named fake of sounddevice's device list, for a machine with sound cards (this one has none)."""


def test_microphone_feeds_the_shared_callback(monkeypatch):
    """The mic opens an InputStream on the same AudioStream.audio_callback the WAV fake calls."""
    import sounddevice

    devices = _FakeDevices([{"name": "Fake USB Mic", "max_input_channels": 2, "max_output_channels": 0,
                             "default_samplerate": 48000.0}])
    opened = {}

    class FakeInputStream:
        """A named fake of sounddevice.InputStream: delivers one stereo 48 kHz block to the callback."""

        def __init__(self, **kwargs):
            opened.update(kwargs)

        def start(self):
            block = np.full((4800, 2), 0.25, dtype=np.float32)
            opened["callback"](block, 4800, None, None)

        def stop(self):
            pass

        def close(self):
            pass

    monkeypatch.setattr(sounddevice, "query_devices", lambda *a, **k: devices)
    monkeypatch.setattr(sounddevice, "InputStream", FakeInputStream)
    with pytest.raises(AudioSourceError, match=r"0: Fake USB Mic \(inputs 2"):
        MicrophoneSource(device="webcam")
    source = MicrophoneSource(device="usb", channels=2)
    stream = AudioStream(source)
    stream.start()
    assert opened["callback"] == stream.audio_callback
    assert opened["samplerate"] == 48000 and opened["channels"] == 2
    out = stream.read(0.1)
    assert abs(len(out) - 1600) <= 20  # 0.1 s at 16 kHz, minus the resampler's look-ahead
    np.testing.assert_allclose(out[100:-100], 0.25, atol=1e-3)
    stream.stop()


def test_fake_sound_card_plays_in_real_time_through_the_callback(tmp_path):
    path = tmp_path / "tone.wav"
    rate = 22050
    tone = 0.3 * np.sin(2 * np.pi * 440 * np.arange(rate) / rate)
    soundfile.write(str(path), np.stack([tone, tone], axis=1), rate)  # stereo, not 16 kHz
    card = open_source(AudioOptions(source=str(path), block_size=1024, file_gap_s=0.0, playback_speed=2.0))
    assert isinstance(card, FakeSoundCard) and card.sample_rate == rate
    calls = []
    stream = AudioStream(card)
    original = stream.audio_callback

    def spy(indata, frames, time_info, status):
        calls.append((time.monotonic(), indata.shape))
        original(indata, frames, time_info, status)

    started = time.monotonic()
    card.start(spy)
    assert card.exhausted.wait(5)
    elapsed = time.monotonic() - started
    assert 0.4 <= elapsed <= 1.5, f"1 s of audio at speed 2 took {elapsed:.2f} s"
    assert all(shape == (1024, 2) for _, shape in calls)
    out = np.concatenate([stream.read(0.01) for _ in range(5)])
    assert abs(len(out) - 16000 * len(calls) * 1024 / rate) < 2
    expected = resample_poly(tone, 320, 441)
    np.testing.assert_allclose(out[200:15000], expected[200:15000], atol=1e-3)


def test_segmenter_cuts_one_utterance_with_pre_roll(tmp_path):
    wav = synthesize("walk forward two meters", tmp_path / "a.wav", lead_silence_s=1.0, trail_silence_s=1.0)
    audio, _ = soundfile.read(str(wav), dtype="float32")
    options = SegmenterOptions(pre_roll_ms=200, post_roll_ms=100)
    segments = segment_audio(audio, options)
    assert len(segments) == 1
    s = segments[0]
    assert 0.8 <= s.speech_start_s <= 1.2
    assert abs(s.start_s - (s.speech_start_s - 0.2)) < 1e-6
    assert s.speech_end_s < len(audio) / 16000 - 0.9
    assert not s.split


def test_silence_and_steady_noise_produce_nothing(tmp_path):
    assert segment_audio(np.zeros(16000 * 3, dtype=np.float32)) == []
    for kind, amplitude in (("whitenoise", 0.1), ("pinknoise", 0.2), ("brownnoise", 0.5)):
        wav = make_noise(tmp_path / f"{kind}.wav", 3.0, kind=kind, amplitude=amplitude)
        noise, _ = soundfile.read(str(wav), dtype="float32")
        assert segment_audio(noise) == [], kind
    hum = 0.3 * np.sin(2 * np.pi * 50 * np.arange(16000 * 3) / 16000).astype(np.float32)
    assert segment_audio(hum) == []


def test_long_monologue_is_split_at_pauses(tmp_path):
    sentence = "the quick brown dog walks forward, then it turns left and sits down near the door"
    wav = synthesize(" ".join([sentence] * 12), tmp_path / "long.wav", speed_wpm=175)
    audio, _ = soundfile.read(str(wav), dtype="float32")
    assert len(audio) / 16000 > 50
    options = SegmenterOptions(max_utterance_s=10.0)
    segmenter = VadSegmenter(options)
    segmenter.record_probabilities = True
    segments = segmenter.accept(audio) + segmenter.flush()
    assert len(segments) >= 5
    assert all(s.speech_end_s - s.speech_start_s <= 10.0 + 1e-6 for s in segments)
    assert any(s.split for s in segments)
    for a, b in zip(segments, segments[1:]):
        assert b.speech_start_s >= a.speech_end_s  # no audio is heard twice as speech
        if a.split:
            # A clean split lies in a pause: the VAD heard no speech where it cut.
            chunk = int(a.speech_end_s * 16000) // 512
            assert segmenter.probabilities[chunk] < options.threshold
    covered = sum(s.speech_end_s - s.speech_start_s for s in segments)
    assert covered > 0.75 * len(audio) / 16000


def test_gate_wake_phrase_variants_and_stripping():
    gate = CommandGate(GateOptions(require_wake_phrase=True))
    for heard in ("Hey dog, walk forward.", "Hey nog, please turn right", "A dog sit down", "hey Doug: lie down",
                  "Hey, dog. Sit.", "Hey Log, turn around", "Hey dogs, sit"):
        decision = gate.decide(heard, 10.0, 11.0)
        assert decision.accepted and decision.wake_heard, heard
        assert not decision.text.lower().startswith(("hey", "a dog")), decision.text
    assert gate.decide("Hey dog, walk forward.").text == "Walk forward."
    assert not gate.decide("walk forward", 20.0, 21.0).accepted
    assert not gate.decide("they dogged it", 20.0, 21.0).accepted
    assert not gate.decide("hey cat, sit", 20.0, 21.0).accepted
    strict = CommandGate(GateOptions(require_wake_phrase=True, wake_fuzzy=False))
    assert not strict.decide("Hey Log, turn around", 20.0, 21.0).accepted
    assert strict.decide("Hey nog, turn around", 20.0, 21.0).accepted  # listed variants still pass


def test_gate_wake_phrase_alone_opens_a_window():
    gate = CommandGate(GateOptions(require_wake_phrase=True, wake_window_s=5.0))
    alone = gate.decide("Hey dog.", 100.0, 100.5)
    assert not alone.accepted and alone.wake_heard
    assert gate.decide("turn left", 103.0, 104.0).accepted
    assert not gate.decide("turn right", 104.5, 105.0).accepted  # the window serves one command


def test_gate_stop_words_always_pass():
    gate = CommandGate(GateOptions(require_wake_phrase=True, push_to_talk=True))
    for heard in ("Stop!", "Halt.", "Freeze!", "Stay.", "Stop. Stop.", "stop stop", "Hey dog, stop now.",
                  "Stop it, dog!", "STOP MOVING"):
        decision = gate.decide(heard, 1.0, 2.0)
        assert decision.accepted and decision.is_stop, heard
    for heard in ("stop at the door", "walk to the bus stop", "stay on the path and walk forward"):
        assert not gate.decide(heard, 1.0, 2.0).is_stop, heard


def test_gate_push_to_talk_intervals():
    gate = CommandGate(GateOptions(push_to_talk=True))
    assert not gate.decide("sit", 10.0, 11.0).accepted
    gate.set_push_to_talk(True, now=20.0)
    gate.set_push_to_talk(False, now=22.0)
    assert gate.decide("sit", 21.0, 23.5).accepted  # released before the end of speech: still pressed during it
    assert not gate.decide("sit", 22.5, 23.0).accepted
    gate.set_push_to_talk(True, now=30.0)
    assert gate.push_to_talk_pressed and gate.decide("sit", 31.0, 32.0).accepted


@pytest.mark.parametrize("cls,kwargs,match", [
    (AudioOptions, {"playback_speed": 0}, "playback_speed"),
    (AudioOptions, {"sample_rate": 100}, "sample_rate"),
    (SegmenterOptions, {"threshold": 1.5}, "threshold"),
    (SegmenterOptions, {"max_utterance_s": 45}, "max_utterance_s"),
    (SegmenterOptions, {"post_roll_ms": 900, "end_silence_ms": 300}, "post_roll_ms"),
    (AsrOptions, {"backend": "kaldi"}, "backend"),
    (AsrOptions, {"beam_size": 0}, "beam_size"),
    (GateOptions, {"stop_words": ()}, "stop_words"),
    (GateOptions, {"require_wake_phrase": True, "wake_phrases": ()}, "wake phrase"),
])
def test_options_reject_bad_values(cls, kwargs, match):
    with pytest.raises(ValueError, match=match):
        cls(**kwargs)


def test_neg_threshold_defaults_below_threshold():
    assert SegmenterOptions(threshold=0.6).neg_threshold == pytest.approx(0.45)


def test_one_stop_detector_for_every_stage():
    from shadowpeft_ros.policy import PolicyOptions
    from shadowpeft_ros.speech import gate as gate_module
    from shadowpeft_ros.speech.gate import STOP_WORDS, contains_stop_word, is_stop_utterance, stops_said
    from shadowpeft_ros.speech.options import GateOptions

    # The interpreter's old fast-path phrasings are all stops of the one detector.
    for heard in ("stop", "Halt!", "freeze.", "stop moving", "Stop now, please", "emergency stop", "hey dog, stop",
                  "okay dog stop now", "Dog, stop it!"):
        assert is_stop_utterance(heard), heard
    for heard in ("stop at the door", "don't stop", "Stopped.", "walk forward", "", "   ", "don't move forward",
                  "stand still for three seconds", "move"):
        assert not is_stop_utterance(heard), heard
    # Stops said in several words, none of them a stop word alone.
    for heard in ("Don't move!", "Emergency, do not move.", "hold still", "dog, stand still now", "Don't budge."):
        assert is_stop_utterance(heard), heard
    assert not is_stop_utterance("don't move", stop_phrases=())
    assert stops_said("okay stay there and don't move, stop") == ["stay", "don't move", "stop"]
    assert GateOptions().stop_words == STOP_WORDS
    assert is_stop_utterance("cease", stop_words=("cease",)) and not is_stop_utterance("stop", stop_words=("cease",))
    assert contains_stop_word("I can't stop here") and not contains_stop_word("stopped")
    # The decision policy's stop words default to the same list (and the parameter file sets it once, for all).
    assert PolicyOptions().stop_words == STOP_WORDS
    # The list has one home: the options' default is that very tuple, not a second spelling of it.
    from shadowpeft_ros.speech import options as options_module

    assert options_module.DEFAULT_STOP_WORDS is gate_module.STOP_WORDS
