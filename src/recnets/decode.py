"""Generation from a recurrent language model, and the log-likelihood it assigns to a sequence.

An RNN with an output at every step is a directed graphical model over the sequence: each symbol is drawn
from p(y(t) | y(1..t-1)) and fed back as the next input (ancestral sampling). Generation ends at an end
symbol or at a maximum length.

Book: 10.2.3 (modelling sequences conditioned on context with RNNs; sampling from the graphical model,
ending by an end-of-sequence symbol), eq. 10.31 (the log-likelihood as a sum of log conditionals).
"""
from __future__ import annotations

from typing import Any, Sequence

import torch
from torch import Tensor, nn

__all__ = ["sample", "sequence_log_likelihood"]


def _check_integer(value: Any, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name}: expected an integer >= {minimum}, got {value!r}")
    return value


def _model_device(model: nn.Module) -> torch.device:
    parameter = next(model.parameters(), None)
    return parameter.device if parameter is not None else torch.device("cpu")


def _next_ids(logits: Tensor, temperature: float, top_k: int | None,
              generator: torch.Generator | None) -> Tensor:
    """One id per row from ``logits (B, V)``: argmax when ``temperature`` is 0, else a draw from
    softmax(logits / temperature) restricted to the ``top_k`` largest logits. Returns (B,) int64."""
    if temperature == 0:
        return logits.argmax(-1)
    scaled = logits / temperature  # (B, V)
    if top_k is not None and top_k < scaled.shape[-1]:
        kth = scaled.topk(top_k, dim=-1).values[:, -1:]  # (B, 1) the k-th largest
        scaled = scaled.masked_fill(scaled < kth, float("-inf"))
    probabilities = torch.softmax(scaled, dim=-1)  # (B, V)
    if generator is not None and probabilities.device != generator.device:
        return torch.multinomial(probabilities.to(generator.device), 1, generator=generator)[:, 0].to(logits.device)
    return torch.multinomial(probabilities, 1, generator=generator)[:, 0]


@torch.no_grad()
def sample(model: nn.Module, prompt_ids: Sequence[int] | Tensor, *, max_length: int, temperature: float = 1.0,
           top_k: int | None = None, end_id: int | None = None, num_samples: int = 1,
           generator: torch.Generator | None = None) -> list[list[int]]:
    """Continue ``prompt_ids`` by ancestral sampling (or greedily) from a model with an output at every step.

    The prompt is read in one call ``model(ids (S, P)) -> (logits (S, P, V), state)`` (the fused kernel when
    the cell has one); then each new id is drawn from the last logits and fed to
    ``model.step(ids_t (S,), state) -> (logits (S, V), state)``. A sample ends at ``end_id`` (not included)
    or after ``max_length`` new ids. An empty prompt starts from ``end_id``: the end of the previous document
    is the start of this one.

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
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) or not temperature >= 0:
        raise ValueError(f"temperature: expected a number >= 0, got {temperature!r}")
    if top_k is not None:
        _check_integer(top_k, "top_k", 1)
    if end_id is not None:
        _check_integer(end_id, "end_id", 0)
    device = _model_device(model)
    prompt = torch.as_tensor(prompt_ids, dtype=torch.int64).reshape(-1).to(device)  # (P,)
    if prompt.numel() == 0:
        if end_id is None:
            raise ValueError("prompt_ids: expected at least one id, or end_id to start from, got an empty prompt")
        prompt = torch.tensor([end_id], dtype=torch.int64, device=device)
    prompts = prompt.unsqueeze(0).expand(num_samples, -1).contiguous()  # (S, P)
    logits, state = model(prompts)  # (S, P, V)
    logits = logits[:, -1]  # (S, V)
    if end_id is not None and end_id >= logits.shape[-1]:
        raise ValueError(f"end_id: expected an id in [0, {logits.shape[-1]}), got {end_id}")

    samples: list[list[int]] = [[] for _ in range(num_samples)]
    running = [True] * num_samples
    for position in range(max_length):
        ids = _next_ids(logits, float(temperature), top_k, generator)  # (S,)
        for row, value in enumerate(ids.tolist()):
            if not running[row]:
                continue
            if end_id is not None and value == end_id:
                running[row] = False
            else:
                samples[row].append(value)
        if not any(running) or position + 1 == max_length:
            break
        logits, state = model.step(ids, state)  # (S, V)
    return samples


def sequence_log_likelihood(model: nn.Module, ids: Sequence[int] | Tensor) -> Tensor:
    """log p(ids[1:] | ids[0]) = Σ_{t>=1} log p(ids[t] | ids[0..t-1]) under a model with an output every step.

    Args:
        model: ``model(ids (B, T)) -> (logits (B, T, V), state)``.
        ids: (T,) or (B, T) ids with T >= 2; ``ids[..., 0]`` is the given start (e.g. ``<eos>``).

    Returns:
        A scalar for (T,) ids, (B,) for (B, T) ids, in nats, differentiable in the model's parameters.

    Book: 10.2.3, eq. 10.31 (the joint over the sequence as a product of conditionals).
    """
    ids = torch.as_tensor(ids, dtype=torch.int64)
    if ids.dim() not in (1, 2) or ids.shape[-1] < 2:
        raise ValueError(f"ids: expected shape (T,) or (B, T) with T >= 2, got {tuple(ids.shape)}")
    rows = ids.reshape(-1, ids.shape[-1]).to(_model_device(model))  # (B, T)
    logits, _ = model(rows[:, :-1])  # (B, T-1, V)
    log_p = torch.log_softmax(logits, dim=-1).gather(-1, rows[:, 1:].unsqueeze(-1))[..., 0]  # (B, T-1)
    total = log_p.sum(-1)  # (B,)
    return total[0] if ids.dim() == 1 else total
