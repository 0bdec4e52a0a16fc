"""Cells by name: what ``recnets list`` shows, what ``--model.cell`` accepts, what the contract test covers.

Book: 10.2 (eq. 10.8), 10.10 (gated cells), 10.9 (leaky units, skips through time, clockwork), 10.5 (deep
transition).
"""
from __future__ import annotations

from typing import Callable

from recnets.cells.book_gru import BookGRUCell
from recnets.cells.book_lstm import BookLSTMCell
from recnets.cells.clockwork import ClockworkCell
from recnets.cells.deep_transition import DeepTransitionCell
from recnets.cells.elman import ElmanCell
from recnets.cells.gru import GRUCell
from recnets.cells.irnn import identity_relu_rnn
from recnets.cells.layer_norm_lstm import LayerNormLSTMCell
from recnets.cells.leaky import LeakyCell
from recnets.cells.lstm import LSTMCell
from recnets.cells.recursive import RecursiveCell, RNTNCell
from recnets.cells.skip_time import SkipTimeCell
from recnets.cells.tree_lstm import ChildSumTreeLSTMCell, NaryTreeLSTMCell
from recnets.core.cell import Cell
from recnets.core.tree_cell import TreeCell

__all__ = ["CELLS", "TREE_CELLS", "make_cell", "make_tree_cell", "cell_names"]

# name -> (factory(input_size, hidden_size, **factory_kwargs), one-line description with the book's section)
CELLS: dict[str, tuple[Callable[..., Cell], str]] = {
    "elman": (ElmanCell, "tanh RNN, eq. 10.8 (fused kernel)"),
    "lstm": (LSTMCell, "LSTM in torch's layout, 10.10.1 (fused kernel)"),
    "gru": (GRUCell, "GRU in torch's layout, 10.10.2 (fused kernel)"),
    "book-lstm": (BookLSTMCell, "LSTM as printed, eqs. 10.40-10.44"),
    "book-lstm-peephole": (lambda d, h, **kw: BookLSTMCell(d, h, peepholes=True, **kw),
                           "LSTM as printed with diagonal peepholes, 10.10.1"),
    "layer-norm-lstm": (LayerNormLSTMCell, "LSTM with layer normalisation (Ba et al. 2016), 10.10.1"),
    "book-gru": (BookGRUCell, "GRU as printed, eqs. 10.45-10.47 (reset before the product)"),
    "leaky": (LeakyCell, "leaky units, fixed time constants 1..10 per unit, 10.9.2"),
    "leaky-learned": (lambda d, h, **kw: LeakyCell(d, h, tau=2.0, learn_tau=True, **kw),
                      "leaky units, learned time constants (τ = 1 + softplus(ρ), from 2), 10.9.2"),
    "skip-time": (SkipTimeCell, "tanh RNN with a skip connection from h(t-4), 10.9.1"),
    "clockwork": (ClockworkCell, "clockwork RNN, module periods 1, 2, 4, 8, 10.9.3 (Koutník et al. 2014)"),
    "deep-transition": (DeepTransitionCell, "two-layer tanh MLP as the transition, 10.5 Fig. 10.13b"),
    "deep-transition-shortcut": (lambda d, h, **kw: DeepTransitionCell(d, h, shortcut=True, **kw),
                                 "deep transition with a shortcut from h(t-1), 10.5 Fig. 10.13c"),
    "irnn": (identity_relu_rnn, "relu RNN with W = I, b = 0 (Le et al. 2015; fused kernel)"),
}


# Tree cells (Book: 10.6): what ``fold`` runs, what ``recnets train tree --model.cell`` accepts.
TREE_CELLS: dict[str, tuple[Callable[..., TreeCell], str]] = {
    "recursive": (RecursiveCell, "recursive net h = tanh(b + U x + W [h_1; ...; h_N]), N = 2, 10.6 Fig. 10.14"),
    "rntn": (RNTNCell, "recursive neural tensor network, binary (Socher et al. 2013), 10.6"),
    "child-sum-tree-lstm": (ChildSumTreeLSTMCell, "Child-Sum Tree-LSTM, any number of children (Tai et al. 2015)"),
    "nary-tree-lstm": (NaryTreeLSTMCell, "N-ary Tree-LSTM, ordered children, N = 2 (Tai et al. 2015)"),
}


def make_tree_cell(name: str, input_size: int, hidden_size: int, **factory_kwargs) -> TreeCell:
    """A new tree cell by registry name; unknown names raise a one-line ``ValueError`` listing the known ones."""
    if name not in TREE_CELLS:
        raise ValueError(f"cell: expected one of {', '.join(TREE_CELLS)}, got {name!r}")
    return TREE_CELLS[name][0](input_size, hidden_size, **factory_kwargs)


def cell_names() -> list[str]:
    """The registered cells' names, in registry order."""
    return list(CELLS)


def make_cell(name: str, input_size: int, hidden_size: int, **factory_kwargs) -> Cell:
    """A new cell by registry name; unknown names raise a one-line ``ValueError`` listing the known ones."""
    if name not in CELLS:
        raise ValueError(f"cell: expected one of {', '.join(CELLS)}, got {name!r}")
    return CELLS[name][0](input_size, hidden_size, **factory_kwargs)
