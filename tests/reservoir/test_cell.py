"""ReservoirCell against x(n) = (1-α) x(n-1) + α f(b + W_in u(n) + W x(n-1) + W_fb y(n-1)) (+ ν(n)) written as a
plain float64 loop (1e-10): sparse and dense W, batches of one and many, leak, bias, feedback, lengths, noise,
dtype moves; the rescaled spectral radius against torch.linalg.eigvals; seeds; no gradients; bad input."""
from __future__ import annotations

import pytest
import torch

from conftest import assert_exact, assert_relative
from recnets.core import Hidden, unroll
from recnets.reservoir import ReservoirCell, spectral_radius

F64 = {"dtype": torch.float64}
D, N, O, T = 3, 40, 2, 25


def manual_states(cell, us, x0=None, feedback=None, noise=None):
    """The docstring's equation, one step at a time, in float64: us (B, T, D) -> states (B, T, N).

    ``feedback`` (B, T, O) holds y(n-1) at row n; ``noise`` (B, T, N) is ν(n), added after the leaky update."""
    W, W_in, b, W_fb = (tensor.double() for tensor in (cell.W, cell.W_in, cell.b, cell.W_fb))
    us = us.double()
    B, steps, _ = us.shape
    x = torch.zeros(B, cell.hidden_size, **F64) if x0 is None else x0.double()
    states = []
    for n in range(steps):
        pre = b + us[:, n] @ W_in.T + x @ W.T  # (B, N)
        if feedback is not None:
            pre = pre + feedback[:, n].double() @ W_fb.T
        activated = torch.tanh(pre) if cell.activation == "tanh" else pre
        x = (1 - cell.leak) * x + cell.leak * activated
        if noise is not None:
            x = x + noise[:, n]
        states.append(x)
    return torch.stack(states, 1)  # (B, T, N)


def make(connectivity=0.1, **overrides):
    options = {"spectral_radius": 0.9, "connectivity": connectivity, "input_scaling": 0.7, "bias_scaling": 0.3,
               "leak": 0.4, "seed": 11, **F64}
    options.update(overrides)
    return ReservoirCell(D, N, **options)


@pytest.mark.parametrize("batch", [1, 4], ids=["B1", "B4"])
@pytest.mark.parametrize("connectivity", [0.1, 1.0], ids=["sparse", "dense"])
@pytest.mark.parametrize("activation", ["tanh", "identity"])
def test_run_matches_the_equation(connectivity, batch, activation):
    cell = make(connectivity, activation=activation, spectral_radius=0.9 if activation == "tanh" else 0.8)
    assert (cell.density < 0.2) if connectivity < 1 else (cell.density > 0.99)  # the CSR path / the dense path
    us = torch.randn(batch, T, D, **F64)
    x0 = torch.rand(batch, N, **F64) * 2 - 1
    states, final = cell.run(us, Hidden(x0))
    expected = manual_states(cell, us, x0)
    assert_exact(states, expected)
    assert_exact(final.h, expected[:, -1])
    assert states.dtype == torch.float64 and not states.requires_grad


@pytest.mark.parametrize("batch", [1, 3], ids=["B1", "B3"])
@pytest.mark.parametrize("connectivity", [0.1, 1.0], ids=["sparse", "dense"])
def test_run_with_feedback_matches_the_equation(connectivity, batch):
    cell = make(connectivity, feedback_size=O, feedback_scaling=0.5)
    us, feedback = torch.randn(batch, T, D, **F64), torch.randn(batch, T, O, **F64)
    states, final = cell.run(us, feedback=feedback)
    expected = manual_states(cell, us, feedback=feedback)
    assert_exact(states, expected)
    assert_exact(final.h, expected[:, -1])
    without = manual_states(cell, us)
    assert float((expected - without).abs().max()) > 1e-2  # the feedback term is really there


def test_leak_one_is_the_plain_tanh_reservoir_and_zero_input_size_runs_on_bias():
    cell = make(1.0, leak=1.0)
    us = torch.randn(2, T, D, **F64)
    x = torch.zeros(2, N, **F64)
    for n in range(T):
        x = torch.tanh(cell.b + us[:, n] @ cell.W_in.T + x @ cell.W.T)
    assert_exact(cell.run(us)[1].h, x)
    autonomous = ReservoirCell(0, N, bias_scaling=1.0, seed=2, **F64)
    empty = torch.zeros(2, T, 0, **F64)
    assert_exact(autonomous.run(empty)[0], manual_states(autonomous, empty))
    assert float(autonomous.run(empty)[0].abs().max()) > 0.1


@pytest.mark.parametrize("connectivity", [0.1, 1.0], ids=["sparse", "dense"])
def test_unroll_step_and_forward_agree_with_run(connectivity):
    cell = make(connectivity)
    us = torch.randn(3, T, D, **F64)
    x0 = torch.rand(3, N, **F64) - 0.5
    states, final = cell.run(us, Hidden(x0))
    ys, unrolled = unroll(cell, us, Hidden(x0), backend="eager")
    assert_exact(ys, states)
    assert_exact(unrolled.h, final.h)
    one_step = manual_states(cell, us[:, :1], x0)[:, 0]
    y_step, state_step = cell.step(cell.project(us[:, 0]), Hidden(x0))
    y_forward, state_forward = cell(us[:, 0], Hidden(x0))
    for y in (y_step, state_step.h, y_forward, state_forward.h):
        assert_exact(y, one_step)
    assert_exact(cell(us[:, 0])[0], manual_states(cell, us[:, :1])[:, 0])  # forward from zeros


@pytest.mark.parametrize("distribution", ["uniform", "normal"])
@pytest.mark.parametrize("radius", [0.5, 0.9, 1.25])
@pytest.mark.parametrize("connectivity", [0.1, 1.0], ids=["sparse", "dense"])
def test_W_has_exactly_the_requested_spectral_radius(connectivity, radius, distribution):
    cell = ReservoirCell(D, 60, spectral_radius=radius, connectivity=connectivity, distribution=distribution,
                         seed=5, **F64)
    eigenvalues = torch.linalg.eigvals(cell.W)
    assert abs(float(eigenvalues.abs().max()) - radius) <= 1e-10
    assert abs(cell.spectral_radius() - radius) <= 1e-10
    assert abs(spectral_radius(cell.W) - radius) <= 1e-10
    if connectivity < 1:
        assert abs(cell.density - connectivity) < 0.03  # 3600 Bernoulli(0.1) entries: sd 0.005


def test_seeds_reproduce_and_differ():
    options = {"bias_scaling": 0.5, "feedback_size": O, "connectivity": 0.2, **F64}
    first, again, other = (ReservoirCell(D, N, seed=seed, **options) for seed in (3, 3, 4))
    for name in ("W", "W_in", "b", "W_fb"):
        assert torch.equal(getattr(first, name), getattr(again, name)), name
        assert not torch.equal(getattr(first, name), getattr(other, name)), name
    us, feedback = torch.randn(2, T, D, **F64), torch.randn(2, T, O, **F64)
    assert torch.equal(first.run(us, feedback=feedback)[0], again.run(us, feedback=feedback)[0])


def test_nothing_is_trainable():
    cell = make(0.1, feedback_size=O)
    assert list(cell.parameters()) == []
    assert {name for name, _ in cell.named_buffers()} == {"W", "W_in", "b", "W_fb"}
    for name, buffer in cell.named_buffers():
        assert not buffer.requires_grad, name
    us = torch.randn(2, T, D, **F64, requires_grad=True)
    states, final = cell.run(us, feedback=torch.randn(2, T, O, **F64))
    assert not states.requires_grad and not final.h.requires_grad


def test_lengths_give_the_state_at_each_last_real_step():
    cell = make(0.1)
    lengths = torch.tensor([T, 7, 0, 1])
    us = torch.randn(4, T, D, **F64)
    x0 = torch.rand(4, N, **F64) - 0.5
    states, final = cell.run(us, Hidden(x0), lengths=lengths)
    for row, length in enumerate(lengths.tolist()):
        own = manual_states(cell, us[row:row + 1, :length], x0[row:row + 1])[0] if length else x0[row:row + 1]
        assert_exact(states[row, :length], own[:length])
        assert torch.equal(states[row, length:], torch.zeros(T - length, N, **F64))
        assert_exact(final.h[row], own[-1] if length else x0[row])


def test_noise_is_seeded_and_bounded():
    noise = 0.02
    cell = make(0.1, noise=noise)
    us = torch.randn(2, 200, D, **F64)
    first, _ = cell.run(us, generator=torch.Generator().manual_seed(1))
    again, _ = cell.run(us, generator=torch.Generator().manual_seed(1))
    other, _ = cell.run(us, generator=torch.Generator().manual_seed(2))
    assert torch.equal(first, again)
    assert float((first - other).abs().max()) > noise / 2
    # ν(n) = x(n) - [(1-α) x(n-1) + α tanh(...)] recovered step by step from the noisy states
    previous = torch.cat([torch.zeros(2, 1, N, **F64), first[:, :-1]], 1)  # (B, T, N): x(n-1)
    pre = cell.b + us @ cell.W_in.T + previous @ cell.W.T
    drawn = first - ((1 - cell.leak) * previous + cell.leak * torch.tanh(pre))  # (B, T, N)
    assert float(drawn.abs().max()) <= noise * (1 + 1e-9)
    assert float(drawn.abs().max()) > 0.95 * noise  # 16,000 uniform draws reach near the bound
    assert abs(float(drawn.mean())) < noise / 20  # centred: the sd of the mean is noise / 220
    assert_exact(first, manual_states(cell, us, noise=drawn))


@pytest.mark.parametrize("connectivity", [0.1, 1.0], ids=["sparse", "dense"])
def test_dtype_moves_reach_the_cached_operator(connectivity):
    cell = make(connectivity)
    us = torch.randn(2, T, D, **F64)
    assert_exact(cell.run(us)[0], manual_states(cell, us))  # fills the operator cache in float64
    cell.float()
    assert cell.W.dtype == torch.float32
    states32, _ = cell.run(us.float())
    assert states32.dtype == torch.float32
    assert_relative(states32.double(), manual_states(cell, us.float()), rtol=1e-5)  # float32 weights, exact loop
    cell.double()
    states64, _ = cell.run(us)
    assert_exact(states64, manual_states(cell, us))
    cell.W.mul_(0.5)  # an in-place edit of W is seen too
    assert_exact(cell.run(us)[0], manual_states(cell, us))


def test_explicit_W_is_used_as_is():
    Q, _ = torch.linalg.qr(torch.randn(N, N, **F64))
    cell = ReservoirCell(D, N, W=0.7 * Q, activation="identity", **F64)
    assert torch.equal(cell.W, 0.7 * Q)
    us = torch.randn(2, T, D, **F64)
    assert_exact(cell.run(us)[0], manual_states(cell, us))


@pytest.mark.parametrize("options, message", [
    ({"spectral_radius": 0.0}, "spectral_radius: expected"),
    ({"spectral_radius": -1.0}, "spectral_radius: expected"),
    ({"leak": 0.0}, "leak: expected a number in \\(0, 1\\]"),
    ({"leak": 1.5}, "leak: expected a number in \\(0, 1\\]"),
    ({"connectivity": 0.0}, "connectivity: expected"),
    ({"noise": -0.1}, "noise: expected"),
    ({"activation": "relu"}, "activation: expected one of"),
    ({"W": torch.zeros(N, N + 1)}, f"W: expected a \\({N}, {N}\\) tensor, got \\({N}, {N + 1}\\)"),
    ({"hidden_size": 0}, "hidden_size: expected an integer >= 1"),
])
def test_bad_construction_is_one_line(options, message):
    arguments = {"input_size": D, "hidden_size": N, **options}
    with pytest.raises(ValueError, match=message) as caught:
        ReservoirCell(**arguments)
    assert "\n" not in str(caught.value)


def test_bad_run_input_is_one_line():
    cell = make(0.1)
    fed = make(0.1, feedback_size=O)
    us = torch.randn(2, T, D, **F64)
    nan = us.clone()
    nan[1, 3, 2] = float("nan")
    cases = [
        (lambda: cell.run(torch.randn(2, T, D + 1, **F64)), f"us: expected a tensor of shape \\(B, T, {D}\\)"),
        (lambda: cell.run(us[0]), "us: expected a tensor of shape"),
        (lambda: cell.run(nan), "us: expected finite values, got nan at index \\(1, 3, 2\\)"),
        (lambda: fed.run(us), f"feedback: expected the fed-back outputs \\(B, T, {O}\\)"),
        (lambda: fed.run(us, feedback=torch.zeros(2, T, O + 1, **F64)), "feedback: expected shape"),
        (lambda: cell.run(us, feedback=torch.zeros(2, T, O, **F64)), "feedback: expected None"),
        (lambda: cell.run(us, Hidden(torch.zeros(3, N, **F64))), "state: expected x of shape"),
        (lambda: cell.run(us, lengths=torch.tensor([T + 1, 1])), "lengths: expected 2 integers"),
    ]
    for call, message in cases:
        with pytest.raises(ValueError, match=message) as caught:
            call()
        assert "\n" not in str(caught.value)
