"""Cells by name: what ``recnets list`` shows, what ``--model.cell`` accepts, what the contract test covers.

Book: 10.2 (eq. 10.8), 10.10 (gated cells).
"""
from __future__ import annotations

from typing import Callable

from recnets.cells.book_gru import BookGRUCell
from recnets.cells.book_lstm import BookLSTMCell
from recnets.cells.elman import ElmanCell
from recnets.cells.gru import GRUCell
from recnets.cells.lstm import LSTMCell
from recnets.core.cell import Cell

__all__ = ["CELLS", "make_cell", "cell_names"]

# name -> (factory(input_size, hidden_size, **factory_kwargs), one-line description with the book's section)
CELLS: dict[str, tuple[Callable[..., Cell], str]] = {
    "elman": (ElmanCell, "tanh RNN, eq. 10.8 (fused kernel)"),
    "lstm": (LSTMCell, "LSTM in torch's layout, 10.10.1 (fused kernel)"),
    "gru": (GRUCell, "GRU in torch's layout, 10.10.2 (fused kernel)"),
    "book-lstm": (BookLSTMCell, "LSTM as printed, eqs. 10.40-10.44"),
    "book-lstm-peephole": (lambda d, h, **kw: BookLSTMCell(d, h, peepholes=True, **kw),
                           "LSTM as printed with diagonal peepholes, 10.10.1"),
    "book-gru": (BookGRUCell, "GRU as printed, eqs. 10.45-10.47 (reset before the product)"),
}


def cell_names() -> list[str]:
    """The registered cells' names, in registry order."""
    return list(CELLS)


def make_cell(name: str, input_size: int, hidden_size: int, **factory_kwargs) -> Cell:
    """A new cell by registry name; unknown names raise a one-line ``ValueError`` listing the known ones."""
    if name not in CELLS:
        raise ValueError(f"cell: expected one of {', '.join(CELLS)}, got {name!r}")
    return CELLS[name][0](input_size, hidden_size, **factory_kwargs)
