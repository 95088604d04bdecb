"""Biasing Whisper toward the command language: built from its vocabulary only, and better on held-out speech."""

import json
import re
from pathlib import Path

import pytest
import soundfile

from shadowpeft_ros.plan import MOVE_DIRECTIONS, POSTURES, TRICKS
from shadowpeft_ros.speech.asr import load_backend
from shadowpeft_ros.speech.corpus import HELD_OUT_COMMANDS, HELD_OUT_VOICES
from shadowpeft_ros.speech.gate import STOP_WORDS
from shadowpeft_ros.speech.options import AsrOptions
from shadowpeft_ros.speech.tts import synthesize
from shadowpeft_ros.speech.vad import segment_audio
from shadowpeft_ros.speech.vocabulary import FUNCTION_WORDS, bias_prompt, bias_text, bias_words, command_vocabulary
from shadowpeft_ros.speech.wer import word_error_rate

ROOT = Path(__file__).resolve().parents[1]


def _words(text):
    return re.findall(r"[a-z']+", text.lower())


def test_vocabulary_covers_the_command_language():
    vocab = set(command_vocabulary())
    assert set(MOVE_DIRECTIONS) | set(TRICKS) | set(STOP_WORDS) <= vocab
    assert {p.replace("_", " ") for p in POSTURES} <= vocab
    assert {"meters", "degrees", "seconds", "feet", "ninety", "half"} <= vocab
    assert len(command_vocabulary()) == len(vocab)  # each once


def test_the_prompt_is_made_of_vocabulary_words_only():
    allowed = {w for phrase in command_vocabulary() for w in phrase.split()} | set(FUNCTION_WORDS)
    assert [w for w in _words(bias_prompt()) if w not in allowed] == []
    assert all(w.capitalize() in bias_prompt() for w in STOP_WORDS)
    assert bias_words().split(", ") == list(command_vocabulary())


def test_bias_is_not_tuned_to_the_evaluation_sentences():
    # Words of the spoken evaluation cases that command language v1 does not use itself: if they
    # showed up in the bias, its gain on the cases would be a gain on memorised sentences.
    cases = [json.loads(line) for line in (ROOT / "eval" / "cases.jsonl").read_text().splitlines() if line.strip()]
    case_words = {w for c in cases if c.get("audio") for w in _words(c["text"])}
    bias = set(_words(bias_prompt())) | set(_words(bias_words()))
    for verb in ("scoot", "march", "inch", "sidle", "hurry", "glide", "veer", "twist", "limber", "jig", "greet",
                 "chase", "stroll", "crab", "tumble", "hop", "belly", "seated"):
        assert verb in case_words and verb not in bias, verb


def test_bias_modes_and_override():
    assert bias_text("off") == ""
    assert bias_text("words") == bias_words()
    assert bias_text("prompt") == bias_prompt()
    assert bias_text("prompt", "  Fetch the ball.  ") == "Fetch the ball."
    with pytest.raises(ValueError, match="bias must be one of"):
        bias_text("loud")
    with pytest.raises(ValueError, match="bias must be off, words or prompt"):
        AsrOptions(bias="hotwords")


@pytest.mark.slow
def test_the_bias_is_the_previous_text_of_the_decoder_prompt():
    plain = load_backend(AsrOptions(model="tiny.en", bias="off", warmup=False))
    biased = load_backend(AsrOptions(model="tiny.en", bias="prompt", warmup=False))
    tokenizer, prompt, _, _ = biased._short_prompt("en")
    _, plain_prompt, _, _ = plain._short_prompt("en")
    assert prompt[0] == tokenizer.sot_prev and plain_prompt[0] == tokenizer.sot_sequence[0]
    assert tokenizer.decode(prompt[1:prompt.index(tokenizer.sot_sequence[0])]).strip() == bias_prompt()
    assert prompt[-len(plain_prompt):] == plain_prompt


@pytest.mark.slow
def test_prompt_bias_lowers_wer_on_held_out_voices_and_sentences(tmp_path):
    # Measured here on all 16 held-out clips (WER after Whisper's normaliser): base 0.215 unbiased
    # against 0.152 with the prompt. On the first 8 alone the two tied (0.289 each: one prompted clip
    # came back as a repeated sentence), so the test takes all 16.
    texts = HELD_OUT_COMMANDS
    audios = []
    for i, text in enumerate(texts):
        wav = synthesize(text, tmp_path / f"{i}.wav", voice=HELD_OUT_VOICES[i % len(HELD_OUT_VOICES)],
                         lead_silence_s=0.4, trail_silence_s=0.4)
        audios.append(soundfile.read(str(wav), dtype="float32")[0])
    wer = {}
    for bias in ("off", "prompt"):
        backend = load_backend(AsrOptions(model="base", bias=bias))
        heard = [" ".join(backend.transcribe(s.audio).text for s in segment_audio(a)) for a in audios]
        wer[bias] = word_error_rate(list(texts), heard)
    print(f"\nheld-out WER, base: {wer}")
    assert wer["prompt"] < wer["off"]


@pytest.mark.slow
def test_a_short_word_the_bias_swallows_is_decoded_again_without_it(tmp_path):
    # Found by the speech node's test: base with the prompt wrote nothing for this quick "stop".
    wav = synthesize("stop", tmp_path / "stop.wav", voice="en-us+f3", speed_wpm=190, lead_silence_s=0.3,
                     trail_silence_s=0.3)
    audio = [s.audio for s in segment_audio(soundfile.read(str(wav), dtype="float32")[0])]
    assert len(audio) == 1
    backend = load_backend(AsrOptions(model="base", bias="prompt", warmup=False))
    heard = backend.transcribe(audio[0])
    assert "stop" in heard.text.lower() and backend.unbiased_retries == 1
