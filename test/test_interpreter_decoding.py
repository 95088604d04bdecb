"""Grammar-constrained decoding: whatever a model wants to say, a finished output is a valid compact plan."""

import math

import pytest

from shadowpeft_ros.interpreter.compact import parse_compact
from shadowpeft_ros.interpreter.data import generate
from shadowpeft_ros.interpreter.decoding import decode_plans


@pytest.fixture(scope="module")
def random_model(tmp_path_factory):
    import torch

    from shadowpeft_ros.interpreter.backbone import load_backbone
    from shadowpeft_ros.interpreter.testing import save_tiny_backbone

    torch.manual_seed(0)
    directory = save_tiny_backbone(tmp_path_factory.mktemp("tiny") / "qwen3", arch="qwen3", seed=3)
    return load_backbone(str(directory))


TEXTS = [e.text for e in generate("dev", 24, seed=5)] + ["", "asdf qwer zxcv", "move forward 99999 parsecs"]


def test_unconstrained_random_model_writes_garbage(random_model):
    model, tokenizer = random_model
    decoded = decode_plans(model, tokenizer, TEXTS[:8], max_new_tokens=24, constrained=False)
    parsed = 0
    for d in decoded:
        try:
            parse_compact(d.text)
            parsed += d.finished
        except ValueError:
            pass
    assert parsed < len(decoded), "a random model should not write plans by itself; the next test would prove nothing"


@pytest.mark.parametrize("max_new_tokens", [12, 48])
def test_no_finished_output_is_unparsable(random_model, max_new_tokens):
    model, tokenizer = random_model
    decoded = decode_plans(model, tokenizer, TEXTS, max_new_tokens=max_new_tokens)
    finished = [d for d in decoded if d.finished]
    assert finished, "the grammar must let EOS through once a plan is complete"
    for d in finished:
        parse_compact(d.text)  # raises PlanError if the grammar let anything else through
        assert 0.0 < d.confidence <= 1.0
    for d in decoded:
        assert d.new_tokens <= max_new_tokens


def test_batched_decoding_matches_one_at_a_time(random_model):
    model, tokenizer = random_model
    together = decode_plans(model, tokenizer, TEXTS[:6], max_new_tokens=16)
    for text, row in zip(TEXTS[:6], together):
        alone = decode_plans(model, tokenizer, [text], max_new_tokens=16)[0]
        assert row.text == alone.text and row.finished == alone.finished
        assert row.confidence == pytest.approx(alone.confidence, rel=1e-3, abs=1e-5)


def _accepts(grammar, tokenizer, text: str) -> bool:
    import xgrammar as xgr

    matcher = xgr.GrammarMatcher(grammar)
    ids = tokenizer(text, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
    return all(matcher.accept_token(i) for i in ids) and matcher.is_terminated()


def test_copying_allows_only_the_quantities_said_in_slots_their_units_fit(random_model):
    from shadowpeft_ros.interpreter.decoding import _model_vocab_size, grammar_for, said_quantities

    model, tokenizer = random_model
    assert said_quantities("walk forward two and a half meters then turn left") == (("2.5", "m"),)
    assert said_quantities("wait 3 seconds, then sit") == (("3", "s"),) and said_quantities("sit down") == ()
    assert said_quantities("turn right seventy five. then sit") == (("75", ""),)  # a full stop is no decimal point
    assert said_quantities("scoot left two feet, pause three seconds") == (("2", "ft"), ("3", "s"))
    assert said_quantities("turn 90 in place") == (("90", "in"), ("90", ""))  # "in" may be a word, not inches
    assert said_quantities("walk 0 meters, no, 2") == (("2", ""),)
    grammars = grammar_for(tokenizer, _model_vocab_size(model))
    said = grammars.compiled(said_quantities("walk forward two and a half meters then turn left"))
    assert _accepts(said, tokenizer, " move forward 2.5 m ; turn left 90")
    assert _accepts(said, tokenizer, " turn left 180 ; say: I walked 7 meters")  # numbers in speech are free
    for invented in (" move forward 25 m", " move forward 7 m", " turn left 33", " move forward 2.5 ft",
                     " turn left 2.5", " move forward 2.5"):
        assert not _accepts(said, tokenizer, invented), invented
    typed = grammars.compiled(said_quantities("scoot left two feet, pause three seconds, then go 0.3 meters per second"))
    assert _accepts(typed, tokenizer, " move left 2 ft ; wait 3 s ; move forward _ 0.3")
    for wrong_slot in (" wait 2 min", " wait 2 s", " wait 3 min", " move left 3 ft", " move left 0.3 m", " turn left 3"):
        assert not _accepts(typed, tokenizer, wrong_slot), wrong_slot
    unitless = grammars.compiled(said_quantities("go 4 then wait 4"))  # a number said without a unit goes anywhere
    assert all(_accepts(unitless, tokenizer, t) for t in (" move forward 4 m ; wait 4 s", " move forward 4 ft", " turn left 4"))
    assert not _accepts(grammars.compiled(()), tokenizer, " wait 3 s")
    assert _accepts(grammars.compiled(None), tokenizer, " move forward 7 m ; wait 3 s")
    assert not _accepts(grammars.compiled(None), tokenizer, " move forward 7 parsecs")


def test_the_grammar_lets_no_zero_through(random_model):
    # The parser rejects a zero distance, angle, duration or speed; a grammar that allowed one would let
    # a finished output fail to parse (a random model once wrote "move forward 0.0").
    from shadowpeft_ros.interpreter.decoding import _model_vocab_size, grammar_for

    model, tokenizer = random_model
    grammars = grammar_for(tokenizer, _model_vocab_size(model))
    free = grammars.compiled(None)
    for ok in (" move forward 0.5 m", " move forward 0.05 m", " move forward 10 m", " turn left 0.001", " wait 1.25 s"):
        assert _accepts(free, tokenizer, ok), ok
    for zero in (" move forward 0 m", " move forward 0.0 m", " turn left 00", " wait 0.000 s", " move left 007 cm"):
        assert not _accepts(free, tokenizer, zero), zero
    said = grammars.compiled((("0", "m"), ("2", "")))  # a "0" that said_quantities let through is still no value
    assert not _accepts(said, tokenizer, " move forward 0 m") and _accepts(said, tokenizer, " move forward 2 m")


def test_giving_up_below_a_floor_stops_only_outputs_already_below_it(random_model):
    model, tokenizer = random_model
    full = decode_plans(model, tokenizer, TEXTS, max_new_tokens=16)
    floor = sorted(d.confidence for d in full)[len(full) // 2]  # about half the outputs end below it
    cut = decode_plans(model, tokenizer, TEXTS, max_new_tokens=16, give_up_below=floor)
    gave_up = [c for c in cut if c.gave_up]
    assert gave_up and len(gave_up) < len(cut)
    for whole, part in zip(full, cut):
        if part.gave_up:
            # Stopped at the first token that took it under the floor: shorter, unfinished, a prefix of the whole.
            assert whole.confidence < floor
            assert part.confidence < floor and not part.finished and part.new_tokens <= whole.new_tokens
            assert part.log_probs == pytest.approx(whole.log_probs[: part.new_tokens], abs=1e-4)
            assert sum(part.log_probs[:-1]) >= math.log(floor) - 1e-6
            assert whole.text.startswith(part.text)
        else:
            assert part == whole or (part.text == whole.text and part.confidence == pytest.approx(whole.confidence))
    assert all(not d.gave_up for d in decode_plans(model, tokenizer, TEXTS, max_new_tokens=16, give_up_below=0.0))


def test_a_given_up_output_is_no_plan_and_says_why():
    from shadowpeft_ros.interpreter.decoding import Decoded, plan_of

    plan, why = plan_of(Decoded("move forward 2", 0.2, 3, False, gave_up=True), "local", 48)
    assert plan is None and "confidence 0.20 fell below" in why


def test_an_output_that_could_still_be_the_remote_marker_is_decoded_on():
    import torch

    from shadowpeft_ros.interpreter.decoding import _ConfidenceFloor

    class Tokens:  # token ids stand for these pieces of text
        pieces = {5: "[RE", 6: "MOTE]", 7: "move", 0: ""}

        def decode(self, ids, skip_special_tokens=True):
            return "".join(self.pieces[i] for i in ids)

    floor = _ConfidenceFloor(0.75, Tokens(), rows=2, prompt_width=1, eos=0)
    unsure = torch.log(torch.tensor([[0.5] * 8, [0.5] * 8]))
    floor.process(None, unsure)
    # Rows stop together, once all are done: a row stopped alone would be fed padding its grammar rejects.
    stop = floor.stop(torch.tensor([[1, 5], [1, 7]]), None)
    assert stop.tolist() == [False, False] and floor.gave_up.tolist() == [False, True] and floor.lengths[1] == 1
    floor.process(None, unsure)
    stop = floor.stop(torch.tensor([[1, 5, 6], [1, 7, 7]]), None)
    assert stop.tolist() == [False, False]  # "[REMOTE]" so far: the marker ends with its EOS
    floor.process(None, unsure)
    stop = floor.stop(torch.tensor([[1, 5, 6, 0], [1, 7, 7, 7]]), None)
    assert stop.tolist() == [True, True] and floor.gave_up.tolist() == [False, True]
    assert floor.ended.tolist() == [True, False] and floor.lengths[1] == 1
