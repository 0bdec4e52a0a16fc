"""Cells: one transition each, no loop (Book: 10.2, 10.10)."""
from recnets.cells.book_gru import BookGRUCell
from recnets.cells.book_lstm import BookLSTMCell
from recnets.cells.elman import ElmanCell
from recnets.cells.gru import GRUCell
from recnets.cells.lstm import LSTMCell, LSTMState
from recnets.cells.registry import CELLS, cell_names, make_cell

__all__ = ["ElmanCell", "LSTMCell", "LSTMState", "GRUCell", "BookLSTMCell", "BookGRUCell", "CELLS", "cell_names", "make_cell"]
