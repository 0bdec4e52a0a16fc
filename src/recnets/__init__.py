"""recnets: every model of Chapter 10 of Goodfellow, Bengio & Courville, *Deep Learning*."""
from recnets.cells import (BookGRUCell, BookLSTMCell, ChildSumTreeLSTMCell, ClockworkCell, DeepTransitionCell,
                           ElmanCell, GRUCell, LeakyCell, LSTMCell, LSTMState, NaryTreeLSTMCell, RecursiveCell, RNTNCell,
                           SkipTimeCell, identity_relu_rnn)
from recnets.core import (Cell, Hidden, Tree, TreeCell, batch_trees, detach_state, flatten_tree, fold, mask_state,
                          parse_tree, reorder_state, tree_map, unroll)
from recnets.beam_search import beam_search
from recnets.decode import ancestral_sample, greedy_decode, sample, sequence_log_likelihood

__version__ = "0.1.0"
__all__ = ["Cell", "Hidden", "unroll", "tree_map", "mask_state", "detach_state", "reorder_state",
           "ElmanCell", "LSTMCell", "LSTMState", "GRUCell", "BookLSTMCell", "BookGRUCell", "LeakyCell",
           "SkipTimeCell", "ClockworkCell", "DeepTransitionCell", "identity_relu_rnn",
           "Tree", "parse_tree", "flatten_tree", "batch_trees", "fold", "TreeCell", "RecursiveCell", "RNTNCell",
           "ChildSumTreeLSTMCell", "NaryTreeLSTMCell",
           "greedy_decode", "ancestral_sample", "beam_search", "sample", "sequence_log_likelihood"]
