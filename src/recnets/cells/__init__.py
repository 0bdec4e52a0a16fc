"""Cells: one transition each, no loop (Book: 10.2, 10.10); tree cells: one composition each (Book: 10.6)."""
from recnets.cells.book_gru import BookGRUCell
from recnets.cells.book_lstm import BookLSTMCell
from recnets.cells.elman import ElmanCell
from recnets.cells.gru import GRUCell
from recnets.cells.lstm import LSTMCell, LSTMState
from recnets.cells.registry import CELLS, TREE_CELLS, cell_names, make_cell, make_tree_cell
from recnets.cells.recursive import RecursiveCell, RNTNCell
from recnets.cells.tree_lstm import ChildSumTreeLSTMCell, NaryTreeLSTMCell
from recnets.cells.leaky import LeakyCell, geometric_time_constants
from recnets.cells.skip_time import DelayLine, SkipTimeCell
from recnets.cells.clockwork import ClockworkCell, ClockworkState, default_periods
from recnets.cells.deep_transition import DeepTransitionCell
from recnets.cells.irnn import identity_relu_rnn

__all__ = ["ElmanCell", "LSTMCell", "LSTMState", "GRUCell", "BookLSTMCell", "BookGRUCell", "CELLS", "cell_names", "make_cell"]
__all__ += ["LeakyCell", "geometric_time_constants", "SkipTimeCell", "DelayLine", "ClockworkCell", "ClockworkState",
            "default_periods", "DeepTransitionCell", "identity_relu_rnn"]
__all__ += ["TREE_CELLS", "make_tree_cell", "RecursiveCell", "RNTNCell", "ChildSumTreeLSTMCell", "NaryTreeLSTMCell"]
from recnets.cells.layer_norm_lstm import LayerNormLSTMCell  # noqa: E402

__all__ += ["LayerNormLSTMCell"]
