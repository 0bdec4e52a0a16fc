"""Leaky units: a per-unit running average of a tanh RNN's candidate state, with time constants τ >= 1.

Book: 10.9.2 (leaky units and a spectrum of time scales: μ(t) ← α μ(t-1) + (1 - α) v(t)).
"""
from __future__ import annotations

from typing import Any, Sequence

import torch
from torch import Tensor, nn

from recnets.cells._init import check_sizes, uniform_parameter
from recnets.core.bptt_elman import mixed_elman_sequence
from recnets.core.bptt_kernels import BPTTKernel, float_step_masks, register_bptt, time_major_projection
from recnets.core.cell import Cell
from recnets.core.state import Hidden

__all__ = ["LeakyCell", "geometric_time_constants"]


def geometric_time_constants(hidden_size: int, *, largest: float = 10.0) -> list[float]:
    """``hidden_size`` time constants spaced geometrically from 1 to ``largest`` (one unit: just 1).

    A spectrum of time scales, from a unit that forgets at every step (τ = 1) to one that averages over
    about ``largest`` steps.

    Book: 10.9.2 (multiple time scales).
    """
    check_sizes(hidden_size=hidden_size)
    if isinstance(largest, bool) or not isinstance(largest, (int, float)) or not largest >= 1.0:
        raise ValueError(f"largest: expected a time constant >= 1, got {largest!r}")
    if hidden_size == 1:
        return [1.0]
    return [float(largest) ** (i / (hidden_size - 1)) for i in range(hidden_size)]


class LeakyCell(Cell):
    """h(t) = (1 - 1/τ) ⊙ h(t-1) + (1/τ) ⊙ tanh(b + W h(t-1) + U x(t)), one τ per unit.

    With α = 1 - 1/τ this is the book's running average μ(t) = α μ(t-1) + (1 - α) v(t) of the candidate
    v(t) = tanh(b + W h(t-1) + U x(t)). τ = 1 is the plain tanh RNN of eq. 10.8; a unit with τ ≫ 1 keeps
    its value over about τ steps, so the gradient through it decays like (1 - 1/τ)^k instead of vanishing.

    Args:
        input_size: D.
        hidden_size: H.
        tau: the time constants: one number for every unit or H numbers, each >= 1; default
            :func:`geometric_time_constants` (1 to 10).
        learn_tau: learn τ by gradient descent. τ is then parametrised as τ = 1 + softplus(ρ), which keeps
            it > 1 whatever the update, and every initial τ must be > 1 (τ = 1 needs ρ = -∞).

    Parameters:
        U (H, D), W (H, H), b (H); ``rho`` (H) when ``learn_tau`` (else the buffer ``tau_fixed`` (H)).
        The property ``tau`` (H) gives the current time constants, ``alpha`` (H) = 1 - 1/τ.

    Shapes:
        step: px_t (B, H), ``Hidden(h (B, H))`` -> y_t = h(t) (B, H).

    Book: 10.9.2.
    Deviations: the book gives the running average for a fixed α; the time constant is the Elman cell's
    candidate, as in leaky-integrator networks (Jaeger et al. 2007; Mozer 1992).
    """

    U: Tensor
    W: Tensor
    b: Tensor

    def __init__(self, input_size: int, hidden_size: int, *, tau: float | Sequence[float] | Tensor | None = None,
                 learn_tau: bool = False, device=None, dtype=None) -> None:
        super().__init__()
        check_sizes(input_size=input_size, hidden_size=hidden_size)
        if not isinstance(learn_tau, bool):
            raise TypeError(f"learn_tau: expected a bool, got {type(learn_tau).__name__}")
        self.input_size, self.hidden_size = input_size, hidden_size
        self.learn_tau = learn_tau
        factory = {"hidden_size": hidden_size, "device": device, "dtype": dtype}
        self.U = uniform_parameter(hidden_size, input_size, **factory)
        self.W = uniform_parameter(hidden_size, hidden_size, **factory)
        self.b = uniform_parameter(hidden_size, **factory)
        values = _time_constants(tau, hidden_size)  # (H,) float64 on CPU, validated
        if learn_tau:
            if float(values.min()) <= 1.0:
                raise ValueError(f"tau: expected every time constant > 1 when learn_tau (τ = 1 + softplus(ρ)), "
                                 f"got {float(values.min())!r}")
            rho = values - 1.0 + torch.log(-torch.expm1(-(values - 1.0)))  # softplus⁻¹(τ - 1)
            self.rho = nn.Parameter(rho.to(device=device, dtype=dtype or torch.get_default_dtype()))
        else:
            self.register_buffer("tau_fixed", values.to(device=device, dtype=dtype or torch.get_default_dtype()))

    @property
    def tau(self) -> Tensor:
        """The time constants τ (H), each >= 1."""
        if self.learn_tau:
            return 1.0 + nn.functional.softplus(self.rho)
        return self.tau_fixed

    @property
    def alpha(self) -> Tensor:
        """α = 1 - 1/τ (H): the weight of the past in the book's running average."""
        return 1.0 - 1.0 / self.tau

    def initial_state(self, batch_size: int, *, device=None, dtype=None) -> Hidden:
        return Hidden(torch.zeros(batch_size, self.hidden_size, **self._default_factory(device, dtype)))

    def project(self, xs: Tensor) -> Tensor:
        return nn.functional.linear(xs, self.U, self.b)  # (..., H): b + U x

    def step(self, px_t: Tensor, state: Hidden, context: Any = None) -> tuple[Tensor, Hidden]:
        h_prev = state.h  # (B, H)
        candidate = torch.tanh(torch.addmm(px_t, h_prev, self.W.t()))  # (B, H): tanh(b + U x + W h)
        h = h_prev + (candidate - h_prev) / self.tau  # (1 - 1/τ) h(t-1) + (1/τ) candidate
        return h, Hidden(h)


def _time_constants(tau: float | Sequence[float] | Tensor | None, hidden_size: int) -> Tensor:
    """τ as a validated (H,) float64 tensor."""
    if tau is None:
        return torch.tensor(geometric_time_constants(hidden_size), dtype=torch.float64)
    if isinstance(tau, bool):
        raise TypeError(f"tau: expected a number, a sequence of {hidden_size} numbers or a tensor, got bool")
    try:
        values = torch.as_tensor(tau.detach().cpu() if isinstance(tau, Tensor) else tau, dtype=torch.float64)
    except (TypeError, ValueError, RuntimeError):
        raise TypeError(f"tau: expected a number, a sequence of {hidden_size} numbers or a tensor, "
                        f"got {type(tau).__name__}") from None
    if values.dim() == 0:
        values = values.expand(hidden_size).clone()
    if values.shape != (hidden_size,):
        raise ValueError(f"tau: expected one value or {hidden_size} values (one per unit), got shape "
                         f"{tuple(values.shape)}")
    if not bool(torch.isfinite(values).all()) or float(values.min()) < 1.0:
        raise ValueError(f"tau: expected every time constant finite and >= 1, got minimum {float(values.min())!r}")
    return values




def _bptt_run(cell: LeakyCell, xs: Tensor, state: Hidden, lengths: Tensor | None) -> tuple[Tensor, Hidden]:
    """The whole recurrence as one autograd Function (``recnets.core.bptt_elman``) with λ = 1/τ."""
    masks = float_step_masks(lengths, xs.shape[1], xs.dtype)  # (T, B, 1) or None
    mix = 1.0 / cell.tau  # (H,): differentiable when τ is learned
    if masks is not None:
        mix = mix * masks  # (T, B, H): 0 past each length carries the state
    ys, h = mixed_elman_sequence(time_major_projection(cell, xs), cell.W, state.h, mix, masks)  # (T, B, H)
    return ys.transpose(0, 1), Hidden(h)


register_bptt(LeakyCell, lambda cell: BPTTKernel(_bptt_run))
