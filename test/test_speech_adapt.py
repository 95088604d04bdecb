"""Whisper adaptation: the CTranslate2 round trip, the adapter's training, and its assembly into a usable model.

Real parts: the bundled tiny.en weights, espeak-ng speech, PEFT LoRA and ctranslate2's converter.
"""

import numpy as np
import pytest
import soundfile
import torch

from shadowpeft_ros.speech.tts import espeak_available

pytestmark = pytest.mark.skipif(not espeak_available(), reason="espeak-ng is not installed")


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    from shadowpeft_ros.speech.ct2_whisper import convert
    from shadowpeft_ros.speech.models import tiny_en_path

    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("whisper") / "hf"
    convert(tiny_en_path(), out)
    return out


def test_the_bundled_tiny_en_converts_to_transformers_and_back_bit_for_bit(converted, tmp_path):
    import ctranslate2

    from shadowpeft_ros.speech.ct2_whisper import read_ct2_model
    from shadowpeft_ros.speech.models import tiny_en_path

    ctranslate2.converters.TransformersConverter(str(converted), copy_files=["tokenizer.json"]).convert(
        str(tmp_path / "ct2"), quantization="float16")
    _, original, original_aliases, _ = read_ct2_model(tiny_en_path() / "model.bin")
    _, again, again_aliases, _ = read_ct2_model(tmp_path / "ct2" / "model.bin")
    # A newer converter may add spec attributes (scalars) that the bundled file predates; every weight is equal.
    assert set(original) <= set(again) and original_aliases == again_aliases
    assert all(np.ndim(again[name]) == 0 for name in set(again) - set(original))
    assert all(np.array_equal(original[name], again[name]) for name in original)


def _clips(tmp_path, texts):
    from shadowpeft_ros.speech.tts import synthesize

    clips = []
    for i, text in enumerate(texts):
        path = synthesize(text, tmp_path / f"{i}.wav", voice="en-us+m1", speed_wpm=160)
        clips.append(soundfile.read(str(path), dtype="float32")[0])
    return clips


def test_training_lowers_the_loss_and_an_untrained_adapter_changes_nothing(tmp_path):
    from shadowpeft_ros.speech.adapt import WhisperAdaptOptions, assemble_adapted, train_whisper_adapter
    from shadowpeft_ros.speech.asr import load_backend
    from shadowpeft_ros.speech.options import AsrOptions

    torch.set_num_threads(1)
    texts = ["Scoot forward three meters.", "Veer left forty five degrees.", "Sit down.", "Wait two seconds."]
    clips = _clips(tmp_path, texts)
    options = WhisperAdaptOptions(n=4, steps=8, batch_size=4, learning_rate=2e-3, warmup_steps=1)
    metrics = train_whisper_adapter(options, tmp_path / "adapter", progress=False, clips=clips, texts=texts)
    assert metrics["final_loss"] < metrics["first_loss"] and metrics["trainable_params"] > 0
    assert (tmp_path / "adapter" / "adapter_model.safetensors").is_file()
    # With no step at all the LoRA's B matrices are zero: the assembled model is tiny.en again.
    train_whisper_adapter(WhisperAdaptOptions(n=4, steps=1, learning_rate=1e-12, warmup_steps=1), tmp_path / "zero",
                          progress=False, clips=clips[:1], texts=texts[:1])
    model = assemble_adapted(tmp_path / "zero", tmp_path / "zero-ct2")
    settings = dict(warmup=False, cpu_threads=1, compute_type="float32", encoder_context_s=15.0,
                    repetition_penalty=1.1)
    stock = load_backend(AsrOptions(model="tiny.en", **settings))
    merged = load_backend(AsrOptions(model=str(model), **settings))
    assert [merged.transcribe(c).text for c in clips] == [stock.transcribe(c).text for c in clips]


def test_a_missing_adapter_names_the_command_that_builds_it(tmp_path):
    from shadowpeft_ros.speech.adapt import BUILD_COMMAND, assemble_adapted
    from shadowpeft_ros.speech.models import ModelAssemblyError

    with pytest.raises(ModelAssemblyError, match=BUILD_COMMAND):
        assemble_adapted(tmp_path / "none")


@pytest.mark.parametrize("bad", [dict(steps=0), dict(learning_rate=0.0), dict(encoder_context_s=40.0), dict(voices=())])
def test_adapt_options_are_validated(bad):
    from shadowpeft_ros.speech.adapt import WhisperAdaptOptions

    with pytest.raises(ValueError):
        WhisperAdaptOptions(**bad)


def test_adapt_voices_stay_clear_of_the_evaluated_voices():
    import json
    from pathlib import Path

    from shadowpeft_ros.speech.adapt import ADAPT_VOICES
    from shadowpeft_ros.speech.corpus import HELD_OUT_VOICES

    root = Path(__file__).resolve().parents[1]
    cases = [json.loads(line) for line in (root / "eval" / "cases.jsonl").read_text().splitlines() if line.strip()]
    eval_voices = {c["meta"]["voice"] for c in cases if c.get("audio") and c.get("meta", {}).get("voice")}
    assert eval_voices, "the evaluation cases record their voices"
    assert not set(ADAPT_VOICES) & (eval_voices | set(HELD_OUT_VOICES))
    assert not {v.split("+")[0] for v in ADAPT_VOICES} & {"en-gb-x-rp"}
