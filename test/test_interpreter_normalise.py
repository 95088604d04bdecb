"""The number normaliser: digits and canonical units out, and nothing else changed."""

import pytest

from shadowpeft_ros.interpreter.normalise import normalise_utterance


@pytest.mark.parametrize("said, written", [
    ("Veer left forty five degrees.", "veer left 45 deg."),
    ("turn left forty-five degrees", "turn left 45 deg"),
    ("Go two and a half meters.", "go 2.5 m."),
    ("one and a half metres", "1.5 m"),
    ("walk 2 and a half feet", "walk 2.5 ft"),
    ("2½ meters", "2.5 m"),
    ("a hundred and twenty degrees", "120 deg"),
    ("two hundred and seventy degrees", "270 deg"),
    ("speed zero point two", "speed 0.2"),
    ("point five meters", "0.5 m"),
    ("half a meter", "0.5 m"),
    ("half a minute", "0.5 min"),
    ("a quarter of a meter", "0.25 m"),
    ("three quarters of a meter", "0.75 m"),
    ("a couple of meters", "2 m"),
    ("wait a couple of seconds", "wait 2 s"),
    ("a dozen inches", "12 in"),
    ("half a dozen meters", "6 m"),
    ("walk forward one meter", "walk forward 1 m"),
    ("a meter", "1 m"),
    ("an inch", "1 in"),
    ("wait a second", "wait 1 s"),
    ("for one second", "for 1 s"),
    ("freeze in place for a second now", "freeze in place for 1 s now"),  # a courtesy after the duration
    ("pause for one second, thanks", "pause for 1 s, thanks"),
    ("150 centimeters", "150 cm"),
    ("eighty centimetres", "80 cm"),
    ("6 feet", "6 ft"),
    ("a foot", "1 ft"),
    ("two yards", "2 yd"),
    ("go 3m", "go 3 m"),
    ("move 50cm left", "move 50 cm left"),
    ("turn 90°", "turn 90 deg"),
    ("at 0.3 meters per second", "at 0.3 m/s"),
    ("at zero point three metres a second", "at 0.3 m/s"),
    ("turn one eighty", "turn 180"),
    ("do a three sixty", "do a 360"),
    ("twenty one degrees", "21 deg"),
    ("hang tight for five seconds", "hang tight for 5 s"),
    # Whisper's homophones of number words, repaired only where a unit proves a number was meant.
    ("walk forward to meters", "walk forward 2 m"),
    ("move for meters", "move 4 m"),
    ("Work forward 1 meter, then turn left and hit.", "work forward 1 m, then turn left and hit."),
    # The half after the unit, a number hyphenated to its unit, a decimal typed without its zero.
    ("retreat a meter and a half", "retreat 1.5 m"),
    ("walk two metres and a half", "walk 2.5 m"),
    ("back up a foot and a half", "back up 1.5 ft"),
    ("wait a minute and a half", "wait 1.5 min"),
    ("do a 90-degree turn", "do a 90 deg turn"),
    ("take a two-meter walk", "take a 2 m walk"),
    ("a half-metre step", "0.5 m step"),
    ("go forward .5 m", "go forward 0.5 m"),
    ("at one meter every second", "at 1 m/s"),
    ("three meters each second", "3 m/s"),
    ("at 1 m per sec", "at 1 m/s"),
    # Distances far over any limit arrive in metres, for the safety limits to refuse.
    ("walk a kilometre", "walk 1000 m"),
    ("run 2 km", "run 2000 m"),
    ("run a mile", "run 1609.344 m"),
])
def test_numbers_and_units(said, written):
    assert normalise_utterance(said) == written


@pytest.mark.parametrize("text", [
    "the one on the left",
    "one more time",
    "the second turn",
    "take a second spin now",  # an ordinal before its noun, even with a courtesy after it
    "first turn left then sit",
    "get on your feet",
    "rise to your feet",
    "walk for 3 m",       # "for" before a number is a preposition
    "turn to the left",   # "to" without a unit stays a word
    "i won one",
    "how many days are in a week?",
    "do a half turn",
    "make a quarter turn to the left",
    "sit and one more thing",
    "go back half a meager and ends it",  # a misheard unit is not guessed
    "walk 1 m and a half turn left",  # "a half turn" is an angle, not half a metre more
    "do the 2-step",
    "sit.5 times",
])
def test_words_that_look_like_numbers_stay_words(text):
    assert normalise_utterance(text) == text


def test_only_writing_changes():
    assert normalise_utterance("  Hey DOG,\n walk   forward  ") == "hey dog, walk forward"
    assert normalise_utterance("") == ""
    assert normalise_utterance("What is the square root of sixteen?") == "what is the square root of 16?"
