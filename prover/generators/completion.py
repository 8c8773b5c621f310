"""Turning generated tokens into a Candidate, for backends that decode token by token themselves.

A completion ends after the first end-of-sequence token or after the token that completes a stop
sequence (the rule of `prover.prompts.stop_index`); its text stops before the stop sequence, and its
log-probability and token count cover exactly the tokens kept, as vLLM reports them.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence

from prover.prompts import stop_index
from prover.types import Candidate


def completion_end(
    token_ids: Sequence[int],
    decode: Callable[[Sequence[int]], str],
    stops: Sequence[str],
    eos_ids: Collection[int],
) -> int:
    """Number of generated tokens that belong to the completion (the rest is padding or beyond)."""
    end = len(token_ids)
    for i, token in enumerate(token_ids):
        if token in eos_ids:
            end = i + 1
            break
    if stops and stop_index(decode(token_ids[:end]), stops) >= 0:
        # The smallest prefix whose text holds a stop sequence; holding one only grows with length.
        lo, hi = 1, end
        while lo < hi:
            mid = (lo + hi) // 2
            if stop_index(decode(token_ids[:mid]), stops) >= 0:
                hi = mid
            else:
                lo = mid + 1
        end = lo
    return end


def to_candidate(
    token_ids: Sequence[int],
    token_logprobs: Sequence[float],
    decode: Callable[[Sequence[int]], str],
    stops: Sequence[str],
    eos_ids: Collection[int],
) -> Candidate:
    """The Candidate for one generated sequence (`decode` should drop special tokens)."""
    end = completion_end(token_ids, decode, stops, eos_ids)
    text = decode(token_ids[:end])
    cut = stop_index(text, stops)
    if cut >= 0:
        text = text[:cut]
    return Candidate(text, float(sum(token_logprobs[:end])), end)


def distinct_best(candidates: Sequence[Candidate]) -> list[Candidate]:
    """One candidate per text (beams that differ only past a stop cut become equal), keeping the
    highest log-probability; first-appearance order."""
    best: dict[str, Candidate] = {}
    for cand in candidates:
        kept = best.get(cand.text)
        if kept is None or cand.logprob > kept.logprob:
            best[cand.text] = cand
    return list(best.values())
