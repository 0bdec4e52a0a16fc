"""``unroll`` equals a manual loop of ``cell.forward`` for every registered cell; its errors name the argument."""
from __future__ import annotations

from typing import Any

import pytest
import torch

from conftest import assert_exact, leaves, ragged_lengths
from recnets.cells import CELLS, ElmanCell, LSTMCell, make_cell
from recnets.cells._init import uniform_parameter
from recnets.core import Cell, Hidden, tree_map, unroll

B, T, D, H = 3, 5, 3, 4
NAMES = list(CELLS)
F64 = {"dtype": torch.float64}


def manual_loop(cell, xs, state, feedback=None, context=None):
    """The loop a user would write: ``cell.forward`` step by step (free running when ``feedback``)."""
    outputs = []
    x_t = xs[:, 0]
    for t in range(xs.shape[1]):
        if feedback is None:
            x_t = xs[:, t]
        y_t, state = cell(x_t, state, context)
        outputs.append(y_t)
        if feedback is not None:
            x_t = feedback(y_t, t)
    return tree_map(lambda *ys: torch.stack(ys, 1), outputs[0], *outputs[1:]), state


@pytest.mark.parametrize("name", NAMES)
def test_unroll_equals_manual_loop(name):
    cell = make_cell(name, D, H, **F64)
    xs = torch.randn(B, T, D, **F64)
    state = tree_map(lambda leaf: torch.randn_like(leaf) if leaf.is_floating_point() else leaf,
                     cell.initial_state(B, **F64))
    for backend in ("auto", "eager"):
        assert_exact(unroll(cell, xs, state, backend=backend), manual_loop(cell, xs, state))


@pytest.mark.parametrize("name", NAMES)
def test_unroll_hands_context_to_every_step(name):
    """Context is passed through untouched (same object every step) and the result equals the manual loop."""
    cell = make_cell(name, D, H, **F64)
    xs = torch.randn(B, T, D, **F64)
    context = (torch.randn(B, 2, **F64), "read-only")
    seen: list[Any] = []
    step = cell.step

    def spy(px_t, state, context=None):
        seen.append(context)
        return step(px_t, state, context)

    cell.step = spy  # instance attribute: unroll and forward both look the method up on the instance
    ys, final = unroll(cell, xs, context=context, lengths=ragged_lengths(B, T))
    assert len(seen) == T and all(item is context for item in seen)
    seen.clear()
    expected = manual_loop(cell, xs[:, :], cell.initial_state(B, **F64), context=context)
    assert len(seen) == T and all(item is context for item in seen)
    full, _ = unroll(cell, xs, context=context)
    assert_exact(full, expected[0])


class ContextCell(Cell):
    """A test cell that reads its context: h(t) = tanh(px + W h(t-1) + context.bias)."""

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__()
        self.input_size, self.hidden_size = input_size, hidden_size
        self.U = uniform_parameter(hidden_size, input_size, hidden_size=hidden_size, **F64)
        self.W = uniform_parameter(hidden_size, hidden_size, hidden_size=hidden_size, **F64)

    def initial_state(self, batch_size, *, device=None, dtype=None):
        return Hidden(torch.zeros(batch_size, self.hidden_size, **self._default_factory(device, dtype)))

    def project(self, xs):
        return xs @ self.U.t()

    def step(self, px_t, state, context=None):
        h = torch.tanh(px_t + state.h @ self.W.t() + context)
        return h, Hidden(h)


def test_context_reaches_the_computation():
    cell = ContextCell(D, H)
    xs = torch.randn(B, T, D, **F64)
    context = torch.randn(B, H, **F64)
    ys, final = unroll(cell, xs, context=context)
    assert_exact((ys, final), manual_loop(cell, xs, cell.initial_state(B, **F64), context=context))
    other, _ = unroll(cell, xs, context=torch.zeros_like(context))
    assert (ys - other).abs().max() > 1e-3


def feedback_map(seed: int):
    """A fixed output-to-input map that also reads the step index: (B, H) -> (B, D)."""
    generator = torch.Generator().manual_seed(seed)
    matrix = torch.randn(H, D, generator=generator, dtype=torch.float64)
    return lambda y_t, t: torch.tanh(y_t @ matrix) + 0.1 * t


@pytest.mark.parametrize("name", NAMES)
def test_feedback_equals_free_running_manual_loop(name):
    cell = make_cell(name, D, H, **F64)
    xs = torch.randn(B, T, D, **F64)
    feedback = feedback_map(0)
    ys, final = unroll(cell, xs, feedback=feedback)
    assert_exact((ys, final), manual_loop(cell, xs, cell.initial_state(B, **F64), feedback=feedback))
    # only xs[:, 0] is read
    changed = xs.clone()
    changed[:, 1:] = 100.0
    assert_exact(unroll(cell, changed, feedback=feedback), (ys, final))


def test_feedback_with_lengths_equals_each_sequence_alone():
    cell = LSTMCell(D, H, **F64)
    xs = torch.randn(B, T, D, **F64)
    lengths = torch.tensor([T, 2, 4])
    feedback = feedback_map(1)
    ys, final = unroll(cell, xs, lengths=lengths, feedback=feedback)
    for row, length in enumerate(lengths.tolist()):
        ys_row, final_row = unroll(cell, xs[row:row + 1, :length], feedback=feedback)
        assert_exact(ys[row:row + 1, :length], ys_row)
        assert_exact(tree_map(lambda leaf: leaf[row:row + 1], final), final_row)
        assert float(ys[row, length:].detach().abs().sum()) == 0.0


def test_input_that_does_not_require_grad_still_trains_parameters():
    cell = ElmanCell(D, H)
    ys, _ = unroll(cell, torch.randn(B, T, D), backend="fused")
    ys.sum().backward()
    assert all(p.grad is not None for p in cell.parameters())


# ---- errors: ValueError / TypeError with a one-line message naming the argument ------------------------------

def raises_naming(error, argument, fn, *args, **kwargs):
    with pytest.raises(error) as info:
        fn(*args, **kwargs)
    message = str(info.value)
    assert "\n" not in message, message
    assert message.startswith(argument + ":"), message
    return message


def test_unroll_rejects_bad_inputs():
    cell = ElmanCell(D, H)
    xs = torch.randn(B, T, D)
    raises_naming(TypeError, "xs", unroll, cell, xs.numpy())
    raises_naming(ValueError, "xs", unroll, cell, xs[0])  # (T, D): missing batch
    raises_naming(ValueError, "xs", unroll, cell, xs.unsqueeze(0))
    raises_naming(ValueError, "xs", unroll, cell, torch.randn(B, 0, D))
    message = raises_naming(ValueError, "xs", unroll, cell, torch.randn(B, T, D + 1))
    assert str(D) in message and str(D + 1) in message


@pytest.mark.parametrize("lengths, error", [
    (torch.tensor([T, T]), ValueError),  # wrong batch
    (torch.full((B, 1), T), ValueError),  # wrong dims
    (torch.full((B,), float(T)), TypeError),  # float lengths
    (torch.ones(B, dtype=torch.bool), TypeError),
    (torch.tensor([T, 0, 2]), ValueError),  # zero length
    (torch.tensor([T, T + 1, 2]), ValueError),  # longer than T
    (torch.tensor([T, -1, 2]), ValueError),
])
def test_unroll_rejects_bad_lengths(lengths, error):
    for backend in ("fused", "eager"):
        raises_naming(error, "lengths", unroll, ElmanCell(D, H), torch.randn(B, T, D), lengths=lengths,
                      backend=backend)


def test_unroll_accepts_lengths_as_a_list():
    cell = ElmanCell(D, H, **F64)
    xs = torch.randn(B, T, D, **F64)
    assert_exact(unroll(cell, xs, lengths=[T, 2, 3]), unroll(cell, xs, lengths=torch.tensor([T, 2, 3])))


def test_unroll_rejects_unknown_backend_and_impossible_fused():
    xs = torch.randn(B, T, D)
    raises_naming(ValueError, "backend", unroll, ElmanCell(D, H), xs, backend="cudnn")
    raises_naming(ValueError, "backend", unroll, make_cell("book-lstm", D, H), xs, backend="fused")
    raises_naming(ValueError, "backend", unroll, ElmanCell(D, H), xs, backend="fused", context=torch.ones(B, H))
    raises_naming(ValueError, "backend", unroll, ElmanCell(D, H), xs, backend="fused",
                  feedback=lambda y, t: y[:, :D])


def test_unroll_rejects_a_state_of_another_batch():
    for backend in ("fused", "eager"):
        raises_naming(ValueError, "state", unroll, ElmanCell(D, H), torch.randn(B, T, D),
                      Hidden(torch.zeros(B - 1, H)), backend=backend)
    with pytest.raises(TypeError, match="^state leaves"):
        unroll(ElmanCell(D, H), torch.randn(B, T, D), [torch.zeros(B, H)])


def test_unroll_rejects_reverse_with_feedback():
    raises_naming(ValueError, "reverse", unroll, ElmanCell(D, H), torch.randn(B, T, D), reverse=True,
                  feedback=lambda y, t: y[:, :D])


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("argument", ["input_size", "hidden_size"])
@pytest.mark.parametrize("value", [0, -2, 2.0, True])
def test_cells_reject_non_positive_sizes(name, argument, value):
    sizes = {"input_size": D, "hidden_size": H, argument: value}
    raises_naming(ValueError, argument, make_cell, name, sizes["input_size"], sizes["hidden_size"])


def test_unknown_cell_name():
    raises_naming(ValueError, "cell", make_cell, "transformer", D, H)


def test_outputs_past_lengths_are_zero_for_every_leaf():
    cell = make_cell("lstm", D, H)
    ys, _ = unroll(cell, torch.randn(B, T, D), lengths=torch.tensor([T, 1, 3]), backend="eager")
    assert all(float(leaf[1, 1:].detach().abs().sum()) == 0.0 for leaf in leaves(ys))


def test_unroll_rejects_inputs_of_another_dtype():
    message = raises_naming(ValueError, "xs", unroll, ElmanCell(D, H, dtype=torch.float64), torch.randn(B, T, D))
    assert "torch.float64" in message and "torch.float32" in message
