"""``checkpointed_unroll`` equals the eager ``unroll``: outputs, final states, losses and every gradient (float64).

The oracle is ``unroll(..., backend="eager")`` over the whole sequence, with the loss computed on the whole
outputs; the checkpointed path must give the same numbers for every segment size, ragged lengths, reverse, a
state pytree with an integer time index (clockwork), a per-segment loss with a read-out captured in a closure
and an embedding applied inside each segment.
"""
from __future__ import annotations

from typing import Any

import pytest
import torch
import torch.nn.functional as F

from conftest import assert_exact, leaves, ragged_lengths
from recnets.cells import make_cell
from recnets.cells._init import uniform_parameter
from recnets.core import Cell, Hidden, tree_map, unroll
from recnets.core.checkpointed_unroll import checkpointed_unroll, default_segment, segment_bounds

B, T, D, H, V = 6, 7, 3, 4, 5
F64 = {"dtype": torch.float64}
CELLS = ["elman", "lstm", "gru", "clockwork", "leaky"]
SEGMENTS = [1, 3, T, 4]  # 3 and 4: T is not a multiple of the segment


def random_state(cell: Cell, batch: int) -> Any:
    """A non-zero initial state whose real leaves need gradients (integer leaves, e.g. a step index, kept)."""
    return tree_map(lambda leaf: torch.randn_like(leaf).requires_grad_() if leaf.is_floating_point() else leaf,
                    cell.initial_state(batch, **F64))


def scalar_of(ys: Any, final: Any, weights: list[torch.Tensor]) -> torch.Tensor:
    """A fixed random linear function of every real output and final-state leaf, to back-propagate."""
    real = [leaf for leaf in leaves(ys) + leaves(final) if leaf.is_floating_point()]
    return sum((leaf * weight).sum() for leaf, weight in zip(real, weights))


def gradients(loss: torch.Tensor, inputs: list[torch.Tensor]) -> tuple[torch.Tensor, ...]:
    return torch.autograd.grad(loss, inputs, allow_unused=False)


def compare_to_eager(cell: Cell, xs: torch.Tensor, state: Any, **kwargs: Any) -> None:
    """Outputs, final state and the gradients of parameters, inputs and initial state equal the eager loop's."""
    segment = kwargs.pop("segment", None)
    expected = unroll(cell, xs, state, backend="eager", **kwargs)
    actual = checkpointed_unroll(cell, xs, state, segment=segment, **kwargs)
    assert_exact(actual, expected)
    weights = [torch.randn_like(leaf) for leaf in leaves(expected[0]) + leaves(expected[1])
               if leaf.is_floating_point()]
    wrt = [*cell.parameters(), xs, *(leaf for leaf in leaves(state) if leaf.requires_grad)]
    assert_exact(gradients(scalar_of(*actual, weights), wrt), gradients(scalar_of(*expected, weights), wrt))


@pytest.mark.parametrize("segment", SEGMENTS)
@pytest.mark.parametrize("name", CELLS)
def test_equals_eager_unroll_with_ragged_lengths(name, segment):
    cell = make_cell(name, D, H, **F64)
    xs = torch.randn(B, T, D, **F64, requires_grad=True)
    compare_to_eager(cell, xs, random_state(cell, B), segment=segment, lengths=ragged_lengths(B, T))


@pytest.mark.parametrize("name", CELLS)
def test_equals_eager_unroll_dense_with_the_default_segment(name):
    cell = make_cell(name, D, H, **F64)
    xs = torch.randn(B, 10, D, **F64, requires_grad=True)
    compare_to_eager(cell, xs, random_state(cell, B))


@pytest.mark.parametrize("name", ["lstm", "clockwork"])
def test_equals_eager_unroll_reversed(name):
    cell = make_cell(name, D, H, **F64)
    xs = torch.randn(B, T, D, **F64, requires_grad=True)
    compare_to_eager(cell, xs, random_state(cell, B), segment=3, lengths=ragged_lengths(B, T), reverse=True)


def test_segments_after_every_sequence_ended_keep_the_state_and_emit_zeros():
    cell = make_cell("lstm", D, H, **F64)
    xs = torch.randn(3, 9, D, **F64, requires_grad=True)
    lengths = torch.tensor([5, 2, 3])  # the last segment (steps 6..8) has no real step
    compare_to_eager(cell, xs, random_state(cell, 3), segment=3, lengths=lengths)


def test_fused_backend_per_segment_equals_eager():
    cell = make_cell("lstm", D, H, **F64)
    xs = torch.randn(B, T, D, **F64, requires_grad=True)
    compare_to_eager(cell, xs, random_state(cell, B), segment=3, lengths=ragged_lengths(B, T))
    expected = unroll(cell, xs, backend="eager")
    assert_exact(checkpointed_unroll(cell, xs, segment=3, backend="fused"), expected)


class ContextCell(Cell):
    """A test cell that reads its context: h(t) = tanh(U x(t) + W h(t-1) + context)."""

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


def test_gradient_reaches_a_context_that_needs_one():
    cell = ContextCell(D, H)
    xs = torch.randn(B, T, D, **F64)
    context = torch.randn(B, H, **F64, requires_grad=True)
    expected = unroll(cell, xs, context=context, lengths=ragged_lengths(B, T))
    actual = checkpointed_unroll(cell, xs, context=context, lengths=ragged_lengths(B, T), segment=3)
    assert_exact(actual, expected)
    wrt = [context, *cell.parameters()]
    assert_exact(gradients(actual[0].sum(), wrt), gradients(expected[0].sum(), wrt))


# ---- the loss inside each segment ----------------------------------------------------------------------------

def char_model(cell_name: str) -> tuple[Cell, torch.nn.Embedding, torch.nn.Linear]:
    return (make_cell(cell_name, D, H, **F64), torch.nn.Embedding(V, D, **F64), torch.nn.Linear(H, V, **F64))


def masked_cross_entropy(readout: torch.nn.Linear):
    """Summed cross-entropy of the read-out's logits; padding targets are -100 (ignored)."""
    def loss_fn(ys: torch.Tensor, targets: torch.Tensor, segment_index: int) -> torch.Tensor:
        logits = readout(ys)  # (B, k, V)
        return F.cross_entropy(logits.flatten(0, 1), targets.flatten(), ignore_index=-100, reduction="sum")
    return loss_fn


def padded_targets(lengths: torch.Tensor, steps: int) -> torch.Tensor:
    targets = torch.randint(0, V, (lengths.shape[0], steps))
    return targets.masked_fill(torch.arange(steps) >= lengths.unsqueeze(1), -100)  # (B, T)


@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("segment", [1, 3, T])
@pytest.mark.parametrize("cell_name", ["lstm", "clockwork"])
def test_loss_fn_equals_the_full_sequence_loss_and_its_gradients(cell_name, segment, reverse):
    cell, embedding, readout = char_model(cell_name)
    ids = torch.randint(0, V, (B, T))
    lengths = ragged_lengths(B, T)
    targets = padded_targets(lengths, T)
    state = random_state(cell, B)
    loss_fn = masked_cross_entropy(readout)
    ys, expected_final = unroll(cell, embedding(ids), state, lengths=lengths, reverse=reverse, backend="eager")
    expected = loss_fn(ys, targets, 0)
    loss, final = checkpointed_unroll(cell, ids, state, segment=segment, lengths=lengths, loss_fn=loss_fn,
                                      targets=targets, input_fn=embedding, reverse=reverse)
    assert_exact((loss, final), (expected, expected_final))
    wrt = [*cell.parameters(), *embedding.parameters(), *readout.parameters(),
           *(leaf for leaf in leaves(state) if leaf.requires_grad)]
    assert_exact(gradients(loss, wrt), gradients(expected, wrt))


def test_loss_fn_sees_each_segment_in_order_with_its_targets():
    cell = make_cell("elman", D, H, **F64)
    xs = torch.randn(2, T, D, **F64)
    targets = (torch.arange(T).expand(2, T), torch.randn(2, T, 3, **F64))
    seen: list[tuple[int, list[int], tuple[int, ...]]] = []

    def loss_fn(ys, targets_segment, index):
        steps, extra = targets_segment
        seen.append((index, steps[0].tolist(), tuple(ys.shape)))
        return ys.sum() + extra.sum()

    with torch.no_grad():
        checkpointed_unroll(cell, xs, segment=3, loss_fn=loss_fn, targets=targets)
    assert seen == [(0, [0, 1, 2], (2, 3, H)), (1, [3, 4, 5], (2, 3, H)), (2, [6], (2, 1, H))]
    assert segment_bounds(T, 3) == [(0, 3), (3, 6), (6, 7)]
    assert default_segment(10_000) == 100 and default_segment(1) == 1


def test_backward_recomputes_each_segment_once():
    """Checkpointing: the forward runs every segment once, the backward recomputes every segment once."""
    cell = make_cell("elman", D, H, **F64)
    calls = []
    project = cell.project
    cell.project = lambda xs: calls.append(xs.shape[1]) or project(xs)  # instance attribute, seen by unroll
    xs = torch.randn(B, T, D, **F64)
    ys, _ = checkpointed_unroll(cell, xs, segment=3, backend="eager")
    assert calls == [3, 3, 1]
    ys.sum().backward()
    assert sorted(calls[3:]) == [1, 3, 3]
    calls.clear()
    with torch.no_grad():
        checkpointed_unroll(cell, xs, segment=3, backend="eager")
    assert calls == [3, 3, 1]


# ---- errors: ValueError / TypeError with a one-line message naming the argument ------------------------------

def raises_naming(error, argument, **kwargs):
    cell = make_cell("lstm", D, H, **F64)
    arguments = {"xs": torch.randn(2, T, D, **F64), **kwargs}
    with pytest.raises(error) as info:
        checkpointed_unroll(cell, **arguments)
    message = str(info.value)
    assert message.startswith(f"{argument}:") and "\n" not in message, message


@pytest.mark.parametrize("segment", [0, -2, 2.5, True, "4"])
def test_bad_segment(segment):
    raises_naming(ValueError, "segment", segment=segment)


def test_bad_arguments():
    readout = torch.nn.Linear(H, V, **F64)
    good_loss = masked_cross_entropy(readout)
    raises_naming(ValueError, "targets", targets=torch.zeros(2, T))
    raises_naming(ValueError, "targets", loss_fn=good_loss, targets=torch.zeros(2, T + 1))
    raises_naming(TypeError, "targets", loss_fn=good_loss, targets=[torch.zeros(2, T)])
    raises_naming(TypeError, "loss_fn", loss_fn="cross-entropy")
    raises_naming(ValueError, "loss_fn", loss_fn=lambda ys, targets, index: ys, targets=None)
    raises_naming(TypeError, "input_fn", input_fn=3)
    raises_naming(ValueError, "backend", backend="compiled")
    raises_naming(ValueError, "lengths", lengths=torch.tensor([T + 1, 2]))
    raises_naming(ValueError, "state", state=make_cell("lstm", D, H, **F64).initial_state(3, **F64))
    raises_naming(ValueError, "xs", xs=torch.randn(2, T, **F64))
    raises_naming(ValueError, "xs", xs=torch.randn(2, T, D + 1, **F64))
    raises_naming(ValueError, "xs", xs=torch.randn(2, T, D))
    raises_naming(TypeError, "xs", xs=[[0.0]])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_loss_fn_path_equals_eager_on_the_same_device():
    cell, embedding, readout = (module.cuda() for module in char_model("lstm"))
    ids = torch.randint(0, V, (B, T), device="cuda")
    lengths = ragged_lengths(B, T).cuda()
    targets = padded_targets(lengths.cpu(), T).cuda()
    loss_fn = masked_cross_entropy(readout)
    expected = loss_fn(unroll(cell, embedding(ids), lengths=lengths, backend="eager")[0], targets, 0)
    loss, _ = checkpointed_unroll(cell, ids, segment=3, lengths=lengths, loss_fn=loss_fn, targets=targets,
                                  input_fn=embedding)
    wrt = [*cell.parameters(), *embedding.parameters(), *readout.parameters()]
    assert_exact((loss, *gradients(loss, wrt)), (expected, *gradients(expected, wrt)))
