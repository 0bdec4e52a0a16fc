"""What a decoder is fed as y(t-1) while it learns: the label (teacher forcing), its own output (free running),
or a mixture whose share of labels decays over training (scheduled sampling), optionally in k-step rollouts.

Teacher forcing trains every conditional p(y(t) | y(1..t-1)) on the true prefix, but at test time the model
reads its own outputs, which it never saw in training (exposure bias). Scheduled sampling (Bengio et al. 2015)
feeds the label with probability ε_i and the model's own previous output otherwise, ε_i decaying with the
number of updates i:

- linear: ε_i = max(ε, k − c·i);
- exponential: ε_i = k^i (k < 1);
- inverse sigmoid: ε_i = k / (k + exp(i / k)) (k ≥ 1).

A rollout of k steps feeds the model's own outputs for k consecutive steps each time the coin says "own",
then returns to the labels: rollout 1 is Bengio et al.'s per-token choice.

A model that trains a :class:`~recnets.core.step_decoder.StepDecoder` holds a :class:`FeedingSchedule`
(whose update count is a buffer, saved with the weights, so a resumed run follows the same schedule) and calls
it in ``forward``: teacher forcing in eval mode (validation NLL on gold prefixes), the schedule in training.

Book: 10.2.1 (teacher forcing; the mismatch between training and test inputs, and mixing generated with
true values to reduce it, citing Bengio et al. 2015), 10.2.3 (the decoder as a directed model).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn

from recnets.core.step_decoder import StepDecoder

__all__ = ["FEEDING_MODES", "OWN_CHOICES", "FeedingConfig", "gold_probability", "Fed", "feed_labels", "feed_decoder",
           "FeedingSchedule"]

FEEDING_MODES = ("teacher-forcing", "free-running", "constant", "linear", "exponential", "inverse-sigmoid")
OWN_CHOICES = ("sample", "argmax")


@dataclass(frozen=True)
class FeedingConfig:
    """How the decoder's inputs are chosen during training.

    Args:
        mode: ``"teacher-forcing"`` (ε = 1), ``"free-running"`` (ε = 0), ``"constant"`` (ε = ``epsilon``),
            or a decay of ε with the update count i: ``"linear"`` max(ε, k − c·i), ``"exponential"`` k^i,
            ``"inverse-sigmoid"`` k / (k + exp(i / k)).
        epsilon: the constant ε, or the floor of the linear decay; in [0, 1].
        k: the linear decay's start (in [0, 1]), the exponential's base (in (0, 1]), the inverse sigmoid's
            scale (≥ 1).
        c: the linear decay's slope per update (≥ 0).
        rollout: each time the model's own output is chosen, it is fed for this many consecutive steps (≥ 1).
        own: what "own output" means: a draw from p(y(t-1) | ...) (``"sample"``, as Bengio et al.) or its
            most likely symbol (``"argmax"``).

    Book: 10.2.1.
    """

    mode: str = "teacher-forcing"
    epsilon: float = 0.0
    k: float = 1.0
    c: float = 0.0
    rollout: int = 1
    own: str = "sample"

    def __post_init__(self) -> None:
        if self.mode not in FEEDING_MODES:
            raise ValueError(f"feeding.mode: expected one of {', '.join(FEEDING_MODES)}, got {self.mode!r}")
        if self.own not in OWN_CHOICES:
            raise ValueError(f"feeding.own: expected one of {', '.join(OWN_CHOICES)}, got {self.own!r}")
        if isinstance(self.rollout, bool) or not isinstance(self.rollout, int) or self.rollout < 1:
            raise ValueError(f"feeding.rollout: expected an integer >= 1, got {self.rollout!r}")
        for name in ("epsilon", "k", "c"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ValueError(f"feeding.{name}: expected a finite number, got {value!r}")
        if not 0.0 <= self.epsilon <= 1.0:
            raise ValueError(f"feeding.epsilon: expected a probability in [0, 1], got {self.epsilon}")
        if self.c < 0:
            raise ValueError(f"feeding.c: expected a slope >= 0, got {self.c}")
        if self.mode == "linear" and not 0.0 <= self.k <= 1.0:
            raise ValueError(f"feeding.k: expected the linear decay's start in [0, 1], got {self.k}")
        if self.mode == "exponential" and not 0.0 < self.k <= 1.0:
            raise ValueError(f"feeding.k: expected the exponential decay's base in (0, 1], got {self.k}")
        if self.mode == "inverse-sigmoid" and self.k < 1.0:
            raise ValueError(f"feeding.k: expected the inverse sigmoid's scale >= 1, got {self.k}")


def gold_probability(config: FeedingConfig, updates: int) -> float:
    """ε_i: the probability of feeding the label after ``updates`` training updates (Bengio et al. 2015, sec. 2.4).

    Book: 10.2.1.
    """
    if updates < 0:
        raise ValueError(f"updates: expected a count >= 0, got {updates}")
    mode = config.mode
    if mode == "teacher-forcing":
        return 1.0
    if mode == "free-running":
        return 0.0
    if mode == "constant":
        return float(config.epsilon)
    if mode == "linear":
        return float(max(config.epsilon, config.k - config.c * updates))
    if mode == "exponential":
        return float(config.k ** updates)
    return float(config.k / (config.k + math.exp(min(updates / config.k, 700.0))))  # inverse sigmoid


class Fed(NamedTuple):
    """A decoder's outputs over T steps, and which inputs were labels.

    Shapes:
        logits (B, T, V); stop_logits (B, T) or None (a decoder without a stop output); gold (B, T) bool,
        True where y(t-1) fed at step t was the label (always True at t = 0, where the start symbol is fed).
    """

    logits: Tensor
    stop_logits: Tensor | None
    gold: Tensor


def _own_choice(logits: Tensor, own: str, generator: torch.Generator | None) -> Tensor:
    """The symbol the decoder itself would feed next: a draw from softmax(logits) or the argmax. (B, V) -> (B,)."""
    logits = logits.detach()
    if own == "argmax":
        return logits.argmax(-1)
    probabilities = torch.softmax(logits.float(), -1)
    return torch.multinomial(probabilities, 1, generator=generator).squeeze(1)


def _checked_targets(decoder: StepDecoder, targets: Tensor) -> tuple[int, int]:
    """(B, T) of ``targets`` after checking the decoder's type and the targets' dtype and shape."""
    if not isinstance(decoder, StepDecoder):
        raise TypeError(f"decoder: expected a StepDecoder, got {type(decoder).__name__}")
    if not isinstance(targets, Tensor) or targets.dim() != 2 or targets.dtype != torch.int64:
        raise ValueError(f"targets: expected an int64 tensor of shape (B, T), got "
                         f"{getattr(targets, 'dtype', type(targets).__name__)} of shape "
                         f"{tuple(getattr(targets, 'shape', ()))}")
    batch, steps = targets.shape
    if batch < 1 or steps < 1:
        raise ValueError(f"targets: expected at least one row and one step, got shape {tuple(targets.shape)}")
    return batch, steps


def feed_labels(decoder: StepDecoder, targets: Tensor, *, context: Any = None, state: Any = None) -> Fed:
    """Teacher forcing: :func:`feed_decoder` with ε = 1, taken in one go when the decoder can
    (:meth:`~recnets.core.step_decoder.StepDecoder.teacher_forced_steps`: one unroll, the fused kernel for a
    standard cell), else step by step. The two give the same numbers.

    Book: 10.2.1.
    """
    batch, steps = _checked_targets(decoder, targets)
    if state is None:
        state = decoder.initial_state(batch, context)
    at_once = decoder.teacher_forced_steps(targets, state, context)
    if at_once is None:
        return feed_decoder(decoder, targets, context=context, state=state)
    logits, stop_logits = at_once
    return Fed(logits, stop_logits, torch.ones(batch, steps, dtype=torch.bool, device=targets.device))


def feed_decoder(decoder: StepDecoder, targets: Tensor, *, context: Any = None, state: Any = None,
                 gold_probability: float = 1.0, rollout: int = 1, own: str = "sample",
                 generator: torch.Generator | None = None) -> Fed:
    """Run ``decoder`` over ``T`` steps, feeding the label y(t-1) with probability ε, else its own output.

    Step 0 reads the decoder's start symbol. At step t ≥ 1 a row outside a rollout feeds the label
    ``targets[:, t-1]`` with probability ``gold_probability``; otherwise it feeds the decoder's own choice from
    step t-1's distribution (no gradient flows through the choice) for ``rollout`` consecutive steps. With
    ε = 1 this is teacher forcing (no draws are made), with ε = 0 free running.

    Args:
        decoder: any :class:`~recnets.core.step_decoder.StepDecoder`.
        targets: (B, T) int64, the labels y(1..T) (padding past a row's end is read but should not be scored).
        context: the decoder's per-sentence context (B rows).
        state: the decoder's state before step 0 (default ``decoder.initial_state(B, context)``).
        gold_probability: ε in [0, 1].
        rollout: k ≥ 1, the length of each run of own outputs.
        own: ``"sample"`` or ``"argmax"``.
        generator: for the coins and the draws (on the targets' device; default torch's global generator,
            which the trainer checkpoints).

    Returns:
        :class:`Fed`: logits (B, T, V), stop logits (B, T) or None, gold (B, T).

    Book: 10.2.1 (teacher forcing and its mixture with generated inputs), 10.2.3.
    """
    batch, steps = _checked_targets(decoder, targets)
    if not 0.0 <= gold_probability <= 1.0:
        raise ValueError(f"gold_probability: expected a probability in [0, 1], got {gold_probability}")
    if isinstance(rollout, bool) or not isinstance(rollout, int) or rollout < 1:
        raise ValueError(f"rollout: expected an integer >= 1, got {rollout!r}")
    if own not in OWN_CHOICES:
        raise ValueError(f"own: expected one of {', '.join(OWN_CHOICES)}, got {own!r}")
    if state is None:
        state = decoder.initial_state(batch, context)
    device = targets.device
    teacher = gold_probability >= 1.0
    ids = torch.full((batch,), decoder.start_id, dtype=torch.int64, device=device)
    all_gold = torch.ones(batch, dtype=torch.bool, device=device)
    remaining = torch.zeros(batch, dtype=torch.int64, device=device)  # own-fed steps left in each row's rollout
    logits, stops, gold = [], [], [all_gold]
    for t in range(steps):
        if t > 0:
            label = targets[:, t - 1]
            if teacher:
                ids = label
                gold.append(all_gold)
            else:
                own_ids = _own_choice(logits[-1], own, generator)
                coins = torch.rand(batch, generator=generator, device=device)  # (B,)
                starts = (remaining == 0) & (coins >= gold_probability)
                remaining = remaining.masked_fill(starts, rollout)
                from_model = remaining > 0
                remaining = (remaining - 1).clamp(min=0)
                ids = torch.where(from_model, own_ids, label)
                gold.append(~from_model)
        out = decoder.step(ids, state, context)
        logits.append(out.logits)  # (B, V)
        if out.stop_logit is not None:
            stops.append(out.stop_logit)
        state = out.state
    stop_logits = torch.stack(stops, 1) if stops else None
    return Fed(torch.stack(logits, 1), stop_logits, torch.stack(gold, 1))


class FeedingSchedule(nn.Module):
    """A :class:`FeedingConfig` with the count of training updates it has been applied in.

    ``schedule(decoder, targets, context=...)`` feeds labels only in eval mode; in training mode it feeds
    with ε_i = :func:`gold_probability` (config, i) and counts the update. Whenever ε = 1 it goes through
    :func:`feed_labels` (all steps at once where the decoder can). The count is a persistent int64
    buffer, so it is saved with the model's weights and a resumed run continues the schedule exactly.

    Book: 10.2.1.
    """

    updates: Tensor

    def __init__(self, config: FeedingConfig | None = None) -> None:
        super().__init__()
        config = config if config is not None else FeedingConfig()
        if not isinstance(config, FeedingConfig):
            raise TypeError(f"feeding: expected a FeedingConfig, got {type(config).__name__}")
        self.config = config
        self.register_buffer("updates", torch.zeros((), dtype=torch.int64))

    def probability(self) -> float:
        """ε for the next training update."""
        if self.config.mode == "teacher-forcing":
            return 1.0
        return gold_probability(self.config, int(self.updates))

    def forward(self, decoder: StepDecoder, targets: Tensor, *, context: Any = None, state: Any = None,
                generator: torch.Generator | None = None) -> Fed:
        epsilon = self.probability() if self.training else 1.0
        if self.training:
            self.updates += 1
        if epsilon >= 1.0:
            return feed_labels(decoder, targets, context=context, state=state)
        return feed_decoder(decoder, targets, context=context, state=state, gold_probability=epsilon,
                            rollout=self.config.rollout, own=self.config.own, generator=generator)

    def extra_repr(self) -> str:
        return f"{self.config}"
