"""The openai-whisper backend: loading and decoding proven with a tiny random checkpoint made here.

Released openai-whisper weights are not on any registry reachable from this machine (they need a
download from openaipublic), so this test proves the load and decode path, not transcription quality.
"""

import numpy as np
import pytest
import torch

from shadowpeft_ros.speech.asr import AsrModelError, OpenAIWhisperBackend, load_backend
from shadowpeft_ros.speech.options import AsrOptions


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory):
    from whisper.model import ModelDimensions, Whisper

    # n_vocab 51864 is the English-only tokenizer's size; everything else is as small as Whisper allows.
    dims = ModelDimensions(n_mels=80, n_audio_ctx=1500, n_audio_state=16, n_audio_head=2, n_audio_layer=1,
                           n_vocab=51864, n_text_ctx=448, n_text_state=16, n_text_head=2, n_text_layer=1)
    torch.manual_seed(0)
    model = Whisper(dims)
    with torch.no_grad():
        # Whisper leaves the decoder's positional embedding uninitialised (torch.empty): the
        # released checkpoints overwrite it, a random one must set it.
        model.decoder.positional_embedding.normal_(0, 0.02)
    path = tmp_path_factory.mktemp("whisper") / "tiny-random.pt"
    torch.save({"dims": dims.__dict__, "model_state_dict": model.state_dict()}, path)
    return path


def test_loads_a_checkpoint_path_and_decodes(tiny_checkpoint):
    backend = load_backend(AsrOptions(backend="openai-whisper", model=str(tiny_checkpoint), cpu_threads=1))
    assert backend.name == "openai-whisper" and not backend.multilingual and backend.language == "en"
    backend.sample_len = 8  # random weights babble: bound the decode, the path is what is under test
    audio = np.random.default_rng(0).normal(0, 0.1, 16000).astype(np.float32)
    transcript = backend.transcribe(audio)
    assert isinstance(transcript.text, str)
    assert 0.0 <= transcript.confidence <= 1.0
    assert transcript.language == "en"
    assert np.isfinite(transcript.avg_logprob) and 0.0 <= transcript.no_speech_prob <= 1.0
    assert transcript.decode_s > 0


def test_a_broken_checkpoint_is_not_read_as_confident(tiny_checkpoint, tmp_path):
    state = torch.load(tiny_checkpoint)
    state["model_state_dict"]["decoder.positional_embedding"].fill_(float("nan"))
    broken = tmp_path / "broken.pt"
    torch.save(state, broken)
    with pytest.raises(AsrModelError, match="non-finite"):
        load_backend(AsrOptions(backend="openai-whisper", model=str(broken), cpu_threads=1))


def test_missing_checkpoint_and_undownloaded_name_explain_themselves(tmp_path, monkeypatch):
    with pytest.raises(AsrModelError, match="checkpoint not found: .*nope.pt"):
        OpenAIWhisperBackend(AsrOptions(backend="openai-whisper", model=str(tmp_path / "nope.pt")))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    with pytest.raises(AsrModelError, match="not downloaded .*need a download|not downloaded"):
        OpenAIWhisperBackend(AsrOptions(backend="openai-whisper", model="tiny.en"))
    with pytest.raises(AsrModelError, match="needs a model"):
        OpenAIWhisperBackend(AsrOptions(backend="openai-whisper", model=""))
