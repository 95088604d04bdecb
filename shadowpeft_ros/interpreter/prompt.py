"""The prompt template shared by training and inference, kept minimal because every token costs CPU time."""

from __future__ import annotations

from typing import List, Tuple

from .normalise import normalise_utterance

PROMPT_TEMPLATE = "Command: {text}\nPlan:"
MAX_PROMPT_TOKENS = 64


def format_prompt(text: str) -> str:
    """Return the prompt the model sees for one utterance, numbers and units normalised, on one line.

    One line matters: a newline in a transcript must not fake a second "Plan:" line.
    """
    return PROMPT_TEMPLATE.format(text=normalise_utterance(text))


def encode_prompt(tokenizer, text: str, max_prompt_tokens: int = MAX_PROMPT_TOKENS) -> List[int]:
    """Tokenize the prompt, keeping its start and the "Plan:" cue when the utterance is too long."""
    ids = tokenizer(format_prompt(text), add_special_tokens=False)["input_ids"]
    if len(ids) <= max_prompt_tokens:
        return ids
    # The cue tells the model where to answer; losing it would make the output meaningless, so cut the middle.
    tail = tokenizer("\nPlan:", add_special_tokens=False)["input_ids"]
    return ids[: max_prompt_tokens - len(tail)] + tail


def encode_pair(tokenizer, text: str, target: str, max_prompt_tokens: int = MAX_PROMPT_TOKENS) -> Tuple[List[int], List[int]]:
    """Return (input_ids, labels) with the prompt masked (-100) so the loss covers the response only."""
    prompt = encode_prompt(tokenizer, text, max_prompt_tokens)
    response = tokenizer(" " + target, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
    return prompt + response, [-100] * len(prompt) + response
