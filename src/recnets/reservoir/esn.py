"""An echo state network: a fixed reservoir and a linear readout fitted in closed form.

Book: 10.8 (echo state networks and liquid state machines: reservoir computing).
"""
from __future__ import annotations

from typing import NamedTuple, Sequence

import torch
from torch import Tensor, nn

from recnets.core.state import Hidden
from recnets.reservoir.cell import ReservoirCell
from recnets.reservoir.readout import QRRidgeAccumulator, RidgeAccumulator, RLSReadout

__all__ = ["EchoStateNetwork", "ESNState", "FitReport", "SOLVERS"]

SOLVERS = {"normal": RidgeAccumulator, "qr": QRRidgeAccumulator}  # fit(solver=...): the readout's statistics


class ESNState(NamedTuple):
    """The state of an echo state network between calls: x (B, N) the reservoir, y (B, O) its last output
    (fed back through W_fb, and as the next input in closed-loop generation)."""

    x: Tensor
    y: Tensor


class FitReport(NamedTuple):
    """What :meth:`EchoStateNetwork.fit` did: the ridge used, the training NRMSE (teacher-forced, after the
    washout), every grid ridge's validation NRMSE (empty without a grid), the rows regressed, and the state
    after the last training step (to continue from, e.g. into closed-loop generation)."""

    ridge: float
    train_nrmse: float
    validation: dict[float, float]
    rows: int
    state: ESNState


class EchoStateNetwork(nn.Module):
    """y(n) = W_out [1; u(n); x(n)], with x(n) from a fixed :class:`ReservoirCell`; only W_out is learned.

    Args:
        reservoir: the reservoir (input size D, N units, optional output feedback of width O).
        output_size: O.
        input_in_readout: include u(n) in the readout's features (Jaeger's [1; u; x]); else [1; x].

    Buffers:
        W_out (O, F) with F = 1 + D + N (or 1 + N).

    Shapes:
        us (B, T, D), targets (B, T, O), outputs (B, T, O); a single series may be given as (T, D) / (T, O).

    Book: 10.8.
    """

    W_out: Tensor

    def __init__(self, reservoir: ReservoirCell, output_size: int, *, input_in_readout: bool = True) -> None:
        super().__init__()
        if not isinstance(reservoir, ReservoirCell):
            raise TypeError(f"reservoir: expected a ReservoirCell, got {type(reservoir).__name__}")
        if isinstance(output_size, bool) or not isinstance(output_size, int) or output_size < 1:
            raise ValueError(f"output_size: expected an integer >= 1, got {output_size!r}")
        if reservoir.feedback_size not in (0, output_size):
            raise ValueError(f"reservoir: expected feedback_size 0 or output_size ({output_size}), "
                             f"got {reservoir.feedback_size}")
        self.reservoir, self.output_size, self.input_in_readout = reservoir, output_size, input_in_readout
        features = 1 + (reservoir.input_size if input_in_readout else 0) + reservoir.hidden_size
        self.register_buffer("W_out", torch.zeros(output_size, features, dtype=reservoir.W.dtype,
                                                  device=reservoir.W.device))

    @property
    def feature_size(self) -> int:
        """F, the width of the readout's feature rows."""
        return self.W_out.shape[1]

    def initial_state(self, batch_size: int) -> ESNState:
        x = self.reservoir.initial_state(batch_size)
        return ESNState(x.h, torch.zeros(batch_size, self.output_size, dtype=x.h.dtype, device=x.h.device))

    def features(self, us: Tensor, states: Tensor) -> Tensor:
        """[1; u(n); x(n)] for every step: us (B, T, D), states (B, T, N) -> (B, T, F)."""
        ones = torch.ones(*states.shape[:-1], 1, dtype=states.dtype, device=states.device)
        parts = [ones, us.to(states.dtype), states] if self.input_in_readout else [ones, states]
        return torch.cat(parts, -1)

    def readout(self, us: Tensor, states: Tensor) -> Tensor:
        """W_out [1; u; x]: (B, T, O)."""
        return self.features(us, states) @ self.W_out.t()

    # --- training ----------------------------------------------------------------------------------------------
    def fit(self, us: Tensor, targets: Tensor, *, washout: int = 0, ridge: float | Sequence[float] = 1e-7,
            validation_steps: int = 0, chunk_size: int = 4096, state: ESNState | None = None,
            generator: torch.Generator | None = None, solver: str = "normal") -> FitReport:
        """Teacher-forced training of W_out by ridge regression, in chunks of time (memory independent of T).

        The reservoir runs over the series chunk by chunk (with output feedback, the targets shifted by one
        step are fed back: teacher forcing); each chunk's feature rows after the washout are added to the
        normal equations' statistics, then W_out is solved in closed form.

        Args:
            us: inputs (B, T, D) or (T, D); targets: (B, T, O) or (T, O).
            washout: initial steps of every series left out of the regression (the transient from x(0)).
            ridge: one ridge λ, or a grid: then each λ is scored on the last ``validation_steps`` steps of
                the series by a readout fitted on the steps before them, the best is kept and W_out is
                refitted on all steps with it (with the next larger ridge of the grid if that system is
                numerically singular; the report gives the ridge used).
            validation_steps: how many final steps validate the grid (required with a grid).
            chunk_size: steps per chunk.
            state: the state before the first step (zeros when ``None``).
            generator: draws the reservoir's state noise.
            solver: ``"normal"``: the normal equations (:class:`RidgeAccumulator`, fast); ``"qr"``: a
                triangular factor of X (:class:`QRRidgeAccumulator`), for ridges too small for the normal
                equations (they square X's condition number).

        Returns:
            a :class:`FitReport`.

        Book: 10.8 (the readout learned by linear regression), 10.2.1 (teacher forcing of output feedback).
        """
        us, targets = self._as_batch(us, "us"), self._as_batch(targets, "targets")
        B, T, _ = us.shape
        if tuple(targets.shape) != (B, T, self.output_size):
            raise ValueError(f"targets: expected shape ({B}, {T}, {self.output_size}) to match us, "
                             f"got {tuple(targets.shape)}")
        if isinstance(washout, bool) or not isinstance(washout, int) or washout < 0:
            raise ValueError(f"washout: expected an integer >= 0, got {washout!r}")
        grid = [float(ridge)] if isinstance(ridge, (int, float)) and not isinstance(ridge, bool) else list(ridge)
        if len(grid) > 1 and not (isinstance(validation_steps, int) and validation_steps > 0):
            raise ValueError(f"validation_steps: expected an integer > 0 to choose among {len(grid)} ridges, "
                             f"got {validation_steps!r}")
        if T <= washout + validation_steps:
            raise ValueError(f"us: expected more than washout + validation_steps ({washout + validation_steps}) "
                             f"steps, got {T}")
        if not bool(torch.isfinite(targets).all()):
            raise ValueError("targets: expected finite values, got NaN or inf")
        if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
            raise ValueError(f"chunk_size: expected an integer >= 1, got {chunk_size!r}")
        state = state if state is not None else self.initial_state(B)
        if solver not in SOLVERS:
            raise ValueError(f"solver: expected one of {', '.join(SOLVERS)}, got {solver!r}")
        training = SOLVERS[solver](self.feature_size, self.output_size, device=us.device)
        held_out = SOLVERS[solver](self.feature_size, self.output_size, device=us.device)
        split = T - validation_steps if len(grid) > 1 else T
        for start in range(0, T, chunk_size):
            stop = min(start + chunk_size, T)
            states, state = self._teacher_forced(us[:, start:stop], targets[:, start:stop], state, generator)
            X = self.features(us[:, start:stop], states)  # (B, t, F)
            for accumulator, low, high in ((training, washout, split), (held_out, split, T)):
                low, high = max(low, start), min(high, stop)
                if low < high:
                    accumulator.add(X[:, low - start:high - start], targets[:, low:high])
        validation: dict[float, float] = {}
        if len(grid) > 1:
            chosen, validation = training.choose_ridge(held_out, grid)
            training.merge(held_out)
        else:
            chosen = grid[0]
        larger = sorted(ridge for ridge in grid if ridge > chosen)
        while True:  # the refit on more rows can sit at the edge of singularity: then the next larger ridge
            try:
                W_out = training.solve(chosen)
                break
            except ValueError:
                if not larger:
                    raise
                chosen = larger.pop(0)
        self.W_out.copy_(W_out.to(self.W_out))
        return FitReport(chosen, training.nrmse(W_out), validation, training.count, state)

    def _teacher_forced(self, us: Tensor, targets: Tensor, state: ESNState, generator: torch.Generator | None,
                        *, noisy: bool = True) -> tuple[Tensor, ESNState]:
        """Run the reservoir over a chunk, feeding back the targets shifted by one step."""
        feedback = None
        if self.reservoir.feedback_size:
            feedback = torch.cat([state.y[:, None].to(targets.dtype), targets[:, :-1]], 1)  # (B, t, O): y(n-1)
        states, final = self.reservoir.run(us, Hidden(state.x), feedback=feedback, generator=generator, noisy=noisy)
        return states, ESNState(final.h, targets[:, -1].to(final.h.dtype))

    def fit_online(self, us: Tensor, targets: Tensor, *, washout: int = 0, alpha: float = 1.0,
                   forgetting: float = 1.0, state: ESNState | None = None) -> tuple[Tensor, ESNState]:
        """FORCE learning (Sussillo & Abbott 2009): W_out updated by recursive least squares at every step
        while the network runs on its own output.

        At each step after the washout the output z(n) = W_out [1; u(n); x(n)] is computed with the current
        weights, its error z(n) - y(n) drives one :class:`RLSReadout` update, and z(n) (not the target) is what
        the output feedback carries into the next step, so the network learns in the closed loop it will run
        in. During the washout W_out is not updated and the target is fed back (teacher forcing). Without
        output feedback this is online ridge regression: W_out then equals the closed-form ridge solution with
        ridge ``alpha`` on the same rows.

        Args:
            us: one series' inputs (T, D) (or (1, T, D)); targets: (T, O).
            washout: initial steps without updates.
            alpha: P(0) = I / alpha, the ridge of the equivalent regression.
            forgetting: RLS forgetting factor in (0, 1].
            state: the state before the first step.

        Returns:
            ``(errors (T - washout, O), state)``: each step's error before its update, and the final state.

        Book: 10.8 (learning only the readout), online.
        """
        us, targets = self._as_batch(us, "us"), self._as_batch(targets, "targets")
        if us.shape[0] != 1 or tuple(targets.shape) != (1, us.shape[1], self.output_size):
            raise ValueError(f"us, targets: expected one series (T, D) and (T, {self.output_size}), got "
                             f"{tuple(us.shape)} and {tuple(targets.shape)}")
        T = us.shape[1]
        if isinstance(washout, bool) or not isinstance(washout, int) or not 0 <= washout < T:
            raise ValueError(f"washout: expected an integer in [0, {T}), got {washout!r}")
        reservoir = self.reservoir
        readout = RLSReadout(self.feature_size, self.output_size, alpha=alpha, forgetting=forgetting,
                             dtype=self.W_out.dtype, device=self.W_out.device)
        state = state if state is not None else self.initial_state(1)
        x, y = state.x, state.y  # (1, N), (1, O)
        px_all = reservoir.project(us)  # (1, T, N)
        errors = []
        with torch.no_grad():
            for n in range(T):
                px = px_all[:, n] + y @ reservoir.W_fb.t() if reservoir.feedback_size else px_all[:, n]
                x = reservoir.transition(x, px)
                features = self.features(us[:, n], x)[0]  # (F,)
                if n < washout:
                    y = targets[:, n]
                    continue
                errors.append(readout.update(features, targets[0, n]))  # before the update: z(n) - y(n)
                y = (errors[-1] + targets[0, n])[None]  # z(n), the network's own output
        self.W_out.copy_(readout.W)
        return torch.stack(errors), ESNState(x, y)

    # --- prediction and generation --------------------------------------------------------------------------
    def predict(self, us: Tensor, state: ESNState | None = None, *,
                teacher: Tensor | None = None) -> tuple[Tensor, ESNState]:
        """Outputs for given inputs: open loop on u. With output feedback, the fed-back y(n-1) is ``teacher``
        shifted by one step when given (teacher forcing), else the network's own previous output.

        The reservoir's state noise, a training regulariser, is not added (as in :meth:`generate`).
        The returned state's y is what the next step would feed back: the teacher's last value under teacher
        forcing (as after :meth:`fit`, so that generation continues from the truth), else the last output.

        Returns:
            ``(outputs (B, T, O), state)`` (a single (T, D) series gives (T, O) outputs).
        """
        single = us.dim() == 2
        us = self._as_batch(us, "us")
        B, T, _ = us.shape
        state = state if state is not None else self.initial_state(B)
        if teacher is not None or not self.reservoir.feedback_size:
            if teacher is not None:
                teacher = self._as_batch(teacher, "teacher")
                if tuple(teacher.shape) != (B, T, self.output_size):
                    raise ValueError(f"teacher: expected shape ({B}, {T}, {self.output_size}), got "
                                     f"{tuple(teacher.shape)}")
                states, state = self._teacher_forced(us, teacher, state, None, noisy=False)  # y: teacher's last
                outputs = self.readout(us, states)  # (B, T, O)
            else:
                states, final = self.reservoir.run(us, Hidden(state.x), noisy=False)
                outputs = self.readout(us, states)  # (B, T, O)
                state = ESNState(final.h, outputs[:, -1])
        else:
            outputs, state = self._closed_loop(T, state, us)
        return (outputs[0] if single else outputs), state

    def generate(self, steps: int, state: ESNState, *, inputs: Tensor | None = None) -> tuple[Tensor, ESNState]:
        """Closed-loop generation for ``steps`` steps from ``state``: the output y(n-1) is fed back through
        W_fb (when the reservoir has feedback), and is also the next input u(n) when no ``inputs`` are given
        and D = O (one-step-ahead predictors run autonomously). A reservoir with D = 0 needs no input.

        Returns:
            ``(outputs (B, steps, O), state)``.

        Book: 10.2.3 (a model that generates its own next input), 10.8.
        """
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
            raise ValueError(f"steps: expected an integer >= 1, got {steps!r}")
        D = self.reservoir.input_size
        if inputs is not None:
            inputs = self._as_batch(inputs, "inputs")
            if tuple(inputs.shape[1:]) != (steps, D):
                raise ValueError(f"inputs: expected shape (B, {steps}, {D}), got {tuple(inputs.shape)}")
        elif D not in (0, self.output_size):
            raise ValueError(f"inputs: expected the (B, {steps}, {D}) inputs of a reservoir whose input size {D} "
                             f"is neither 0 nor the output size {self.output_size}, got None")
        return self._closed_loop(steps, state, inputs)

    def _closed_loop(self, steps: int, state: ESNState, inputs: Tensor | None) -> tuple[Tensor, ESNState]:
        reservoir, D = self.reservoir, self.reservoir.input_size
        x, y = state.x, state.y  # (B, N), (B, O)
        B = x.shape[0]
        outputs = torch.empty(B, steps, self.output_size, dtype=x.dtype, device=x.device)
        empty = x.new_zeros(B, 0)
        with torch.no_grad():
            for n in range(steps):
                u = inputs[:, n].to(x.dtype) if inputs is not None else (empty if D == 0 else y)  # (B, D)
                px = reservoir.project(u)  # (B, N)
                if reservoir.feedback_size:
                    px = px + y @ reservoir.W_fb.t()
                x = reservoir.transition(x, px)
                y = torch.cat([x.new_ones(B, 1), u, x] if self.input_in_readout else [x.new_ones(B, 1), x],
                              -1) @ self.W_out.t()  # (B, O)
                outputs[:, n] = y
        return outputs, ESNState(x, y)

    def _as_batch(self, series: Tensor, name: str) -> Tensor:
        if not isinstance(series, Tensor) or series.dim() not in (2, 3):
            raise ValueError(f"{name}: expected a tensor (B, T, width) or (T, width), "
                             f"got {tuple(series.shape) if isinstance(series, Tensor) else type(series).__name__}")
        series = series if series.dim() == 3 else series.unsqueeze(0)
        return series.to(self.W_out.dtype)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}, features={self.feature_size}"
