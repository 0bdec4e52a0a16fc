"""Test helpers for decoding: tiny float64 decoders of each end mode, and brute-force enumeration of outcomes.

The enumeration writes the model's probabilities out as products of softmax and sigmoid values, prefix by
prefix (every prefix rerun from the start, so no state reordering is involved), independently of the
searches' log-space bookkeeping.
"""
from __future__ import annotations

import itertools
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn

from recnets.cells import ElmanCell, LSTMCell
from recnets.core.step_decoder import DecoderStep, LengthDecoder, StepDecoder, repeat_rows
from recnets.nets.stopping import PredictedLengthRNN, StopUnitRNN

V, C, D, H = 3, 2, 3, 4
CELLS = {"elman": ElmanCell, "lstm": LSTMCell}
MODES = ["end", "stop", "length"]
END_ID = 0  # the end symbol of the end-mode decoder


class Memory(NamedTuple):
    """A context shaped like an encoder's: a vector (B, C) and a memory (B, S, C)."""

    vector: Tensor
    memory: Tensor


class ConditionedEndLM(StepDecoder):
    """A context-conditioned generator that ends by an end symbol, written against the protocol only (as an
    encoder-decoder's decoder would be): x(t) = E y(t-1) + U (vector + mean of memory), o = Linear(h)."""

    def __init__(self, cell, vocab_size: int, context_size: int) -> None:
        super().__init__()
        self.cell, self.vocab_size, self.start_id = cell, vocab_size, vocab_size
        self.embedding = nn.Embedding(vocab_size + 1, cell.input_size)
        self.U = nn.Linear(context_size, cell.input_size, bias=False)
        self.out = nn.Linear(cell.hidden_size, vocab_size)

    def initial_state(self, batch_size: int, context: Any = None) -> Any:
        assert context.vector.shape[0] == batch_size
        return self.cell.initial_state(batch_size)

    def step(self, ids_t: Tensor, state: Any, context: Any = None) -> DecoderStep:
        x = self.embedding(ids_t) + self.U(context.vector + context.memory.mean(1))  # (B, D)
        h, state = self.cell(x, state)
        return DecoderStep(self.out(h), None, state)


def make_decoder(mode: str, cell: str = "elman", seed: int = 0, max_length: int = 3) -> StepDecoder:
    """A float64 decoder of ``mode`` with sharpened outputs (far from uniform, so that choices matter)."""
    torch.manual_seed(seed)
    inner = CELLS[cell](D, H)
    if mode == "end":
        decoder = ConditionedEndLM(inner, V, C)
        scaled = [decoder.out.weight, decoder.out.bias, decoder.U.weight, decoder.U.weight]
    elif mode == "stop":
        decoder = StopUnitRNN(inner, V, context_size=C)
        scaled = [decoder.readout.V, decoder.stop_readout.V, decoder.stop_readout.c, decoder.U_c, decoder.U_c]
    else:
        decoder = PredictedLengthRNN(inner, V, max_length, context_size=C)
        scaled = [decoder.readout.V, decoder.length_V, decoder.U_c, decoder.U_c]
    with torch.no_grad():
        for parameter in scaled:
            parameter.mul_(3.0)
    return decoder.double()


def make_context(mode: str, sentences: int, seed: int = 1) -> Any:
    generator = torch.Generator().manual_seed(seed)
    vector = torch.randn(sentences, C, generator=generator, dtype=torch.float64)
    if mode == "end":
        return Memory(vector, torch.randn(sentences, 5, C, generator=generator, dtype=torch.float64))
    return vector


def context_row(context: Any, row: int) -> Any:
    if isinstance(context, Memory):
        return Memory(context.vector[row:row + 1], context.memory[row:row + 1])
    return context[row:row + 1]


class Outcome(NamedTuple):
    ids: tuple[int, ...]
    finished: bool
    probability: float
    steps: int  # n in the length normalisation


@torch.no_grad()
def _prefix_probabilities(decoder: StepDecoder, context: Any, prefixes: list[tuple[int, ...]],
                          tau: int | None = None) -> tuple[Tensor, Tensor, Tensor | None]:
    """Rerun each prefix from the start: its probability (go-on factors included), and the next step's symbol
    probabilities (P, V) and stop probabilities (P,) (None without a stop output)."""
    count = len(prefixes)
    rows = repeat_rows(context, count)
    state = decoder.initial_state(count, rows)
    probability = torch.ones(count, dtype=torch.float64)
    if tau is not None:
        state = decoder.with_length(state, torch.full((count,), tau))
    ids = torch.full((count,), decoder.start_id)
    depth = len(prefixes[0])
    for t in range(depth + 1):
        out = decoder.step(ids, state, rows)
        symbols = torch.softmax(out.logits, -1)  # (P, V)
        stops = torch.sigmoid(out.stop_logit) if out.stop_logit is not None and tau is None else None
        if t == depth:
            return probability, symbols, stops
        ids = torch.tensor([prefix[t] for prefix in prefixes])
        probability = probability * symbols[torch.arange(count), ids]
        if stops is not None:
            probability = probability * (1 - stops)
        state = out.state
    raise AssertionError("unreachable")


def enumerate_outcomes(decoder: StepDecoder, context: Any, max_length: int, end_id: int | None = None) -> list[Outcome]:
    """Every outcome of one sentence (``context`` with one row) with its probability, by brute force."""
    outcomes: list[Outcome] = []
    if isinstance(decoder, LengthDecoder):
        assert decoder.max_length <= max_length, "unfinished outcomes of a length decoder are not enumerated"
        prior = torch.softmax(decoder.length_logits(1, context).detach(), -1)[0]  # (L_max,)
        for tau in range(1, decoder.max_length + 1):
            sequences = list(itertools.product(range(decoder.vocab_size), repeat=tau))
            probability = torch.full((len(sequences),), float(prior[tau - 1]), dtype=torch.float64)
            for t in range(tau):
                _, symbols, _ = _prefix_probabilities(decoder, context, [s[:t] for s in sequences], tau)
                probability = probability * symbols[torch.arange(len(sequences)), [s[t] for s in sequences]]
            outcomes += [Outcome(s, True, float(p), tau) for s, p in zip(sequences, probability)]
        return outcomes
    symbols_kept = [v for v in range(decoder.vocab_size) if v != end_id]
    prefixes: list[tuple[int, ...]] = [()]
    for t in range(1, max_length + 1):
        probability, symbols, stops = _prefix_probabilities(decoder, context, prefixes)
        extended = []
        for row, prefix in enumerate(prefixes):
            if end_id is not None:
                outcomes.append(Outcome(prefix, True, float(probability[row] * symbols[row, end_id]), t))
            for v in symbols_kept:
                p = float(probability[row] * symbols[row, v])
                if stops is not None:
                    outcomes.append(Outcome(prefix + (v,), True, p * float(stops[row]), t))
                    p *= float(1 - stops[row])
                if t == max_length:
                    outcomes.append(Outcome(prefix + (v,), False, p, max_length))
                extended.append(prefix + (v,))
        prefixes = extended
    return outcomes


def padded(outcomes: list[Outcome]) -> tuple[Tensor, Tensor, Tensor]:
    """The outcomes' ids (P, T) padded with 0, lengths (P,) and finished (P,) for sequence_log_likelihood."""
    width = max(1, max(len(o.ids) for o in outcomes))
    ids = torch.tensor([list(o.ids) + [0] * (width - len(o.ids)) for o in outcomes], dtype=torch.int64)
    lengths = torch.tensor([len(o.ids) for o in outcomes])
    finished = torch.tensor([o.finished for o in outcomes])
    return ids, lengths, finished
