"""The reservoir of an echo state network as a cell: fixed leaky-integrator tanh units, no gradients.

Book: 10.8 (echo state networks), 10.9.2 (leaky units).
"""
from __future__ import annotations

import warnings
from typing import Any

import torch
from torch import Tensor, nn

from recnets.core.cell import Cell
from recnets.core.state import Hidden
from recnets.analysis.spectrum import spectral_radius
from recnets.reservoir.weights import check_fraction, check_positive, random_matrix, reservoir_matrix

__all__ = ["ReservoirCell", "ACTIVATIONS"]

ACTIVATIONS = ("tanh", "identity")
SPARSE_BELOW = 0.3  # W with fewer nonzeros than this fraction runs as a CSR matrix


class ReservoirCell(Cell):
    """x(n) = (1 - α) x(n-1) + α tanh(W_in [1; u(n)] + W x(n-1) + W_fb y(n-1)) + ν(n), with fixed weights.

    The bias column of W_in is stored as ``b``: W_in [1; u] = b + W_in u. W is a sparse random matrix
    rescaled to a requested spectral radius (or a matrix given by the caller, used as is); every weight is a
    buffer, so nothing here is trained by gradient descent: an echo state network learns only its readout.

    Args:
        input_size: D (0 for a reservoir driven by its bias and feedback only).
        hidden_size: N, the reservoir units.
        spectral_radius: max |λ(W)| after rescaling, > 0.
        connectivity: the fraction of nonzero entries of W, in (0, 1].
        input_scaling: W_in's entries are U[-s, s].
        input_connectivity: the fraction of nonzero entries of W_in, in (0, 1].
        bias_scaling: b's entries are U[-s, s] (0: no bias).
        leak: α in (0, 1], the leaking rate (1: a plain tanh reservoir).
        feedback_size: O, the width of the fed-back output y(n-1) (0: no output feedback).
        feedback_scaling: W_fb's entries are U[-s, s].
        noise: ν(n) ~ U[-noise, noise] added to the state at every step of :meth:`run` (0: none).
        activation: ``"tanh"`` or ``"identity"`` (a linear reservoir, for memory capacity theory).
        W: an explicit (N, N) recurrent matrix, used as is (``spectral_radius``/``connectivity`` then unused;
            W_in, b and W_fb are still drawn from ``seed``, but not the same draws as without ``W``: a saved
            reservoir is restored by loading all four buffers).
        distribution: the law of W's nonzero entries before rescaling, ``"uniform"`` or ``"normal"``.
        seed: seeds W, W_in, b and W_fb.

    Buffers:
        W (N, N), W_in (N, D), b (N), W_fb (N, O).

    Shapes:
        project: us (..., D) -> px (..., N); step: px_t (B, N), ``Hidden(h (B, N))`` -> y_t = x(n) (B, N);
        run: us (B, T, D) -> states (B, T, N).

    Book: 10.8 (echo state networks: fixed recurrent weights near the edge of stability, a learned
    readout); 10.9.2 (the leaky units, α = 1/τ).
    Deviations: the book describes the plain tanh reservoir; the leaking rate, output feedback and state
    noise are those of Jaeger 2001, Jaeger & Haas 2004 and Jaeger et al. 2007. The eager ``step`` has no
    noise or feedback term (it serves the generic ``unroll``); :meth:`run` is the reservoir's own loop.
    """

    W: Tensor
    W_in: Tensor
    b: Tensor
    W_fb: Tensor

    def __init__(self, input_size: int, hidden_size: int, *, spectral_radius: float = 0.9,
                 connectivity: float = 0.1, input_scaling: float = 1.0, input_connectivity: float = 1.0,
                 bias_scaling: float = 0.0, leak: float = 1.0, feedback_size: int = 0,
                 feedback_scaling: float = 1.0, noise: float = 0.0, activation: str = "tanh",
                 W: Tensor | None = None, distribution: str = "uniform", seed: int = 0,
                 device=None, dtype=None) -> None:
        super().__init__()
        for name, value, low in (("input_size", input_size, 0), ("hidden_size", hidden_size, 1),
                                 ("feedback_size", feedback_size, 0)):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"{name}: expected an integer >= {low}, got {value!r}")
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation: expected one of {', '.join(ACTIVATIONS)}, got {activation!r}")
        self.input_size, self.hidden_size, self.feedback_size = input_size, hidden_size, feedback_size
        self.leak = check_fraction("leak", leak)
        self.noise = check_positive("noise", noise, allow_zero=True)
        self.activation = activation
        for name, value in (("input_scaling", input_scaling), ("bias_scaling", bias_scaling),
                            ("feedback_scaling", feedback_scaling)):
            check_positive(name, value, allow_zero=True)
        generator = torch.Generator().manual_seed(seed)
        if W is None:
            W = reservoir_matrix(hidden_size, spectral_radius=spectral_radius, connectivity=connectivity,
                                 distribution=distribution, generator=generator)
        elif not isinstance(W, Tensor) or tuple(W.shape) != (hidden_size, hidden_size):
            raise ValueError(f"W: expected a ({hidden_size}, {hidden_size}) tensor, "
                             f"got {tuple(W.shape) if isinstance(W, Tensor) else type(W).__name__}")
        W_in = random_matrix(hidden_size, input_size, scaling=input_scaling, connectivity=input_connectivity,
                             generator=generator)
        b = random_matrix(hidden_size, 1, scaling=bias_scaling, generator=generator)[:, 0]
        W_fb = random_matrix(hidden_size, feedback_size, scaling=feedback_scaling, generator=generator)
        factory = {"device": device, "dtype": dtype or torch.get_default_dtype()}
        for name, value in (("W", W), ("W_in", W_in), ("b", b), ("W_fb", W_fb)):
            self.register_buffer(name, value.detach().to(**factory).contiguous())
        self._operator_cache: tuple[Any, Tensor] | None = None

    # --- the cell contract ---------------------------------------------------------------------------------
    def initial_state(self, batch_size: int, *, device=None, dtype=None) -> Hidden:
        factory = {"device": device or self.W.device, "dtype": dtype or self.W.dtype}
        return Hidden(torch.zeros(batch_size, self.hidden_size, **factory))

    def project(self, xs: Tensor) -> Tensor:
        return nn.functional.linear(xs, self.W_in, self.b)  # (..., N): b + W_in u

    def step(self, px_t: Tensor, state: Hidden, context: Any = None) -> tuple[Tensor, Hidden]:
        x_prev = state.h  # (B, N)
        x = torch.lerp(x_prev, self._activate(torch.addmm(px_t, x_prev, self.W.t())), self.leak)
        return x, Hidden(x)

    # --- the reservoir's own loop ----------------------------------------------------------------------------
    def spectral_radius(self) -> float:
        """max |λ(W)| of the stored recurrent matrix."""
        return spectral_radius(self.W.double())

    @property
    def density(self) -> float:
        """The fraction of nonzero entries of W."""
        return float((self.W != 0).sum()) / self.W.numel()

    def run(self, us: Tensor, state: Hidden | None = None, *, feedback: Tensor | None = None,
            lengths: Tensor | None = None, generator: torch.Generator | None = None,
            noisy: bool = True) -> tuple[Tensor, Hidden]:
        """Drive the reservoir with a batch of input series; no gradients.

        Args:
            us: the inputs u(n), (B, T, D).
            state: x before the first step; zeros when ``None``.
            feedback: the fed-back outputs, (B, T, O): row n is y(n-1) (teacher forcing passes the targets
                shifted by one step). Required when ``feedback_size > 0``.
            lengths: (B,) real lengths of padded series: states past a series' end are 0 and the final
                state is the one at its last real step.
            generator: draws the state noise (a fresh unseeded draw when ``None`` and ``noise > 0``).
            noisy: add the state noise (a training regulariser, Jaeger & Haas 2004); ``False`` runs without it,
                as prediction and generation do.

        Returns:
            ``(states (B, T, N), Hidden(x (B, N)))``: x(1..T) and the final state.

        Book: 10.8.
        """
        us = self._check_inputs(us)
        B, T, _ = us.shape
        if state is None:
            state = self.initial_state(B, device=us.device, dtype=us.dtype)
        x = state.h
        if tuple(x.shape) != (B, self.hidden_size):
            raise ValueError(f"state: expected x of shape ({B}, {self.hidden_size}), got {tuple(x.shape)}")
        with torch.no_grad():
            px = self.project(us)  # (B, T, N)
            if self.feedback_size:
                if feedback is None:
                    raise ValueError(f"feedback: expected the fed-back outputs (B, T, {self.feedback_size}) for "
                                     f"a reservoir with feedback_size {self.feedback_size}, got None")
                if tuple(feedback.shape) != (B, T, self.feedback_size):
                    raise ValueError(f"feedback: expected shape ({B}, {T}, {self.feedback_size}), "
                                     f"got {tuple(feedback.shape)}")
                px = px + feedback.to(px.dtype) @ self.W_fb.t()  # + W_fb y(n-1)
            elif feedback is not None:
                raise ValueError("feedback: expected None for a reservoir without feedback (feedback_size 0), "
                                 f"got a tensor of shape {tuple(feedback.shape)}")
            noise = None
            if self.noise and noisy:
                noise = (torch.rand(B, T, self.hidden_size, generator=generator, dtype=px.dtype,
                                    device=px.device) * 2 - 1) * self.noise  # (B, T, N)
            states, x = self._loop(px, x, noise)
            final = Hidden(x)
            if lengths is not None:
                final = self._at_lengths(states, lengths, state)
        return states, final

    def transition(self, x: Tensor, px_t: Tensor, *, out: Tensor | None = None) -> Tensor:
        """x(n) = (1 - α) x(n-1) + α f(px_t + W x(n-1)) without checks, noise or gradients (the loops' step).

        ``x (B, N)``, ``px_t (B, N)`` = b + W_in u(n) (+ W_fb y(n-1)); written into ``out`` when given.
        """
        with torch.no_grad():
            if x.shape[0] == 1:  # one series: a matrix-vector product
                pre = self._recurrent(self._operator(), x[0], px_t[0]).unsqueeze(0)  # (1, N)
            else:
                pre = self._recurrent(self._operator(), x, px_t)  # (B, N)
            return torch.lerp(x, self._activate(pre), self.leak, out=out)

    # --- internals ---------------------------------------------------------------------------------------------
    def _activate(self, pre: Tensor) -> Tensor:
        return pre.tanh_() if self.activation == "tanh" else pre

    def _operator(self) -> Tensor:
        """W as a CSR matrix with int32 indices when it is sparse enough (cached), else the dense W."""
        key = (self.W.data_ptr(), self.W.device, self.W.dtype, self.W._version)
        if self._operator_cache is None or self._operator_cache[0] != key:
            if self.density < SPARSE_BELOW:
                with warnings.catch_warnings():  # "Sparse CSR tensor support is in beta state": we test it
                    warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta state")
                    csr = self.W.to_sparse_csr()
                    operator = torch.sparse_csr_tensor(csr.crow_indices().int(), csr.col_indices().int(),
                                                       csr.values(), csr.shape, check_invariants=False)
            else:
                operator = self.W
            self._operator_cache = (key, operator)
        return self._operator_cache[1]

    @staticmethod
    def _recurrent(operator: Tensor, x: Tensor, px_t: Tensor, *, out: Tensor | None = None) -> Tensor:
        """px_t + W x for x, px_t (N,) (one series) or (B, N) (a batch)."""
        if x.dim() == 1:  # a sparse matrix-vector product is ~3x faster than the one-column product
            return torch.addmv(px_t, operator, x, out=out)
        if operator.layout == torch.strided:
            return torch.addmm(px_t, x, operator.t(), out=out)
        return torch.add(torch.mm(operator, x.t()).t(), px_t, out=out)  # (W xᵀ)ᵀ: sparse times dense

    def _loop(self, px: Tensor, x: Tensor, noise: Tensor | None) -> tuple[Tensor, Tensor]:
        """The states x(1..T) (B, T, N) and the last state (B, N) from px (B, T, N), x(0) (B, N) and ν (B, T, N).

        Three operations a step, into buffers allocated once: pre = px_t + W x (:meth:`_recurrent`), f(pre) in
        place, and the leaky mix written straight into the states. One series runs on vectors (for the
        matrix-vector product). Against a loop over :meth:`transition` at N = 1000 (measured): 1.65-1.8x faster
        for one series, about the same speed for batches of 8-64 (docs/benchmarks.md, "Reservoirs").
        """
        B, T, N = px.shape
        states = torch.empty_like(px)  # (B, T, N)
        if B == 1:  # one series runs on vectors (N,)
            px_steps, state_steps, x = px[0].unbind(0), states[0].unbind(0), x[0]
            noise_steps = [None] * T if noise is None else noise[0].unbind(0)
        else:  # (B, N) views of each step
            px_steps, state_steps = px.unbind(1), states.unbind(1)
            noise_steps = [None] * T if noise is None else noise.unbind(1)
        pre = px.new_empty(x.shape)  # (N,) or (B, N)
        operator, leak, recurrent, activate = self._operator(), self.leak, self._recurrent, self._activate
        for px_t, out, noise_t in zip(px_steps, state_steps, noise_steps):
            x = torch.lerp(x, activate(recurrent(operator, x, px_t, out=pre)), leak, out=out)
            if noise_t is not None:
                x.add_(noise_t)
        return states, x.reshape(B, N).clone()  # (B, T, N), (B, N)

    def _check_inputs(self, us: Tensor) -> Tensor:
        if not isinstance(us, Tensor) or us.dim() != 3 or us.shape[2] != self.input_size:
            raise ValueError(f"us: expected a tensor of shape (B, T, {self.input_size}), "
                             f"got {tuple(us.shape) if isinstance(us, Tensor) else type(us).__name__}")
        if not us.dtype.is_floating_point:
            raise ValueError(f"us: expected a floating-point tensor, got {us.dtype}")
        if not bool(torch.isfinite(us).all()):
            where = torch.nonzero(~torch.isfinite(us))[0].tolist()
            raise ValueError(f"us: expected finite values, got {us[tuple(where)].item()} at index {tuple(where)}")
        return us.to(self.W.dtype)

    @staticmethod
    def _at_lengths(states: Tensor, lengths: Tensor, start: Hidden) -> Hidden:
        B, T, _ = states.shape
        lengths = torch.as_tensor(lengths, device=states.device)
        if tuple(lengths.shape) != (B,) or bool((lengths < 0).any()) or bool((lengths > T).any()):
            raise ValueError(f"lengths: expected {B} integers in [0, {T}], got {lengths.tolist()}")
        steps = torch.arange(T, device=states.device)
        states.mul_((steps[None, :] < lengths[:, None]).unsqueeze(-1).to(states.dtype))  # zero past each end
        last = states[torch.arange(B, device=states.device), (lengths - 1).clamp(min=0)]  # (B, N)
        return Hidden(torch.where((lengths > 0)[:, None], last, start.h))

    def extra_repr(self) -> str:
        return (f"input_size={self.input_size}, hidden_size={self.hidden_size}, leak={self.leak}, "
                f"feedback_size={self.feedback_size}, noise={self.noise}, activation={self.activation!r}")
