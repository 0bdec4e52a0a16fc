"""Tree cells against their papers' equations written out node by node, child by child (float64), and
float64 gradcheck through ``fold``."""
from __future__ import annotations

import pytest
import torch
from torch.autograd import gradcheck

from conftest import assert_exact
from recnets.cells.recursive import RecursiveCell, RNTNCell
from recnets.cells.registry import TREE_CELLS, make_tree_cell
from recnets.cells.tree_lstm import ChildSumTreeLSTMCell, NaryTreeLSTMCell
from recnets.core.fold import fold
from recnets.core.tree import Tree, binarize
from recnets.core.tree_batch import batch_trees, flatten_tree

D, H = 3, 4
sigmoid, tanh = torch.sigmoid, torch.tanh


def node_inputs(children: int):
    """One node: x (D,), and its children's h and c (C, H) each."""
    return (torch.randn(D, dtype=torch.float64), torch.randn(children, H, dtype=torch.float64),
            torch.randn(children, H, dtype=torch.float64))


def combine_one(cell, x, hs, cs=None):
    from recnets.cells.lstm import LSTMState
    from recnets.core.state import Hidden

    state = Hidden(hs[None]) if cs is None else LSTMState(hs[None], cs[None])
    mask = torch.ones(1, hs.shape[0], dtype=torch.bool)
    y, new = cell.combine(cell.project(x[None]), state, mask)
    return y[0], type(new)(*(leaf[0] for leaf in new))


def test_child_sum_tree_lstm_equals_tai_et_al_eqs_2_to_8():
    cell = ChildSumTreeLSTMCell(D, H).double()
    x, hs, cs = node_inputs(3)
    W = dict(zip("iouf", cell.W.split(H))); b = dict(zip("iouf", cell.b.split(H)))
    U = dict(zip("iou", cell.U_iou.split(H)))
    h_tilde = hs.sum(0)  # eq. 2
    i = sigmoid(W["i"] @ x + U["i"] @ h_tilde + b["i"])  # eq. 3
    f = [sigmoid(W["f"] @ x + cell.U_f @ hs[k] + b["f"]) for k in range(3)]  # eq. 4
    o = sigmoid(W["o"] @ x + U["o"] @ h_tilde + b["o"])  # eq. 5
    u = tanh(W["u"] @ x + U["u"] @ h_tilde + b["u"])  # eq. 6
    c = i * u + sum(f[k] * cs[k] for k in range(3))  # eq. 7
    h = o * tanh(c)  # eq. 8
    y, state = combine_one(cell, x, hs, cs)
    assert_exact((y, state.h, state.c), (h, h, c))


def test_nary_tree_lstm_equals_tai_et_al_eqs_9_to_14():
    n = 3
    cell = NaryTreeLSTMCell(D, H, max_children=n).double()
    x, hs, cs = node_inputs(n)
    W = dict(zip("iouf", cell.W.split(H))); b = dict(zip("iouf", cell.b.split(H)))
    U = {gate: block.split(H, dim=1) for gate, block in zip("iou", cell.U_iou.split(H))}  # U[gate][l] (H, H)
    Uf = [[cell.U_f[k * H:(k + 1) * H, l * H:(l + 1) * H] for l in range(n)] for k in range(n)]
    i = sigmoid(W["i"] @ x + sum(U["i"][l] @ hs[l] for l in range(n)) + b["i"])  # eq. 9
    f = [sigmoid(W["f"] @ x + sum(Uf[k][l] @ hs[l] for l in range(n)) + b["f"]) for k in range(n)]  # eq. 10
    o = sigmoid(W["o"] @ x + sum(U["o"][l] @ hs[l] for l in range(n)) + b["o"])  # eq. 11
    u = tanh(W["u"] @ x + sum(U["u"][l] @ hs[l] for l in range(n)) + b["u"])  # eq. 12
    c = i * u + sum(f[l] * cs[l] for l in range(n))  # eq. 13
    h = o * tanh(c)  # eq. 14
    y, state = combine_one(cell, x, hs, cs)
    assert_exact((y, state.h, state.c), (h, h, c))
    # fewer children than N: the missing positions are zero states
    y_two, _ = combine_one(cell, x, hs[:2], cs[:2])
    y_padded, _ = combine_one(cell, x, torch.cat([hs[:2], torch.zeros(1, H, dtype=torch.float64)]),
                              torch.cat([cs[:2], torch.zeros(1, H, dtype=torch.float64)]))
    assert_exact(y_two, y_padded)


def test_recursive_net_equals_socher_composition():
    cell = RecursiveCell(D, H).double()
    x, hs, _ = node_inputs(2)
    W_left, W_right = cell.W.split(H, dim=1)
    h = tanh(cell.b + cell.U @ x + W_left @ hs[0] + W_right @ hs[1])
    y, state = combine_one(cell, x, hs)
    assert_exact((y, state.h), (h, h))


def test_rntn_equals_the_tensor_composition_unit_by_unit():
    cell = RNTNCell(D, H).double()
    x, hs, _ = node_inputs(2)
    c = torch.cat([hs[0], hs[1]])  # (2H,)
    bilinear = torch.stack([c @ cell.V[k] @ c for k in range(H)])
    h = tanh(cell.b + cell.U @ x + cell.W @ c + bilinear)
    y, _ = combine_one(cell, x, hs)
    assert_exact(y, h)


@pytest.mark.parametrize("name", list(TREE_CELLS))
def test_gradcheck_through_fold(name):
    cell = make_tree_cell(name, 2, 3).double()
    trees = [Tree("r", (Tree("a"), Tree("s", (Tree("b"), Tree("c"))))), Tree("t", (Tree("d"),))]
    if cell.max_children is not None:
        trees = [binarize(tree) for tree in trees]
    batch = batch_trees([flatten_tree(tree, lambda node: 0) for tree in trees])
    xs = torch.randn(batch.num_nodes, 2, dtype=torch.float64, requires_grad=True)
    parameters = list(cell.parameters())

    def function(xs, *params):
        folded = fold(cell, batch, xs)
        return folded.outputs, *folded.states

    assert gradcheck(function, (xs, *parameters), eps=1e-6, atol=1e-7, rtol=1e-5)


def test_rntn_is_binary_and_cells_check_their_sizes():
    batch = batch_trees([flatten_tree(Tree("f", (Tree("a"), Tree("b"), Tree("c"))), lambda n: 0)])
    with pytest.raises(ValueError, match="RNTNCell is 2-ary"):
        fold(RNTNCell(D, H), batch, torch.zeros(4, D))
    with pytest.raises(ValueError, match="hidden_size: expected a positive integer, got 0"):
        ChildSumTreeLSTMCell(D, 0)
    with pytest.raises(ValueError, match="max_children: expected a positive integer, got 0"):
        RecursiveCell(D, H, max_children=0)
