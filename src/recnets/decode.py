"""Generation from a recurrent model, and the log-likelihood it assigns to a sequence.

An RNN with an output at every step is a directed graphical model over the sequence: each symbol is drawn
from p(y(t) | y(1..t-1), context) and fed back as the next input (ancestral sampling); greedy decoding takes
the most likely choice at every step. Every search here (and ``recnets.beam_search``) drives a
:class:`~recnets.core.step_decoder.StepDecoder` one step per time step over all rows at once. A sequence
ends in one of three ways: an end symbol (``end_id``), a Bernoulli stop output, or a length predicted before
the first symbol, or else at ``max_length`` (an unfinished outcome).

The outcomes of a run with maximum length L are: every sequence that ended at length n <= L (n <= L-1 with an
end symbol, which takes a step of its own) and every unfinished prefix of length L; their probabilities sum to
1. ``log_prob`` in the results is the log-probability of the outcome under the model (temperature 1), ending
included: log p(end) after the last symbol, the stop unit's Π_{t<n} (1 - σ(t)) σ(n), or log P(τ).

Book: 10.2.3 (sampling from the RNN's directed graphical model; the end symbol, the Bernoulli stop output and
the predicted length), eq. 10.31 (the log-likelihood as a sum of log conditionals).
"""
from __future__ import annotations

import math
from typing import Any, NamedTuple, Sequence

import torch
from torch import Tensor, nn

from recnets.core.step_decoder import DecoderStep, LengthDecoder, StepDecoder, repeat_rows, sentence_count
from recnets.nets.lm_decoder import LanguageModelDecoder

__all__ = ["Decoded", "greedy_decode", "ancestral_sample", "sample", "sequence_log_likelihood"]

PAD = -1  # the id past each length in the results' padded ``ids``


class Decoded(NamedTuple):
    """Sequences generated row by row (greedy decoding, ancestral sampling).

    Shapes:
        ids: (R, T) int64, the symbols, ``PAD`` (-1) past each length; the end symbol is not included.
        lengths: (R,) the number of symbols; log_prob: (R,) the outcome's log-probability, ending included;
        finished: (R,) bool, whether the sequence ended (symbol, stop, τ) within ``max_length``.

    Book: 10.2.3.
    """

    ids: Tensor
    lengths: Tensor
    log_prob: Tensor
    finished: Tensor

    def to_lists(self) -> list[list[int]]:
        """Each row's symbols as a list, padding removed."""
        return [row[:length] for row, length in zip(self.ids.tolist(), self.lengths.tolist())]


# ---- arguments -------------------------------------------------------------------------------------------

def _check_integer(value: Any, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name}: expected an integer >= {minimum}, got {value!r}")
    return value


def _check_nonnegative(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < math.inf:
        raise ValueError(f"{name}: expected a finite number >= 0, got {value!r}")
    return float(value)


def _check_end_id(decoder: StepDecoder, end_id: int | None) -> None:
    if end_id is None:
        return
    if isinstance(end_id, bool) or not isinstance(end_id, int) or not 0 <= end_id < decoder.vocab_size:
        raise ValueError(f"end_id: expected an id in [0, {decoder.vocab_size}), got {end_id!r}")
    if decoder.stops_itself:
        raise ValueError(f"end_id: expected None for a decoder that ends itself (stop output or predicted "
                         f"length), got {end_id}")


def _check_decoder(decoder: Any) -> StepDecoder:
    if not isinstance(decoder, StepDecoder):
        raise TypeError(f"decoder: expected a StepDecoder (e.g. LanguageModelDecoder(model, prompt)), "
                        f"got {type(decoder).__name__}")
    return decoder


def _check_step(out: DecoderStep, decoder: StepDecoder, rows: int) -> None:
    if tuple(out.logits.shape) != (rows, decoder.vocab_size):
        raise ValueError(f"decoder: expected step logits of shape ({rows}, {decoder.vocab_size}), "
                         f"got {tuple(out.logits.shape)}")
    if (out.stop_logit is not None) != decoder.stops_itself:
        raise ValueError(f"decoder: expected {'a' if decoder.stops_itself else 'no'} stop logit from step "
                         f"(stops_itself is {decoder.stops_itself})")


def _device(module: nn.Module) -> torch.device:
    parameter = next(module.parameters(), None)
    return parameter.device if parameter is not None else torch.device("cpu")


# ---- choices ---------------------------------------------------------------------------------------------

def _draw(probabilities: Tensor, generator: torch.Generator | None) -> Tensor:
    """One category per row of ``probabilities (R, C)``: (R,) int64 (drawn on the generator's device)."""
    if generator is not None and probabilities.device != generator.device:
        return torch.multinomial(probabilities.to(generator.device), 1, generator=generator)[:, 0].to(probabilities.device)
    return torch.multinomial(probabilities, 1, generator=generator)[:, 0]


def _choose(logits: Tensor, temperature: float, top_k: int | None, generator: torch.Generator | None) -> Tensor:
    """One id per row from ``logits (R, C)``: argmax when ``temperature`` is 0, else a draw from
    softmax(logits / temperature) restricted to the ``top_k`` largest logits. (R,) int64."""
    if temperature == 0:
        return logits.argmax(-1)
    scaled = logits / temperature  # (R, C)
    if top_k is not None and top_k < scaled.shape[-1]:
        kth = scaled.topk(top_k, dim=-1).values[:, -1:]  # (R, 1) the k-th largest
        scaled = scaled.masked_fill(scaled < kth, float("-inf"))
    return _draw(torch.softmax(scaled, dim=-1), generator)


def _choose_stops(stop_logit: Tensor, temperature: float, generator: torch.Generator | None) -> Tensor:
    """Halt or not per row: σ > 1/2 when ``temperature`` is 0, else a draw with probability σ(x / temperature).
    (R,) bool."""
    if temperature == 0:
        return stop_logit > 0
    probability = torch.sigmoid(stop_logit / temperature)  # (R,)
    device = generator.device if generator is not None else probability.device
    uniform = torch.rand(probability.shape, generator=generator, device=device, dtype=probability.dtype)
    return uniform.to(probability.device) < probability


def _halt_log_prob(stop_logit: Tensor, halts: Tensor) -> Tensor:
    """log σ(x) where ``halts``, log(1 - σ(x)) = log σ(-x) elsewhere: (R,)."""
    return torch.where(halts, nn.functional.logsigmoid(stop_logit), nn.functional.logsigmoid(-stop_logit))


# ---- greedy decoding and ancestral sampling --------------------------------------------------------------

def _generate(decoder: StepDecoder, context: Any, batch_size: int | None, times: int, max_length: int,
              end_id: int | None, temperature: float, top_k: int | None,
              generator: torch.Generator | None) -> Decoded:
    """The row-by-row loop behind greedy decoding (temperature 0) and ancestral sampling."""
    rows = sentence_count(context, batch_size) * times
    context = repeat_rows(context, times)  # (R, ...) sentence-major
    state = decoder.initial_state(rows, context)
    device = _device(decoder)
    log_prob: Tensor | float = 0.0
    if isinstance(decoder, LengthDecoder):
        length_logits = decoder.length_logits(rows, context)  # (R, L_max)
        lengths_tau = _choose(length_logits, temperature, None, generator) + 1  # (R,) τ in 1..L_max
        log_prob = torch.log_softmax(length_logits, -1).gather(-1, (lengths_tau - 1).unsqueeze(-1))[:, 0]
        state = decoder.with_length(state, lengths_tau)
    ids_t = torch.full((rows,), decoder.start_id, dtype=torch.int64, device=device)
    finished = torch.zeros(rows, dtype=torch.bool, device=device)
    lengths = torch.zeros(rows, dtype=torch.int64, device=device)
    columns = []
    for _ in range(max_length):
        out = decoder.step(ids_t, state, context)
        _check_step(out, decoder, rows)
        symbols = _choose(out.logits, temperature, top_k, generator)  # (R,)
        step_log_prob = torch.log_softmax(out.logits, -1).gather(-1, symbols.unsqueeze(-1))[:, 0]  # (R,)
        running = ~finished
        appended, ends = running, torch.zeros_like(running)
        if out.stop_logit is not None:
            ends = _choose_stops(out.stop_logit, temperature, generator)
            step_log_prob = step_log_prob + _halt_log_prob(out.stop_logit, ends)
        elif end_id is not None:
            ends = symbols == end_id
            appended = running & ~ends
        log_prob = torch.where(running, log_prob + step_log_prob, log_prob)
        columns.append(torch.where(appended, symbols, PAD))
        lengths = lengths + appended
        finished = finished | (running & ends)
        if bool(finished.all()):
            break
        state, ids_t = out.state, symbols
    return Decoded(torch.stack(columns, 1), lengths, log_prob, finished)


@torch.no_grad()
def greedy_decode(decoder: StepDecoder, *, context: Any = None, batch_size: int | None = None,
                  max_length: int, end_id: int | None = None) -> Decoded:
    """The most likely choice at every step: argmax symbol, halt when σ > 1/2, the most likely τ first.

    Args:
        decoder: a :class:`~recnets.core.step_decoder.StepDecoder`.
        context: read-only per-sentence data (B rows), or None.
        batch_size: B when there is no context (default 1).
        max_length: L >= 1, the most steps per sequence.
        end_id: the end symbol, for a decoder that does not end itself.

    Returns:
        :class:`Decoded` with B rows.

    Book: 10.2.3.
    """
    decoder = _check_decoder(decoder)
    max_length = _check_integer(max_length, "max_length", 1)
    _check_end_id(decoder, end_id)
    return _generate(decoder, context, batch_size, 1, max_length, end_id, 0.0, None, None)


@torch.no_grad()
def ancestral_sample(decoder: StepDecoder, *, context: Any = None, batch_size: int | None = None,
                     num_samples: int = 1, max_length: int, temperature: float = 1.0, top_k: int | None = None,
                     end_id: int | None = None, generator: torch.Generator | None = None) -> Decoded:
    """Draw each variable of the directed model in order: τ (when predicted), then y(t) and the stop decision.

    ``temperature`` scales every categorical (symbols, σ as the two-way softmax of (0, x), τ): 1 samples the
    model, 0 is greedy, higher flattens. ``top_k`` restricts the symbols (not τ) to the k most likely.

    Args:
        decoder, context, batch_size, max_length, end_id: as in :func:`greedy_decode`.
        num_samples: S >= 1 independent samples per sentence.
        temperature: >= 0; top_k: >= 1 or None; generator: the random source (reproducible samples).

    Returns:
        :class:`Decoded` with B·S rows, sentence-major (sentence b's samples at rows b·S .. b·S + S - 1);
        ``log_prob`` under the model itself (temperature 1, no top-k).

    Book: 10.2.3 (ancestral sampling).
    """
    decoder = _check_decoder(decoder)
    max_length = _check_integer(max_length, "max_length", 1)
    num_samples = _check_integer(num_samples, "num_samples", 1)
    temperature = _check_nonnegative(temperature, "temperature")
    if top_k is not None:
        _check_integer(top_k, "top_k", 1)
    _check_end_id(decoder, end_id)
    return _generate(decoder, context, batch_size, num_samples, max_length, end_id, temperature, top_k, generator)


@torch.no_grad()
def sample(model: nn.Module, prompt_ids: Sequence[int] | Tensor, *, max_length: int, temperature: float = 1.0,
           top_k: int | None = None, end_id: int | None = None, num_samples: int = 1,
           generator: torch.Generator | None = None) -> list[list[int]]:
    """Continue ``prompt_ids`` by ancestral sampling (or greedily) from a language model with an output every step.

    The prompt but its last id is read in one call ``model(ids (S, P-1))`` (the fused kernel when the cell has
    one); then each new id is drawn from the last logits and fed to ``model.step`` (through
    :class:`~recnets.nets.lm_decoder.LanguageModelDecoder` and :func:`ancestral_sample`). A sample ends at
    ``end_id`` (not included) or after ``max_length`` new ids. An empty prompt starts from ``end_id``: the end
    of the previous document is the start of this one.

    Args:
        model: e.g. :class:`~recnets.nets.patterns.OutputEveryStep` with a vocabulary.
        prompt_ids: (P,) ids; may be empty when ``end_id`` is given.
        max_length: the most new ids per sample, >= 1.
        temperature: >= 0; 0 is greedy (argmax), 1 samples the model's distribution, higher flattens it.
        top_k: when given (>= 1), draw only among the k most likely ids.
        end_id: the end-of-sequence id.
        num_samples: S, independent samples of the same prompt.
        generator: the random source of the draws (for reproducible samples).

    Returns:
        S lists of new ids (the prompt excluded).

    Book: 10.2.3 (ancestral sampling from the RNN's directed graphical model; the end symbol).
    Deviations: the model runs as it is (call ``model.eval()`` first when it has dropout).
    """
    max_length = _check_integer(max_length, "max_length", 1)
    num_samples = _check_integer(num_samples, "num_samples", 1)
    temperature = _check_nonnegative(temperature, "temperature")
    if top_k is not None:
        _check_integer(top_k, "top_k", 1)
    if end_id is not None:
        _check_integer(end_id, "end_id", 0)
    prompt = torch.as_tensor(prompt_ids, dtype=torch.int64).reshape(-1)  # (P,)
    if prompt.numel() == 0:
        if end_id is None:
            raise ValueError("prompt_ids: expected at least one id, or end_id to start from, got an empty prompt")
        prompt = torch.tensor([end_id], dtype=torch.int64)
    decoder = LanguageModelDecoder(model, prompt)
    _check_end_id(decoder, end_id)
    return _generate(decoder, None, num_samples, 1, max_length, end_id, temperature, top_k, generator).to_lists()


# ---- log-likelihood --------------------------------------------------------------------------------------

def sequence_log_likelihood(model: nn.Module, ids: Sequence[int] | Tensor, *, lengths: Tensor | None = None,
                            context: Any = None, end_id: int | None = None,
                            finished: bool | Tensor = True) -> Tensor:
    """log P of a given sequence = the sum of its per-step log conditionals, ending included.

    Two forms:

    - ``model`` a language model ``model(ids (B, T)) -> (logits (B, T, V), state)`` (e.g. OutputEveryStep):
      log p(ids[1:] | ids[0]) = Σ_{t>=1} log p(ids[t] | ids[0..t-1]), ``ids[..., 0]`` the given start; the
      keyword arguments are not used.
    - ``model`` a :class:`~recnets.core.step_decoder.StepDecoder`: ``ids`` are the symbols y(1..n) after
      ``decoder.start_id``, n = ``lengths`` (default T); the ending is scored by the decoder's own mode:
      with ``end_id``, + log p(end | y(1..n)); with a stop output, + Σ_{t<n} log(1 - σ(t)) + log σ(n); with a
      predicted length, + log P(τ = n). ``finished`` False scores the unfinished outcome instead (no end
      symbol, the stop unit not firing at n; not for a predicted length), as the searches report a sequence
      still running at ``max_length``.

    Args:
        model: a language model or a step decoder.
        ids: (T,) or (B, T) ids (entries past each length are ignored).
        lengths: (B,) symbols per row (step decoders); 0 only with an end symbol.
        context: the decoder's per-sentence context (B rows).
        end_id: the end symbol (step decoders that do not end themselves).
        finished: bool or (B,) bool.

    Returns:
        A scalar for (T,) ids, (B,) for (B, T) ids, in nats, differentiable in the model's parameters.

    Book: 10.2.3, eq. 10.31 (the joint over the sequence as a product of conditionals).
    """
    if isinstance(model, StepDecoder):
        return _decoder_log_likelihood(model, ids, lengths, context, end_id, finished)
    if lengths is not None or context is not None or end_id is not None or finished is not True:
        raise ValueError(f"model: expected a StepDecoder (e.g. LanguageModelDecoder) for lengths, context, "
                         f"end_id or finished, got {type(model).__name__}")
    ids = torch.as_tensor(ids, dtype=torch.int64)
    if ids.dim() not in (1, 2) or ids.shape[-1] < 2:
        raise ValueError(f"ids: expected shape (T,) or (B, T) with T >= 2, got {tuple(ids.shape)}")
    rows = ids.reshape(-1, ids.shape[-1]).to(_device(model))  # (B, T)
    logits, _ = model(rows[:, :-1])  # (B, T-1, V)
    log_p = torch.log_softmax(logits, dim=-1).gather(-1, rows[:, 1:].unsqueeze(-1))[..., 0]  # (B, T-1)
    total = log_p.sum(-1)  # (B,)
    return total[0] if ids.dim() == 1 else total


def _decoder_log_likelihood(decoder: StepDecoder, ids: Sequence[int] | Tensor, lengths: Tensor | None,
                            context: Any, end_id: int | None, finished: bool | Tensor) -> Tensor:
    """Step by step: Σ_t log p(y(t) | y(<t)) plus the ending's terms (see :func:`sequence_log_likelihood`)."""
    _check_end_id(decoder, end_id)
    device = _device(decoder)
    ids = torch.as_tensor(ids, dtype=torch.int64)
    if ids.dim() not in (1, 2):
        raise ValueError(f"ids: expected shape (T,) or (B, T), got {tuple(ids.shape)}")
    rows = (ids.unsqueeze(0) if ids.dim() == 1 else ids).to(device)  # (B, T)
    batch, steps = rows.shape
    lengths = torch.full((batch,), steps) if lengths is None else torch.as_tensor(lengths)
    if lengths.dtype.is_floating_point or lengths.shape != (batch,):
        raise ValueError(f"lengths: expected integers of shape ({batch},), got shape {tuple(lengths.shape)} "
                         f"dtype {lengths.dtype}")
    lengths = lengths.to(device=device, dtype=torch.int64)
    shortest = 0 if end_id is not None else 1
    if int(lengths.min()) < shortest or int(lengths.max()) > steps:
        raise ValueError(f"lengths: expected values in [{shortest}, {steps}], got "
                         f"[{int(lengths.min())}, {int(lengths.max())}]")
    inside = torch.arange(steps, device=device) < lengths.unsqueeze(1)  # (B, T)
    real = rows[inside]
    if real.numel() and (int(real.min()) < 0 or int(real.max()) >= decoder.vocab_size):
        raise ValueError(f"ids: expected ids in [0, {decoder.vocab_size}) within each length, "
                         f"got [{int(real.min())}, {int(real.max())}]")
    if end_id is not None and bool((real == end_id).any()):
        raise ValueError(f"ids: expected no end_id ({end_id}) within each length, got one")
    finished = torch.as_tensor(finished, dtype=torch.bool, device=device).expand(batch)  # (B,)

    state = decoder.initial_state(batch, context)
    total: Tensor | float = 0.0
    if isinstance(decoder, LengthDecoder):
        if not bool(finished.all()):
            raise ValueError("finished: expected True for a decoder with a predicted length (τ is the length), got False")
        length_logits = decoder.length_logits(batch, context)  # (B, L_max)
        if int(lengths.max()) > length_logits.shape[-1]:
            raise ValueError(f"lengths: expected values <= {length_logits.shape[-1]} (the decoder's max_length), "
                             f"got {int(lengths.max())}")
        total = torch.log_softmax(length_logits, -1).gather(-1, (lengths - 1).unsqueeze(-1))[:, 0]  # (B,)
        state = decoder.with_length(state, lengths)
    ids_t = torch.full((batch,), decoder.start_id, dtype=torch.int64, device=device)
    for t in range(int(lengths.max()) + (1 if end_id is not None else 0)):
        out = decoder.step(ids_t, state, context)
        _check_step(out, decoder, batch)
        log_p = torch.log_softmax(out.logits, -1)  # (B, V)
        target = rows[:, t].clamp_min(0) if t < steps else torch.zeros_like(ids_t)  # (B,)
        running = t < lengths  # (B,)
        term = torch.where(running, log_p.gather(-1, target.unsqueeze(-1))[:, 0], 0.0)
        if end_id is not None:
            term = term + torch.where((t == lengths) & finished, log_p[:, end_id], 0.0)
        if out.stop_logit is not None:
            halt = _halt_log_prob(out.stop_logit, (t == lengths - 1) & finished)
            term = term + torch.where(running, halt, 0.0)
        total = total + term
        state, ids_t = out.state, torch.where(running, target, 0)
    return total[0] if ids.dim() == 1 else total
