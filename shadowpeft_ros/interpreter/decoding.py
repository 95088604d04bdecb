"""Greedy decoding of compact plans, constrained by the compact grammar so that every finished output parses.

One decoding routine serves every engine: the detached shadow on the robot, the attached model
in process, and the offload server's batches. The grammar of ``compact.py`` is written once
below in EBNF and enforced token by token with xgrammar (a maintained C++ grammar engine with a
Hugging Face ``LogitsProcessor``): at each step only tokens that keep the output a prefix of a
valid plan are allowed, and EOS only where a plan is complete. Chosen for measured speed and
fit: the compact grammar is regular except for ``say:`` text, which xgrammar handles with its
adaptive token mask cache at a few tens of microseconds a step.

Confidence is computed from the model's *unconstrained* distribution: a token the grammar forced
but the model did not want lowers it, so the escalation signal still says how sure the model was.
"""

from __future__ import annotations

import math
import re
import threading
from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

from ..plan import POSTURES, REMOTE_MARKER, TRICKS, Plan, PlanError
from .compact import parse_compact
from .normalise import ANGLE_UNIT, DISTANCE_UNITS, DURATION_UNITS, SPEED_UNIT, normalise_utterance
from .prompt import MAX_PROMPT_TOKENS, encode_prompt

# Longest compact plan, in tokens: three actions with numbers and units, or a one-sentence answer.
MAX_NEW_TOKENS = 48


def _choice(words: Sequence[str]) -> str:
    return " | ".join(f'"{w}"' for w in words)


# Angles a turn may carry without the user saying a number: "turn around" is 180, "a quarter turn" 90.
TURN_ANGLES = ("45", "90", "180", "270", "360")
_UNITS_AFTER = "|".join(re.escape(u) for u in sorted((*DISTANCE_UNITS, *DURATION_UNITS, ANGLE_UNIT, SPEED_UNIT),
                                                     key=len, reverse=True))
# A number ends where no digit and no decimal part follows: "turn right 75." ends a sentence after 75.
_QUANTITY_TEXT = re.compile(rf"(?<![\d.])(\d+(?:\.\d+)?)(?!\d|\.\d)(?: ({_UNITS_AFTER})(?![\w/]))?")
# A canonical unit that is also a plain word after a number ("turn 90 in place"): such a number may also go unit-less.
_AMBIGUOUS_UNITS = ("in",)


def said_quantities(text: str, unique: bool = True) -> Tuple[Tuple[str, str], ...]:
    """Return the (number, unit) pairs of an utterance as the model reads it, in order, each once.

    The unit is the canonical unit written right after the number by ``normalise_utterance``, or ""
    when none follows ("walk 3 feet and wait 2" -> ("3", "ft"), ("2", "")). Zero is left out: every
    number of a plan is positive, the direction carries the sign. ``unique=False`` keeps a pair as
    often as it was said ("walk 2 m, turn left, walk 2 m" says ("2", "m") twice).
    """
    pairs = []
    for number, unit in _QUANTITY_TEXT.findall(normalise_utterance(text)):
        if float(number) <= 0:
            continue
        pairs.append((number, unit))
        if unit in _AMBIGUOUS_UNITS:
            pairs.append((number, ""))
    return tuple(dict.fromkeys(pairs)) if unique else tuple(pairs)


# A decimal above zero, up to four digits either side of the point, without leading zeros: the parser
# rejects a zero distance, angle, duration or speed, so the grammar must not let one through.
_DIGITS_0_3 = "[0-9]? [0-9]? [0-9]?"
POSITIVE_DECIMAL = (f'[1-9] {_DIGITS_0_3} ("." [0-9] {_DIGITS_0_3})? | '
                    f'"0." ([1-9] {_DIGITS_0_3} | "0" [1-9] [0-9]? [0-9]? | "00" [1-9] [0-9]? | "000" [1-9])')


def _slot(pairs: Sequence[Tuple[str, str]], units: Sequence[str], write_unit: bool) -> Optional[str]:
    """EBNF for one numeric slot filled from said quantities: a number said with one of ``units`` keeps
    that unit; a number said without a unit may take any of them, or none. None when nothing fits."""
    alternatives = []
    for number, unit in pairs:
        if unit and unit in units:
            alternatives.append(f'"{number} {unit}"' if write_unit else f'"{number}"')
        elif not unit:
            alternatives.append(f'"{number}" (" " ({_choice(units)}))?' if write_unit else f'"{number}"')
    alternatives = list(dict.fromkeys(alternatives))
    return " | ".join(f"({a})" for a in alternatives) if alternatives else None


def compact_ebnf(quantities: Optional[Sequence[Tuple[str, str]]] = None) -> str:
    """Return the compact grammar of compact.py in EBNF, trailing nulls left out.

    With ``quantities`` (``said_quantities``) the plan may only contain numbers the user said, each in
    a slot its unit fits, with that unit: "two feet" can be a distance of "2 ft" but not a wait, "3
    seconds" only a wait of "3 s", "90 degrees" only an angle (a turn may also take ``TURN_ANGLES``).
    The model copies; it can neither invent a value nor change its unit ("pause 3 seconds" can no
    longer become "wait 2 min"). A number said without a unit may go in any slot. Without
    ``quantities`` any positive decimal and unit is allowed. Units are optional as in the parser
    (metres and seconds without one); training targets carry the unit the user said. Speeds and
    angles are written without their unit, as ``format_compact`` writes them. The leading space is
    the one the training targets start with.
    """
    if quantities is None:
        units = f' (" " ({_choice(tuple(DISTANCE_UNITS))}))?'
        distance_value = f"({POSITIVE_DECIMAL}){units}"
        wait_value = f'({POSITIVE_DECIMAL}) (" " ({_choice(tuple(DURATION_UNITS))}))?'
        speed_value = angle_value = POSITIVE_DECIMAL
    else:
        # Every number of a plan is positive (the direction carries the sign): a said "0" is no value to copy.
        pairs = tuple((number, unit) for number, unit in quantities if float(number) > 0)
        distance_value = _slot(pairs, tuple(DISTANCE_UNITS), write_unit=True)
        wait_value = _slot(pairs, tuple(DURATION_UNITS), write_unit=True)
        speed_value = _slot(pairs, (SPEED_UNIT,), write_unit=False)
        angle_value = " | ".join(f'"{a}"' for a in dict.fromkeys(
            tuple(number for number, unit in pairs if unit in ("", ANGLE_UNIT)) + TURN_ANGLES))
    speed = f"({speed_value}) | " if speed_value else ""
    distance = (f'(" " distance (" " speed)? | " _ " speed)?' if distance_value else '(" _ " speed)?')
    rules = [
        f'root ::= " " ("{REMOTE_MARKER}" | plan)',
        'plan ::= actions (" ; say: " text)? | "say: " text',
        'actions ::= action (" ; " action)*',
        f'action ::= move | turn | {"wait | " if wait_value else ""}"stop" | {_choice(POSTURES + TRICKS)}',
        f'move ::= "move " ({_choice(("forward", "backward", "left", "right"))}) {distance}',
        f'speed ::= {speed}"slow" | "fast"',
        'turn ::= "turn " ("left" | "right") (" " angle)?',
        f"angle ::= {angle_value}",
        "text ::= [^\\n]+",
    ]
    if distance_value:
        rules.append(f"distance ::= {distance_value}")
    if wait_value:
        rules.append(f'wait ::= "wait " ({wait_value})')
    return "\n".join(rules) + "\n"


def plan_probability(log_probs: Sequence[float]) -> float:
    """Return the confidence of one output: the model's probability of the whole token sequence.

    Not the geometric mean of the token probabilities, as before: that mean is diluted by the many
    tokens the format makes certain (" ; ", "move", units), so a doubtful action name or direction
    barely moved it. On 400 dev examples of the generation-3 detached shadow (270 commands,
    ``benchmarks/bench_confidence.py``, the generator of ec870fc) the sequence probability ranked
    right plans above wrong ones better (AUROC 0.944 against 0.931); at 70 % coverage both keep
    94.7 % of local plans right, at 80 % 90.3 % against 89.8 %.
    """
    return math.exp(sum(log_probs)) if log_probs else 0.0


@dataclass(frozen=True)
class Decoded:
    """One decoded output: the text after the prompt (EOS removed), how sure the model was, and whether it ended."""

    text: str
    confidence: float
    new_tokens: int
    finished: bool
    # Log-probability of each scored token (EOS included) under the distribution the grammar leaves: xgrammar
    # masks the logits in place, so ``generate``'s raw logits hold them masked (a forced token scores 0).
    log_probs: Tuple[float, ...] = ()
    # Decoding was stopped because the confidence fell below ``give_up_below`` (``decode_plans``).
    gave_up: bool = False


def plan_of(decoded: Decoded, route: str, max_new_tokens: int) -> Tuple[Optional[Plan], str]:
    """Return (plan, "") for a finished output that parses, else (None, why); a cut-off output is never a plan."""
    if decoded.gave_up:
        return None, f"decoding stopped after {decoded.new_tokens} tokens: confidence {decoded.confidence:.2f} fell below the threshold"
    if not decoded.finished:
        # The last number or sentence may be truncated.
        return None, f"output did not end within {max_new_tokens} new tokens"
    try:
        return parse_compact(decoded.text, route=route), ""
    except PlanError as exc:
        return None, str(exc)


class PlanGrammar:
    """The compact grammar compiled for one tokenizer; hands out a fresh logits processor per ``generate`` call."""

    def __init__(self, tokenizer, vocab_size: Optional[int] = None):
        import xgrammar as xgr

        stop = [tokenizer.eos_token_id]
        self._info = xgr.TokenizerInfo.from_huggingface(tokenizer, vocab_size=vocab_size, stop_token_ids=stop)
        self._compiler = xgr.GrammarCompiler(self._info, max_threads=1)
        self._compiled = {}
        self._lock = threading.Lock()

    def compiled(self, quantities: Optional[Tuple[Tuple[str, str], ...]] = None):
        """Return the grammar compiled for these said quantities (None: any number), compiling each set once."""
        with self._lock:
            if quantities not in self._compiled:
                if len(self._compiled) > 512:  # utterances vary; keep memory bounded
                    self._compiled.clear()
                self._compiled[quantities] = self._compiler.compile_grammar(compact_ebnf(quantities))
            return self._compiled[quantities]

    def logits_processor(self, quantities_per_row: Sequence[Optional[Tuple[Tuple[str, str], ...]]]):
        """Return a new processor for one batch: xgrammar's matchers hold the state of one generation."""
        import xgrammar as xgr

        return xgr.contrib.hf.LogitsProcessor([self.compiled(q) for q in quantities_per_row])


_GRAMMARS = {}
_GRAMMAR_LOCK = threading.Lock()


def grammar_for(tokenizer, vocab_size: int) -> PlanGrammar:
    """Return the grammar compiler of a tokenizer, built once per process (about a second for 49k tokens)."""
    key = (getattr(tokenizer, "name_or_path", ""), len(tokenizer), vocab_size, id(tokenizer))
    with _GRAMMAR_LOCK:
        if key not in _GRAMMARS:
            _GRAMMARS[key] = PlanGrammar(tokenizer, vocab_size)
        return _GRAMMARS[key]


def _model_vocab_size(model) -> int:
    config = getattr(model, "config", None)
    size = getattr(config, "vocab_size", None)
    if size is None and hasattr(model, "get_output_embeddings") and model.get_output_embeddings() is not None:
        size = model.get_output_embeddings().weight.shape[0]
    return int(size)


class _ConfidenceFloor:
    """Stops a row's decoding once its output's probability has fallen below ``floor``.

    The confidence (``plan_probability``) only falls as tokens are added, so an output that has
    dropped below the auto policy's threshold will be escalated whatever follows; decoding the rest
    on board only delays the request to the server. Used twice per step: last in the logits
    processor list, where it keeps the step's log-probabilities after the grammar's mask (what the
    confidence is computed from), then as a stopping criterion, once the chosen token is known. A
    row whose output so far could still become the ``[REMOTE]`` marker is decoded to the end,
    because the policy treats a handed-on question differently from an unsure plan.
    """

    def __init__(self, floor: float, tokenizer, rows: int, prompt_width: int, eos: int):
        import torch

        self.eos = eos
        self.ended = torch.zeros(rows, dtype=torch.bool)
        self.log_floor = math.log(floor) if floor > 0 else -math.inf
        self.tokenizer = tokenizer
        self.prompt_width = prompt_width
        self.total = torch.zeros(rows, dtype=torch.float64)
        self.gave_up = torch.zeros(rows, dtype=torch.bool)
        self.lengths = [0] * rows  # new tokens of each row when it gave up
        self._step_log_probs = None

    def process(self, input_ids, scores):
        import torch

        self._step_log_probs = torch.log_softmax(scores.float(), dim=-1)
        return scores

    def stop(self, input_ids, scores, **kwargs):
        import torch

        chosen = input_ids[:, -1]
        active = ~(self.ended | self.gave_up)
        step = self._step_log_probs.gather(1, chosen[:, None])[:, 0].double()
        self.total += torch.where(active, step, torch.zeros_like(step))
        # A row that ends here is complete: the policy gets its whole answer, however unsure.
        self.ended |= active & (chosen == self.eos)
        below = active & ~self.ended & (self.total < self.log_floor)
        for row in torch.nonzero(below).flatten().tolist():
            so_far = self.tokenizer.decode(input_ids[row, self.prompt_width:].tolist(), skip_special_tokens=True).strip()
            if so_far and REMOTE_MARKER.startswith(so_far):
                below[row] = False
        for row in torch.nonzero(below).flatten().tolist():
            self.lengths[row] = input_ids.shape[1] - self.prompt_width
        self.gave_up |= below
        # Stop only when every row is done: transformers feeds a stopped row padding, which the grammar
        # matcher of a row that did not end would reject. A row that gave up decodes on, and is cut at
        # its length afterwards; alone (as on the robot), it stops at once.
        return torch.full_like(self.gave_up, bool((self.gave_up | self.ended).all()))


def decode_plans(model, tokenizer, texts: Sequence[str], max_new_tokens: int = MAX_NEW_TOKENS,
                 max_prompt_tokens: int = MAX_PROMPT_TOKENS, use_cache: bool = True,
                 constrained: bool = True, copy_quantities: bool = False,
                 give_up_below: Optional[float] = None) -> List[Decoded]:
    """Decode one compact plan per utterance greedily, all in one left-padded ``generate`` call.

    ``give_up_below`` stops a row as soon as its confidence is below that value (``_ConfidenceFloor``):
    its ``Decoded`` has ``gave_up`` set, the text decoded so far and the confidence it fell to.

    ``constrained`` enforces the compact grammar; ``copy_quantities`` also limits its numbers to those
    said, each with its unit (``compact_ebnf``). That is off because it measured no better: on 300 dev
    examples (``benchmarks/bench_copy_quantities.py``, generation-3 detached shadow) it made no plan right
    and one wrong (Whisper's "zero point too five", which the normaliser leaves as "0 point too 5" and
    the free model read as 0.25), and local plans at the 0.75 threshold were 93.9 % right against 95.2 %.
    """
    import torch

    eos = tokenizer.eos_token_id
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else eos
    prompts = [encode_prompt(tokenizer, t, max_prompt_tokens) for t in texts]
    width = max(len(p) for p in prompts)
    # Left padding keeps every prompt's last token at the same position, which batched decoding needs.
    input_ids = torch.full((len(prompts), width), pad, dtype=torch.long)
    attention = torch.zeros((len(prompts), width), dtype=torch.long)
    for row, ids in enumerate(prompts):
        input_ids[row, width - len(ids):] = torch.tensor(ids, dtype=torch.long)
        attention[row, width - len(ids):] = 1
    processors, stopping = [], []
    if constrained:
        quantities = [said_quantities(t) if copy_quantities else None for t in texts]
        processors.append(grammar_for(tokenizer, _model_vocab_size(model)).logits_processor(quantities))
    floor = None
    if give_up_below is not None:
        from transformers import StoppingCriteria

        floor = _ConfidenceFloor(give_up_below, tokenizer, len(prompts), width, eos)

        class _Processor:  # last in the list: it reads the scores the grammar left, as the confidence does
            def __call__(self, input_ids, scores):
                return floor.process(input_ids, scores)

        class _Criterion(StoppingCriteria):
            def __call__(self, input_ids, scores, **kwargs):
                return floor.stop(input_ids, scores, **kwargs)

        processors.append(_Processor())
        stopping.append(_Criterion())
    from transformers import LogitsProcessorList, StoppingCriteriaList

    with torch.inference_mode():
        out = model.generate(
            input_ids=input_ids, attention_mask=attention, max_new_tokens=max_new_tokens, do_sample=False,
            eos_token_id=eos, pad_token_id=pad, use_cache=use_cache, logits_processor=LogitsProcessorList(processors),
            stopping_criteria=StoppingCriteriaList(stopping), output_logits=True, return_dict_in_generate=True,
        )
    new_tokens = out.sequences[:, width:]
    results = []
    for row in range(len(prompts)):
        ids = new_tokens[row].tolist()
        gave_up = floor is not None and bool(floor.gave_up[row])
        if gave_up:
            # Other rows may have gone on: what follows the token it stopped at is padding.
            ids = ids[: floor.lengths[row]]
        finished = eos in ids and not gave_up
        scored = ids.index(eos) + 1 if finished else len(ids)
        # The EOS token's probability counts: a model unsure where the plan ends is unsure of the plan.
        log_probs = [float(torch.log_softmax(out.logits[step][row].float(), dim=-1)[ids[step]]) for step in range(scored)]
        confidence = plan_probability(log_probs)
        text = tokenizer.decode(ids[: scored - 1 if finished else scored], skip_special_tokens=True).strip()
        results.append(Decoded(text, confidence, scored, finished, tuple(log_probs), gave_up))
    return results
