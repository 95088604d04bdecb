"""Synthetic data: deterministic, complete coverage of the language, and held-out dev phrasings."""

import re
from collections import Counter

import pytest

from shadowpeft_ros.interpreter.data import FIXED_TURNS, REFUSAL_SAY, asr_noise, generate, number_words, say_number
from shadowpeft_ros.interpreter.normalise import normalise_utterance
from shadowpeft_ros.plan import HELD_ACTIONS, REMOTE_MARKER
from shadowpeft_ros.safety import MotionDefaults


def test_generate_is_deterministic():
    assert generate("train", 300, seed=7) == generate("train", 300, seed=7)
    assert [e.templates for e in generate("dev", 50, 7)] == [e.templates for e in generate("dev", 50, 7)]
    assert generate("train", 300, seed=7) != generate("train", 300, seed=8)


def test_dev_templates_are_disjoint_from_train():
    train = {t for e in generate("train", 3000, 0) for t in e.templates}
    dev = {t for e in generate("dev", 1000, 0) for t in e.templates}
    assert train and dev
    assert not train & dev


def test_coverage_of_actions_directions_and_kinds():
    examples = generate("train", 3000, 0)
    plans = [e.plan for e in examples]
    actions = [a for p in plans for a in p.actions]
    kinds = Counter(e.kind for e in examples)
    assert set(kinds) == {"command", "multi", "out_of_scope", "refusal"}
    seen = {(a.type, getattr(a, "direction", getattr(a, "name", ""))) for a in actions}
    for expected in [("move", d) for d in ("forward", "backward", "left", "right")] + \
                    [("turn", "left"), ("turn", "right"), ("stop", ""), ("wait", "")] + \
                    [("posture", n) for n in ("stand", "sit", "lie_down")] + \
                    [("trick", n) for n in ("dance", "wave", "stretch", "spin")]:
        assert expected in seen
    defaults = MotionDefaults()
    speeds = {a.speed_mps for a in actions if a.type == "move"}
    assert any(" slow" in e.attached for e in examples) and any(" fast" in e.attached for e in examples)
    assert {defaults.slow_speed_mps, defaults.fast_speed_mps} <= speeds
    assert any(len(p.actions) == 3 for p in plans)


def test_out_of_scope_and_refusal_targets():
    for e in generate("train", 1000, 0):
        if e.kind == "out_of_scope":
            assert e.detached == REMOTE_MARKER and e.plan.say and not e.plan.actions
        elif e.kind == "refusal":
            assert e.attached == e.detached == f"say: {REFUSAL_SAY}"
        else:
            assert e.attached == e.detached and e.plan.actions


def test_out_of_scope_families_train_with_their_slots_filled_and_leave_the_dev_stream_alone():
    from shadowpeft_ros.interpreter.data import CANNOT_FAMILIES, OPEN_QUESTIONS

    families = set(OPEN_QUESTIONS["train"]) | set(CANNOT_FAMILIES["train"])
    train = [e for e in generate("train", 2000, 0) if e.kind == "out_of_scope"]
    from_families = [e for e in train if e.templates[0] in families]
    assert len(from_families) > len(train) // 4
    for e in from_families:
        assert "{" not in e.text and e.detached == REMOTE_MARKER and e.plan.say and not e.plan.actions
    every_family = families | set(OPEN_QUESTIONS["dev"]) | set(CANNOT_FAMILIES["dev"])
    assert not [e for e in generate("dev", 2000, 0) if e.templates and e.templates[0] in every_family]


def test_unsafe_families_train_as_refusals_on_both_paths_and_stay_out_of_the_dev_stream():
    from shadowpeft_ros.interpreter.data import REFUSAL_FAMILIES

    train = [e for e in generate("train", 3000, 0) if e.kind == "refusal"]
    from_families = [e for e in train if e.templates[0] in set(REFUSAL_FAMILIES["train"])]
    assert len(from_families) > len(train) // 4
    for e in from_families:
        # A refusal is decided on board: the detached model must not hand an unsafe request on as unknown.
        assert "{" not in e.text and e.attached == e.detached == f"say: {REFUSAL_SAY}"
    every_family = set(REFUSAL_FAMILIES["train"]) | set(REFUSAL_FAMILIES["dev"])
    assert not [e for e in generate("dev", 3000, 0) if e.templates and e.templates[0] in every_family]


def test_postures_also_train_with_harmless_places_so_a_place_alone_never_means_unsafe():
    from shadowpeft_ros.interpreter.data import ACTION_PHRASES, NOUN_FRAMES, RESTING_SPOTS

    def postures(split):
        return {p for name in ("sit", "lie_down") for p in ACTION_PHRASES[("posture", name)][split]}

    placed_phrases = {f"{phrase} {spot}" for phrase in postures("train")
                      for spot in RESTING_SPOTS["sit"] + RESTING_SPOTS["lie_down"]}
    placed = [e for e in generate("train", 4000, 0) if e.kind == "command" and e.templates[0] in placed_phrases]
    assert len(placed) >= 20
    # The place changes nothing: the posture is the plan, on board too, and nothing is refused.
    assert all(e.attached in ("sit", "lie_down") and e.detached == e.attached for e in placed)
    # The dev stream draws its postures from the phrase tables as before, never with a place added.
    tables = set(NOUN_FRAMES["dev"]) | postures("dev")
    dev = [e for e in generate("dev", 3000, 0) if e.kind == "command" and e.attached in ("sit", "lie_down")]
    assert dev and all(e.templates[0] in tables for e in dev)


def test_training_plans_go_back_and_forth_and_the_dev_stream_does_not():
    def back_and_forth(example):
        steps = example.attached.split(" ; ")
        return len(steps) >= 3 and all(steps[i] == steps[i - 2] for i in range(2, len(steps)))

    def share(split):
        long = [e for e in generate(split, 3000, 0) if e.kind == "multi" and e.attached.count(" ; ") >= 2]
        return sum(back_and_forth(e) for e in long) / len(long)

    # REPEAT_SHARE of long training plans repeat their steps two back ("walk 2 m, turn left, walk 2 m");
    # independent draws almost never do, and the dev split keeps drawing them independently.
    assert share("train") > 0.12 and share("dev") < 0.03


def test_training_plans_are_sometimes_said_as_lists_and_the_dev_stream_is_unchanged_by_it(monkeypatch):
    from shadowpeft_ros.interpreter import data

    dev = [(e.text, e.attached) for e in generate("dev", 500, 0)]
    monkeypatch.setattr(data, "LIST_SHARE", 1.0)
    assert [(e.text, e.attached) for e in generate("dev", 500, 0)] == dev
    multi = [e for e in generate("train", 1500, 0) if e.kind == "multi"]
    # Every join but the last is a bare comma: "walk two meters, turn left, and sit".
    assert multi and all(e.text.count(",") >= e.attached.count(" ; ") - 1 for e in multi)
    # Without lists, a connector word joins most plans: the commas above come from the lists.
    monkeypatch.setattr(data, "LIST_SHARE", 0.0)
    plain = [e for e in generate("train", 1500, 0) if e.kind == "multi"]
    assert sum(e.text.count(",") >= e.attached.count(" ; ") + 1 for e in plain) < len(plain) // 2


def test_training_commands_sometimes_end_in_chatter_that_asks_for_nothing(monkeypatch):
    import re

    from shadowpeft_ros.interpreter import data

    # Chatter must not carry an action, a side or a number, or the unchanged target would teach a wrong plan.
    words = {w for phrase in data.CHATTER for w in re.findall(r"[a-z']+", phrase.lower())}
    assert not words & {"left", "right", "forward", "back", "backward", "up", "down", "stop", "stay", "wait", "sit",
                        "stand", "lie", "spin", "dance", "wave", "turn", "walk", "move", "go", "come", "halt",
                        "freeze", "one", "two", "three", "ten", "half", "dozen", "couple", "roll", "jump"}
    assert not any(re.search(r"\d", phrase) for phrase in data.CHATTER)
    # None is a dev-split tail or opener: the dev figures measure tails the model has not seen.
    held_out = {p.strip(" ,?!.").lower() for p in data.SUFFIXES["dev"] + data.PREFIXES["dev"]}
    assert not held_out & {c.strip(" ,?!.").lower() for c in data.CHATTER}

    dev = [(e.text, e.attached) for e in generate("dev", 500, 0)]
    monkeypatch.setattr(data, "CHATTER_SHARE", 1.0)
    assert [(e.text, e.attached) for e in generate("dev", 500, 0)] == dev
    chatty = [e for e in generate("train", 400, 0) if e.kind in ("command", "multi", "refusal")]
    monkeypatch.setattr(data, "CHATTER_SHARE", 0.0)
    plain = [e for e in generate("train", 400, 0) if e.kind in ("command", "multi", "refusal")]
    ends = tuple(c.lower() for c in data.CHATTER)
    assert all(e.text.lower().rstrip(".!").endswith(ends) for e in chatty if not e.noisy)  # noise may change words
    assert sum(e.text.lower().rstrip(".!").endswith(ends) for e in plain) < len(plain) // 5


def test_targets_copy_the_numbers_and_units_of_the_normalised_utterance():
    """The model copies, code computes: every number a target holds is written in the normalised utterance."""
    import re

    fixed = {phrase for split in FIXED_TURNS.values() for phrase, _, _ in split}
    checked = 0
    for e in generate("train", 3000, 0) + generate("dev", 1000, 0):
        if e.noisy or e.kind not in ("command", "multi") or fixed & set(e.templates):
            continue
        heard = normalise_utterance(e.text)
        for number, unit in re.findall(r"(\d+(?:\.\d+)?)(?: (m|cm|ft|in|yd|s|min)\b)?", e.attached):
            quantity = f"{number} {unit}" if unit else number
            assert re.search(rf"(?<![\d.]){re.escape(quantity)}(?![\d])", heard), (e.text, heard, e.attached)
            checked += 1
    assert checked > 1000


def test_units_stay_as_said():
    import re

    pairs = [(e.text.lower(), e.attached) for e in generate("train", 4000, 0) if e.kind == "command" and not e.noisy]
    # "get on your feet" is a posture, not a unit: only a number makes "feet" a distance.
    feet = [(t, a) for t, a in pairs if re.search(r"(\d|one|two|three|four|five|six|seven|eight|ten|twelve|half) feet", t)]
    cm = [(t, a) for t, a in pairs if "centimet" in t]
    assert feet and cm
    assert all(" ft" in a for _, a in feet) and all(" cm" in a for _, a in cm)
    fixed = {phrase: f"turn {d} {int(angle)}" for phrase, d, angle in FIXED_TURNS["train"]}
    turns = [(e.templates[0], e.attached) for e in generate("train", 4000, 0)
             if e.kind == "command" and e.templates and e.templates[0] in fixed]
    # A count ("face left twice") repeats the turn.
    assert turns and all(set(target.split(" ; ")) == {fixed[phrase]} for phrase, target in turns)


def test_a_said_count_repeats_the_action_and_nothing_else():
    commands = [e for e in generate("train", 6000, 1) if e.kind == "command" and not e.noisy]
    counted = [e for e in commands if re.search(r"\b(?:twice|thrice|[23] times)\b", normalise_utterance(e.text))]
    assert len(counted) > 50
    for e in counted:
        steps = e.attached.split(" ; ")
        said = normalise_utterance(e.text)
        want = 2 if re.search(r"\b(?:twice|2 times)\b", said) else 3
        assert len(steps) == want and len(set(steps)) == 1, (e.text, e.attached)
        assert steps[0].split(" ")[0] not in HELD_ACTIONS, e.text
        e.plan  # parses
    # Single commands without a count stay one action.
    assert all(" ; " not in e.attached for e in commands if e not in counted)


def test_no_target_writes_a_held_posture_twice_in_a_row():
    # "Stand up, then get on your feet" is one stand: the decoding policy doubts a plan that repeats a held
    # step (agreement.repeated_hold), so training must not teach one. Drawn independently, two steps of a
    # multi-step command are sometimes the same posture; the target then says it once.
    from shadowpeft_ros.interpreter.agreement import repeated_hold

    for split in ("train", "dev"):
        for e in generate(split, 20000, 1):
            assert not repeated_hold(e.attached) and not repeated_hold(e.detached), (e.text, e.attached)


def test_moves_to_the_speaker_train_mostly_without_a_distance():
    # "come here!" names its goal; generation 20 planned it as stop and sit, having trained it with a distance.
    from shadowpeft_ros.interpreter.data import TO_SPEAKER_VERBS

    def to_speaker(split):
        return [e for e in generate(split, 30000, 3)
                if e.kind == "command" and e.templates and e.templates[0] in TO_SPEAKER_VERBS]

    trained = to_speaker("train")
    bare = [e for e in trained if e.attached.split(" ")[2:3] in ([], ["_"])]
    assert len(trained) >= 20 and len(bare) >= 0.6 * len(trained), (len(bare), len(trained))
    assert all(e.attached.startswith("move forward") for e in trained)
    # The dev stream is as it was: its moves to the speaker keep the distances they drew.
    dev = to_speaker("dev")
    assert len([e for e in dev if e.attached.split(" ")[2:3] in ([], ["_"])]) < 0.4 * len(dev)


def test_number_rendering():
    assert number_words(0) == "zero" and number_words(45) == "forty five" and number_words(360) == "three hundred sixty"
    import random

    rng = random.Random(0)
    assert {say_number(rng, 2.5) for _ in range(50)} == {"2.5", "two point five", "two and a half"}
    with pytest.raises(ValueError):
        number_words(1000)


def test_asr_noise_is_seeded_and_changes_text():
    import random

    text = "hey dog, walk forward two meters to the left for me please"
    noisy = {asr_noise(random.Random(i), text) for i in range(40)}
    assert len(noisy) > 5
    assert asr_noise(random.Random(1), text) == asr_noise(random.Random(1), text)
    assert any("nog" in n or "meager" in n or " to meters" in n for n in noisy)
    share = sum(e.noisy for e in generate("train", 1000, 0)) / 1000
    assert 0.1 < share < 0.4


def test_every_quantity_idiom_normalises_to_its_own_number_and_unit():
    from shadowpeft_ros.interpreter.data import _SMALL_QUANTITIES, _copied

    for (value, unit), idioms in _SMALL_QUANTITIES.items():
        for idiom in idioms:
            assert _copied(idiom) == f"{value:g} {unit}", idiom


def test_training_can_weigh_kinds_and_step_counts_without_changing_the_default_data():
    import collections

    from shadowpeft_ros.interpreter.config import TrainConfig
    from shadowpeft_ros.interpreter.data import KIND_WEIGHTS, STEP_WEIGHTS

    assert generate("train", 300, 5) == generate("train", 300, 5, kind_weights=KIND_WEIGHTS, step_weights=STEP_WEIGHTS)
    shifted = generate("train", 1000, 5, kind_weights=(0, 1, 0, 0), step_weights=(0, 0, 1))
    assert {e.kind for e in shifted} == {"multi"}
    steps = collections.Counter(e.attached.count(" ; ") + 1 for e in shifted)
    # Four steps each, but for the few that drew the same posture twice in a row, which is said once.
    assert steps[4] >= 980
    assert all(set(e.attached.split(" ; ")) & set(HELD_ACTIONS) for e in shifted if e.attached.count(" ; ") < 3)
    for bad in ((1, 2), (1, -1, 0, 0), (0, 0, 0, 0)):
        with pytest.raises(ValueError, match="kind_weights"):
            generate("train", 1, kind_weights=bad)
        with pytest.raises(ValueError, match="kind_weights"):
            TrainConfig(kind_weights=list(bad))
    assert TrainConfig(step_weights=[1, 2, 1]).step_weights == [1.0, 2.0, 1.0]


def test_the_plainest_phrasings_always_train():
    from shadowpeft_ros.interpreter.data import ACTION_PHRASES, CORE_PHRASINGS, MOVE_VERBS, SUFFIXES

    assert {"sit down", "stand up", "lie down"} <= set(CORE_PHRASINGS)
    assert "sit down" in ACTION_PHRASES[("posture", "sit")]["train"]
    assert "sit down" not in ACTION_PHRASES[("posture", "sit")]["dev"]
    assert "move left" in MOVE_VERBS["left"]["train"] and " please" in SUFFIXES["train"]
    assert all(p not in ACTION_PHRASES[k]["dev"] for k in ACTION_PHRASES for p in CORE_PHRASINGS)


def test_training_draws_plain_phrasings_more_often_and_the_dev_split_uniformly():
    import random

    from shadowpeft_ros.interpreter.data import HEAD_SHARE, HEAD_SIZE, _pick

    items = [f"p{i}" for i in range(50)]
    train_rng, dev_rng, plain_rng = random.Random(3), random.Random(3), random.Random(3)
    draws = [_pick(train_rng, items, "train") for _ in range(4000)]
    head = sum(d in items[:HEAD_SIZE] for d in draws) / len(draws)
    assert head == pytest.approx(HEAD_SHARE + (1 - HEAD_SHARE) * HEAD_SIZE / len(items), abs=0.03)
    # The dev split draws exactly as a plain uniform choice would, so its examples do not move.
    assert [_pick(dev_rng, items, "dev") for _ in range(200)] == [plain_rng.choice(items) for _ in range(200)]


def test_the_all_split_trains_on_dev_phrasings_too_and_leaves_both_streams_alone():
    from shadowpeft_ros.interpreter import data

    train = {t for e in generate("train", 3000, 0) for t in e.templates}
    dev = {t for e in generate("dev", 1000, 0) for t in e.templates}
    every = {t for e in generate("all", 3000, 0) for t in e.templates}
    assert every & dev and every & train, "a final model draws from both splits' phrasings"
    assert set(data.train_phrasings()) < set(data.train_phrasings("all"))
    # Both splits keep their tables (so their streams), and a table's plain head stays its head.
    for table in (data.SUFFIXES, data.MOVE_VERBS["forward"], data.ACTION_PHRASES[("posture", "sit")]):
        assert table["all"][: len(table["train"])] == table["train"]
        assert set(table["all"]) == set(table["train"]) | set(table["dev"])
    # It is a training split: it gets the training-only draws (chatter here), which the dev split never does.
    ends = tuple(c.lower() for c in data.CHATTER)
    chatty = sum(e.text.lower().rstrip(".!").endswith(ends) for e in generate("all", 1000, 0) if not e.noisy)
    assert chatty > 50
    with pytest.raises(ValueError, match="split"):
        data.train_phrasings("dev")
    with pytest.raises(ValueError, match="split"):
        generate("test", 3)
