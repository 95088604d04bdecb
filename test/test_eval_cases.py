"""Case files: the committed set, and files written by someone else with unknown fields or broken lines."""

import importlib.util
import json
from pathlib import Path

import pytest

from shadowpeft_ros.evaluation.cases import CaseFileError, load_cases

ROOT = Path(__file__).resolve().parent.parent
EXPECTED_SIT = {"route": "local", "actions": [{"type": "posture", "name": "sit"}], "say": ""}


def _eval_script(name):
    spec = importlib.util.spec_from_file_location(name, ROOT / "eval" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _make_cases_module():
    return _eval_script("make_cases")


def write(path: Path, *lines) -> Path:
    path.write_text("\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines) + "\n")
    return path


def test_committed_cases_load_without_errors_and_cover_every_kind():
    cases = load_cases(ROOT / "eval" / "cases.jsonl")
    assert not [c.error for c in cases if c.error]
    assert not [c.notes for c in cases if c.notes]
    assert len([c for c in cases if c.audio is not None]) >= 30
    kinds = {c.kind for c in cases}
    assert kinds == {"command", "out_of_scope", "refusal"}
    types = {a.type for c in cases for a in c.expected.actions}
    assert types == {"move", "turn", "posture", "trick", "stop", "wait"}
    assert any(len(c.expected.actions) >= 3 for c in cases)


def test_committed_cases_match_their_generator():
    module = _make_cases_module()
    committed = [json.loads(line) for line in (ROOT / "eval" / "cases.jsonl").read_text().splitlines()]
    assert committed == module.case_records()
    for record in committed:
        if "audio" in record:
            assert (ROOT / "eval" / record["audio"]).is_file()


def test_committed_phrasings_stay_out_of_the_training_templates():
    module = _make_cases_module()
    assert module.check_against_training_templates(module.case_records(), n_generated=5000) == []


def test_the_template_check_catches_a_training_phrasing():
    module = _make_cases_module()
    problems = module.check_against_training_templates(
        [{"id": "leak", "text": "Hey dog, walk forward 2 meters and then sit down."}], n_generated=500)
    assert any("'walk forward'" in p for p in problems)
    assert any("' and then '" in p for p in problems)
    assert any("'hey dog, '" in p for p in problems)


def test_committed_audio_is_small_16k_mono():
    import soundfile

    clips = sorted((ROOT / "eval" / "audio").glob("*.wav"))
    assert 30 <= len(clips) <= 60
    for clip in clips:
        info = soundfile.info(str(clip))
        assert (info.samplerate, info.channels) == (16000, 1), clip
        assert info.duration < 8.0


def test_unknown_fields_are_ignored_with_a_note(tmp_path):
    path = write(tmp_path / "c.jsonl", {"id": 7, "text": "sit", "expected": EXPECTED_SIT, "speaker": "bob",
                                         "difficulty": 3})
    (case,) = load_cases(path)
    assert case.id == "7" and not case.error
    assert case.notes == ("ignored unknown fields ['difficulty', 'speaker']",)
    assert case.expected.actions[0].name == "sit"


def test_each_broken_line_becomes_its_own_error_and_the_rest_load(tmp_path):
    path = write(
        tmp_path / "c.jsonl",
        {"id": "ok", "text": "sit", "expected": EXPECTED_SIT},
        "{not json",
        {"id": "missing", "audio": "clips/none.wav", "expected": EXPECTED_SIT},
        {"id": "v2", "text": "jump", "expected": {"version": 2, "actions": []}},
        {"id": "bad-action", "text": "fly", "expected": {"route": "local", "actions": [{"type": "fly"}], "say": ""}},
        {"id": "no-expected", "text": "sit"},
        {"id": "oos-with-actions", "text": "sit", "expected": EXPECTED_SIT, "out_of_scope": True},
        {"text": "no id", "expected": EXPECTED_SIT},
        {"id": "ok", "text": "again", "expected": EXPECTED_SIT},
        "",
        [1, 2],
    )
    cases = {c.id: c for c in load_cases(path)}
    assert not cases["ok"].error
    assert "line 2 is not valid JSON" in cases["line-2"].error
    assert "audio file not found" in cases["missing"].error and "none.wav" in cases["missing"].error
    assert "not a command-language-v1 plan" in cases["v2"].error and "unknown fields ['version']" in cases["v2"].error
    assert "actions[0].type" in cases["bad-action"].error
    assert "no \"expected\" plan" in cases["no-expected"].error
    assert "out-of-scope case must expect no actions" in cases["oos-with-actions"].error
    assert "no \"id\"" in cases["line-8"].error
    assert "duplicate id 'ok'" in cases["ok@line-9"].error
    assert "must be a JSON object" in cases["line-11"].error
    assert len(cases) == 10


def test_audio_paths_are_relative_to_the_case_file(tmp_path):
    (tmp_path / "clips").mkdir()
    (tmp_path / "clips" / "a.wav").write_bytes(b"RIFF")
    path = write(tmp_path / "c.jsonl", {"id": "a", "audio": "clips/a.wav", "expected": EXPECTED_SIT})
    (case,) = load_cases(path)
    assert case.audio == tmp_path / "clips" / "a.wav" and not case.error and case.modality == "audio"


def test_limit_and_whole_file_errors(tmp_path):
    path = write(tmp_path / "c.jsonl", *({"id": str(i), "text": "sit", "expected": EXPECTED_SIT} for i in range(5)))
    assert [c.id for c in load_cases(path, limit=2)] == ["0", "1"]
    with pytest.raises(CaseFileError, match="not found"):
        load_cases(tmp_path / "absent.jsonl")
    with pytest.raises(CaseFileError, match="holds no cases"):
        load_cases(write(tmp_path / "empty.jsonl", ""))


def _make_selection_module():
    return _eval_script("make_selection")


def test_the_selection_set_is_committed_as_generated_and_loads():
    module = _make_selection_module()
    committed = [json.loads(line) for line in (ROOT / "eval" / "selection.jsonl").read_text().splitlines()]
    assert committed == module.selection_records()
    cases = load_cases(ROOT / "eval" / "selection.jsonl")
    assert not [c.error for c in cases if c.error]
    assert {c.kind for c in cases} == {"command", "out_of_scope", "refusal"}


def test_the_selection_set_stays_apart_from_the_generator_and_the_cases():
    module = _make_selection_module()
    assert module.check(module.selection_records(), n_generated=5000) == []
    # The check would catch an utterance lifted from a case, and a phrasing of the dev split.
    leaks = module.check([{"id": "a", "text": "Please march ahead one meter, afterwards veer left."}], n_generated=200)
    assert any("shares 'march ahead one meter'" in p for p in leaks)
    dev_only = [{"id": "b", "text": "Get back two meters."}]  # "get back" is a dev-split phrasing
    assert module.check(dev_only, n_generated=200) and not module._mc.check_against_training_templates(
        dev_only, n_generated=200)
