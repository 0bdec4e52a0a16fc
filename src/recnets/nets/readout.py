"""The output layer o(t) = c + V h(t) and the optional token embedding shared by the design patterns.

Book: 10.2, eq. 10.8 (o = c + V h, ŷ = softmax(o)).
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from recnets.cells._init import check_sizes, uniform_parameter

__all__ = ["Readout", "embed_inputs"]


class Readout(nn.Module):
    """o = c + V h: ``(..., H) -> (..., O)``.

    Parameters:
        V (O, H), c (O).

    Book: 10.2, eq. 10.8.
    """

    V: Tensor
    c: Tensor

    def __init__(self, hidden_size: int, output_size: int, *, device=None, dtype=None) -> None:
        super().__init__()
        check_sizes(hidden_size=hidden_size, output_size=output_size)
        factory = {"hidden_size": hidden_size, "device": device, "dtype": dtype}
        self.V = uniform_parameter(output_size, hidden_size, **factory)
        self.c = uniform_parameter(output_size, **factory)

    def forward(self, h: Tensor) -> Tensor:
        return nn.functional.linear(h, self.V, self.c)


def embed_inputs(embedding: nn.Embedding | None, inputs: Tensor, input_size: int) -> Tensor:
    """Token ids ``(B, T)`` through ``embedding``, or real inputs ``(B, T, D)`` checked and passed on.

    An embedding row is U applied to a one-hot x(t): the book's input-to-hidden product on a symbol.
    """
    if embedding is not None:
        if inputs.dtype.is_floating_point or inputs.dim() != 2:
            raise ValueError(f"inputs: expected token ids of shape (B, T) and an integer dtype, "
                             f"got shape {tuple(inputs.shape)} dtype {inputs.dtype}")
        vocab = embedding.num_embeddings
        # checked on CPU only: on a GPU the check would stall the host every step (the embedding's own
        # index check reports an out-of-range id there)
        if inputs.device.type == "cpu" and inputs.numel() and (int(inputs.min()) < 0 or int(inputs.max()) >= vocab):
            raise ValueError(f"inputs: expected token ids in [0, {vocab}), got values in "
                             f"[{int(inputs.min())}, {int(inputs.max())}]")
        return embedding(inputs)  # (B, T, D)
    if not inputs.dtype.is_floating_point or inputs.dim() != 3 or inputs.shape[-1] != input_size:
        raise ValueError(f"inputs: expected real vectors of shape (B, T, {input_size}), "
                         f"got shape {tuple(inputs.shape)} dtype {inputs.dtype}")
    # the user's data enters here; checked on CPU only (on a GPU the check would stall the host every step,
    # and the trainer reports a non-finite loss instead). One reduction; the exact test only if it flags.
    if inputs.device.type == "cpu" and not bool(torch.isfinite(inputs.sum())) and not bool(torch.isfinite(inputs).all()):
        raise ValueError("inputs: expected finite values, got NaN or Inf")
    return inputs
