"""``shadowpeft transcribe``: JSON lines from the streaming path, clear errors for bad input."""

import json

import pytest

from shadowpeft_ros.cli import main
from shadowpeft_ros.speech.tts import synthesize


@pytest.mark.slow
def test_transcribe_prints_one_json_line_per_utterance(tmp_path, capsys):
    a = synthesize("turn left", tmp_path / "a.wav", lead_silence_s=1.0, trail_silence_s=0.2)
    b = synthesize("sit down", tmp_path / "b.wav", voice="en-gb", lead_silence_s=0.3, trail_silence_s=0.3)
    assert main(["transcribe", str(a), str(b), "--speed", "4"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["file"] for line in lines] == [str(a), str(b)]
    for line in lines:
        assert set(line) == {"file", "start_s", "end_s", "text", "confidence", "latency_s"}
        assert 0 <= line["start_s"] < line["end_s"] and 0 < line["confidence"] <= 1 and line["latency_s"] > 0
    assert 0.8 <= lines[0]["start_s"] <= 1.2  # a.wav's second of leading silence is not speech
    assert "left" in lines[0]["text"].lower()


def test_transcribe_reports_bad_input(tmp_path, capsys):
    assert main(["transcribe", str(tmp_path / "missing.wav"), "--model", str(tmp_path / "no-model")]) == 2
    assert "Whisper model directory not found" in capsys.readouterr().err
    assert main(["transcribe", str(tmp_path / "missing.wav")]) == 2
    assert "neither 'mic' nor an existing WAV file" in capsys.readouterr().err
    assert main(["transcribe", "x.wav", "--speed", "0"]) == 2
    assert "playback_speed" in capsys.readouterr().err


@pytest.mark.slow
def test_transcribe_says_why_a_file_gave_nothing(tmp_path, capsys):
    import numpy as np
    import soundfile

    silence = tmp_path / "silence.wav"
    soundfile.write(str(silence), np.zeros(16000 * 2, dtype=np.float32), 16000)
    speech = soundfile.read(str(synthesize("walk forward two meters", tmp_path / "s.wav")), dtype="float32")[0]
    clipped = tmp_path / "clipped.wav"
    soundfile.write(str(clipped), np.concatenate([np.zeros(8000), np.clip(speech * 30, -1, 1), np.zeros(16000)]),
                    16000)
    assert main(["transcribe", str(silence), str(clipped), "--speed", "8", "--model", "tiny.en"]) == 0
    captured = capsys.readouterr()
    assert captured.out == ""
    assert f"{silence}: no utterance (the VAD found no speech)" in captured.err
    assert f"{clipped}: no utterance (1 utterance(s) refused: audio is clipped" in captured.err
