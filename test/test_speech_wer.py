"""The one word error rate: jiwer after Whisper's EnglishTextNormalizer on both sides."""

import pytest

from shadowpeft_ros.speech.wer import normalise_transcript, word_error_rate


def test_the_normaliser_is_whispers_numbers_spellings_and_punctuation():
    assert normalise_transcript("Veer left forty five degrees!") == "veer left 45 degrees"
    assert normalise_transcript("Walk zero point three metres.") == "walk 0.3 meters"
    assert normalise_transcript("Don't move, Mr. Dog") == "do not move mister dog"


def test_writing_conventions_are_not_errors_but_misheard_words_are():
    assert word_error_rate(["Veer left forty five degrees."], ["Veer left 45 degrees"]) == 0.0
    assert word_error_rate(["Turn left and walk forward two meters."], ["turn left and walk forward 2 metres"]) == 0.0
    assert word_error_rate(["Veer left forty five degrees."], ["We are left 45 degrees."]) == pytest.approx(2 / 4)


def test_pairs_without_reference_words_are_left_out():
    assert word_error_rate(["", "sit down"], ["noise heard as words", "sit down"]) == 0.0
    assert word_error_rate([], []) is None and word_error_rate([""], ["hmm"]) is None
