"""A language model with an output at every step, seen as a step decoder that continues a prompt.

Book: 10.2.3 (a recurrent language model is a directed graphical model sampled symbol by symbol).
"""
from __future__ import annotations

from typing import Any, Sequence

import torch
from torch import Tensor

from recnets.core.step_decoder import DecoderStep, StepDecoder
from recnets.nets.patterns import OutputEveryStep

__all__ = ["LanguageModelDecoder"]


class LanguageModelDecoder(StepDecoder):
    """Pattern (a) with a vocabulary as a :class:`~recnets.core.step_decoder.StepDecoder`.

    The last prompt id is the first input y(0); the ids before it are read by ``initial_state`` in one call
    ``model(ids (B, P-1))`` (the fused kernel when the cell has one). The model has no stop output: it ends by
    an end symbol (the searches' ``end_id``) or at the maximum length.

    Args:
        model: an :class:`~recnets.nets.patterns.OutputEveryStep` with ``vocab_size`` (token ids in).
        prompt_ids: (P,) ids, P >= 1, e.g. ``[eos]`` to start a new document.

    Shapes:
        step: ids_t (B,) -> logits (B, V).

    Book: 10.2.3.
    """

    prompt: Tensor

    def __init__(self, model: OutputEveryStep, prompt_ids: Sequence[int] | Tensor) -> None:
        super().__init__()
        if getattr(model, "embedding", None) is None:
            raise ValueError("model: expected an OutputEveryStep with a vocabulary (token ids in), got one "
                             "reading real vectors")
        parameter = next(model.parameters())
        prompt = torch.as_tensor(prompt_ids, dtype=torch.int64).reshape(-1)  # (P,)
        if prompt.numel() == 0:
            raise ValueError("prompt_ids: expected at least one id, got an empty prompt")
        self.model = model
        self.vocab_size = model.readout.V.shape[0]
        self.start_id = int(prompt[-1])
        self.register_buffer("prompt", prompt[:-1].to(parameter.device), persistent=False)

    def initial_state(self, batch_size: int, context: Any = None) -> Any:
        if context is not None:
            raise ValueError(f"context: expected None for a language model without conditioning, "
                             f"got {type(context).__name__}")
        if self.prompt.numel() == 0:
            return self.model.initial_state(batch_size)
        _, state = self.model(self.prompt.unsqueeze(0).expand(batch_size, -1).contiguous())  # reads (B, P-1)
        return state

    def step(self, ids_t: Tensor, state: Any, context: Any = None) -> DecoderStep:
        logits, state = self.model.step(ids_t, state)  # (B, V)
        return DecoderStep(logits, None, state)
