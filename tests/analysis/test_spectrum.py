"""Eigenvalues, spectral radius and Jacobian products against closed forms (Book 10.7, eqs. 10.36-10.39)."""
from __future__ import annotations

import json
import math
from types import SimpleNamespace

import pytest
import torch

from conftest import assert_exact
from linear_cell import LinearCell, symmetric
from recnets.analysis import (SpectrumTracker, eigenvalues, jacobian_singular_values, read_spectrum_history,
                              recorded_unroll, recurrent_blocks, spectral_radius)
from recnets.cells import BookGRUCell, ElmanCell, GRUCell, LSTMCell
from recnets.core import Hidden, unroll
from recnets.nets import OutputEveryStep

F64 = {"dtype": torch.float64}
LAMBDA = [1.05, -0.9, 0.6, 0.3]  # one exploding, one oscillating, two vanishing directions


def test_linear_recurrence_is_q_lambda_to_the_t_q_transposed():
    """h(t) = W^t h(0) = Q Λ^t Qᵀ h(0) (eqs. 10.37-10.39), and ∂h(t)/∂h(0) = Q Λ^t Qᵀ with σ = |λ|^t."""
    W, Q, lam = symmetric(LAMBDA)
    cell = LinearCell(1, 4, W)
    with torch.no_grad():
        cell.U.zero_(), cell.b.zero_()
    steps, h0 = 12, torch.randn(2, 4, **F64)
    hs, _, records = recorded_unroll(cell, torch.zeros(2, steps, 1, **F64), Hidden(h0))
    for t in range(1, steps + 1):
        closed = Q @ torch.diag(lam ** t) @ Q.t()  # (H, H)
        assert_exact(hs[:, t - 1], h0 @ closed.t())
    spectrum = jacobian_singular_values(cell, records, keep_products=True)
    assert spectrum.lags.tolist() == list(range(1, steps + 1))
    for index, k in enumerate(spectrum.lags.tolist()):
        closed = Q @ torch.diag(lam ** k) @ Q.t()
        assert_exact(spectrum.products[:, index], closed.expand(2, 4, 4))
        sigma = torch.sort(lam.abs() ** k, descending=True).values
        assert_exact(spectrum.singular_values[:, index], sigma.expand(2, 4), tol=1e-10 * max(1.0, float(sigma[0])))
    assert_exact(eigenvalues(W).real, torch.tensor(LAMBDA, **F64))
    assert_exact(eigenvalues(W).imag, torch.zeros(4, **F64))
    assert abs(spectral_radius(W) - 1.05) < 1e-12


def test_eigenvalues_of_a_scaled_rotation_are_complex_conjugates_on_a_circle():
    r, theta = 0.8, 0.7
    W = r * torch.tensor([[math.cos(theta), -math.sin(theta)], [math.sin(theta), math.cos(theta)]], **F64)
    values = eigenvalues(W)
    assert_exact(values.abs(), torch.full((2,), r, **F64))
    assert abs(abs(float(values[0].imag)) - r * math.sin(theta)) < 1e-12
    assert abs(float(values[0].imag + values[1].imag)) < 1e-12
    assert abs(spectral_radius(W) - r) < 1e-12
    with pytest.raises(ValueError, match=r"W: expected a square matrix \(H, H\), got \(2, 3\)"):
        eigenvalues(torch.zeros(2, 3))


def test_tanh_jacobian_products_are_diag_w_products():
    """∂h(τ)/∂h(τ-k) = Π_{j} diag(1 - h(j)²) W over the last k steps (eq. 10.36 with the tanh factor)."""
    cell = ElmanCell(3, 4, **F64)
    with torch.no_grad():
        cell.W.mul_(2.5)
    xs = torch.randn(2, 6, 3, **F64)
    hs, _, records = recorded_unroll(cell, xs)
    spectrum = jacobian_singular_values(cell, records, lags=[1, 3, 6], keep_products=True)
    W = cell.W.detach()
    for index, k in enumerate([1, 3, 6]):
        for b in range(2):
            product = torch.eye(4, **F64)
            for t in range(6 - 1, 6 - 1 - k, -1):  # from τ back
                product = product @ (torch.diag(1 - hs[b, t].detach() ** 2) @ W)
            assert_exact(spectrum.products[b, index], product)
            assert_exact(spectrum.singular_values[b, index], torch.linalg.svdvals(product))


def test_lstm_jacobian_block_counts_the_paths_through_the_cell_state():
    """∂h(τ)/∂h(τ-k) with c(τ-k) held: against torch.autograd.functional.jacobian of k steps, float64."""
    cell = LSTMCell(2, 3, **F64)
    xs = torch.randn(2, 5, 2, **F64)
    _, _, records = recorded_unroll(cell, xs)
    spectrum = jacobian_singular_values(cell, records, lags=[2, 5], keep_products=True)
    for index, k in enumerate([2, 5]):
        start = records[5 - k].state
        for b in range(2):
            def forward(h_start, b=b, start=start, k=k):
                state = type(start)(h_start.unsqueeze(0), start.c[b:b + 1])
                for t in range(5 - k, 5):
                    _, state = cell(xs[b:b + 1, t], state)
                return state.h[0]
            expected = torch.autograd.functional.jacobian(forward, start.h[b].detach())
            assert_exact(spectrum.products[b, index], expected)


def test_jacobian_lags_are_checked():
    cell = ElmanCell(2, 3, **F64)
    _, _, records = recorded_unroll(cell, torch.randn(1, 4, 2, **F64))
    with pytest.raises(ValueError, match=r"lags: expected lags in \[1, 4\], got \[0, 2\]"):
        jacobian_singular_values(cell, records, lags=[2, 0])
    with pytest.raises(ValueError, match="lags"):
        jacobian_singular_values(cell, records, lags=[5])


@pytest.mark.parametrize("cell, names", [
    (ElmanCell(2, 3), ["W"]),
    (LSTMCell(2, 3), ["W_input", "W_forget", "W_candidate", "W_output"]),
    (GRUCell(2, 3), ["W_reset", "W_update", "W_new"]),
    (BookGRUCell(2, 3), ["W_u", "W_r", "W"]),
], ids=["elman", "lstm", "gru", "book-gru"])
def test_recurrent_blocks_are_the_square_pieces_of_w(cell, names):
    blocks = recurrent_blocks(cell)
    assert list(blocks) == names
    assert all(block.shape == (3, 3) for block in blocks.values())
    if isinstance(cell, BookGRUCell):
        assert torch.equal(torch.cat([blocks["W_u"], blocks["W_r"]]), cell.W_gates.detach())
        assert torch.equal(blocks["W"], cell.W.detach())
    else:
        assert torch.equal(torch.cat(list(blocks.values())), cell.W.detach())
    with pytest.raises(ValueError, match="cell: expected a parameter named W"):
        recurrent_blocks(_NoW())


class _NoW(ElmanCell):
    def __init__(self):
        super().__init__(2, 3)
        del self.W


def test_spectrum_tracker_writes_each_validation_and_follows_a_resume(tmp_path):
    model = OutputEveryStep(ElmanCell(2, 3), 2)
    trainer = SimpleNamespace(model=model, run_dir=tmp_path)
    tracker = SpectrumTracker()
    radii = []
    for step in (10, 20, 30):
        with torch.no_grad():
            model.cell.W.mul_(1.5)
        radii.append(spectral_radius(model.cell.W.double()))
        tracker.on_eval(trainer, step, {})
    history = read_spectrum_history(tmp_path / "spectrum.jsonl")
    assert [entry["step"] for entry in history] == [10, 20, 30]
    assert [entry["spectral_radius"]["W"] for entry in history] == pytest.approx(radii, rel=1e-12)
    real, imag = history[-1]["eigenvalues"]["W"]["real"], history[-1]["eigenvalues"]["W"]["imag"]
    expected = eigenvalues(model.cell.W.double())
    assert real == pytest.approx(expected.real.tolist(), abs=1e-12)
    assert imag == pytest.approx(expected.imag.tolist(), abs=1e-12)
    plotted = json.loads((tmp_path / "plots" / "spectral_radius.json").read_text())
    assert plotted["step"] == [10, 20, 30] and plotted["spectral_radius"]["W"] == pytest.approx(radii, rel=1e-12)
    assert (tmp_path / "plots" / "eigenvalues.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    tracker.on_eval(trainer, 20, {})  # resumed from step 10's checkpoint: the old 20 and 30 go
    assert [entry["step"] for entry in read_spectrum_history(tmp_path / "spectrum.jsonl")] == [10, 20]


def test_spectrum_tracker_in_the_trainer(tmp_path):
    from recnets.tasks.base import Batch, Task, sequence_nll

    class Tiny(Task):
        name = "tiny"

        def train_batch(self, step):
            generator = torch.Generator().manual_seed(step)
            tokens = torch.randint(3, (4, 6), generator=generator)
            return Batch(tokens, tokens)

        def eval_batches(self, split):
            yield self.train_batch(10_000)

        def loss(self, outputs, batch):
            return sequence_nll(outputs, batch.targets, batch.lengths)

        def metrics(self, total_loss, count):
            return {}

        def baselines(self):
            return {}

    from recnets.train import Trainer, TrainConfig
    model = OutputEveryStep(ElmanCell(3, 5), 3, vocab_size=3)
    config = TrainConfig(device="cpu", steps=6, eval_every=2, checkpoint_every=0, progress=False, lr=0.05)
    Trainer(model, Tiny(), config, tmp_path, callbacks=[SpectrumTracker(plots=False)]).fit()
    history = read_spectrum_history(tmp_path / "spectrum.jsonl")
    assert [entry["step"] for entry in history] == [2, 4, 6]
    assert history[-1]["spectral_radius"]["W"] == pytest.approx(spectral_radius(model.cell.W.double()), rel=1e-12)
    assert history[0]["spectral_radius"]["W"] != history[-1]["spectral_radius"]["W"]


def test_spectrum_of_unroll_matches_jacobian_when_fused_path_is_bypassed():
    """The recorded unroll is the eager loop: the same states as the fused kernel's, to float64 precision."""
    cell = ElmanCell(2, 3, **F64)
    xs = torch.randn(2, 5, 2, **F64)
    ys, _, _ = recorded_unroll(cell, xs)
    fused, _ = unroll(cell, xs, backend="fused")
    assert_exact(ys, fused, tol=1e-12)


def test_hidden_columns_find_h_in_a_state_and_refuse_a_computed_h():
    from typing import NamedTuple

    from recnets.analysis import hidden_columns
    from recnets.cells import LSTMState

    class Line(NamedTuple):
        history: torch.Tensor

        @property
        def h(self):
            return self.history[:, 1]

    class Summed(Line):
        @property
        def h(self):
            return self.history.sum(1)

    state = LSTMState(torch.zeros(2, 3), torch.zeros(2, 3))
    assert hidden_columns(state).tolist() == [0, 1, 2]
    assert hidden_columns(Line(torch.zeros(2, 3, 4))).tolist() == [4, 5, 6, 7]
    with pytest.raises(ValueError, match="state: expected its 'h' to be a selection"):
        hidden_columns(Summed(torch.zeros(2, 3, 4)))


def test_spectrum_trackers_only_for_a_cell_with_recurrent_blocks():
    from recnets.analysis import spectrum_trackers

    trackers = spectrum_trackers(OutputEveryStep(LSTMCell(3, 4), 2), plots=False)
    assert len(trackers) == 1 and isinstance(trackers[0], SpectrumTracker) and trackers[0].plots is False
    assert spectrum_trackers(torch.nn.Linear(3, 4)) == []  # no cell at all

    class NoW(ElmanCell):  # a cell whose parameters hold no square W
        def __init__(self) -> None:
            super().__init__(3, 4)
            del self.W
            self.register_parameter("V", torch.nn.Parameter(torch.zeros(4, 4)))

    assert spectrum_trackers(SimpleNamespace(cell=NoW())) == []
