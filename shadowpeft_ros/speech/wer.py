"""The word error rate of transcripts, after Whisper's English normaliser, the field's standard.

Both sides pass ``EnglishTextNormalizer`` (openai-whisper) before jiwer counts: lower case, no
punctuation, spelled numbers as digits ("forty five" -> "45"), contractions expanded and British
spellings made American. Without it the WER would count writing conventions ("45" against
"forty five", "metres" against "meters") as recognition errors.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Optional, Sequence


@lru_cache(maxsize=1)
def _normaliser():
    # Built once: it reads the spelling table (english.json) that openai-whisper ships beside it.
    from whisper.normalizers import EnglishTextNormalizer

    return EnglishTextNormalizer()


def normalise_transcript(text: str) -> str:
    """Return ``text`` as the WER compares it (Whisper's English normalisation)."""
    return _normaliser()(text)


def word_error_rate(references: Sequence[str], hypotheses: Sequence[str]) -> Optional[float]:
    """Return the corpus WER of normalised transcripts, or None when no reference has words.

    Pairs whose reference normalises to nothing (noise clips, silence) are left out: a WER needs
    words to have been said.
    """
    import jiwer

    pairs = [(normalise_transcript(r), normalise_transcript(h)) for r, h in zip(references, hypotheses)]
    pairs = [(r, h) for r, h in pairs if r]
    if not pairs:
        return None
    refs, hyps = zip(*pairs)
    return float(jiwer.wer(list(refs), list(hyps)))
