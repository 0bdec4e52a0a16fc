"""The core: cell protocol, state pytrees, the chain engine ``unroll`` (Book: 10.1)."""
from recnets.core.cell import Cell
from recnets.core.lengths import reverse_within_lengths
from recnets.core.state import (Hidden, concat_rows, detach_state, mask_state, reorder_state, state_from_flat,
                                state_to_flat, tree_leaves, tree_map)
from recnets.core.unroll import unroll

__all__ = ["Cell", "Hidden", "unroll", "tree_map", "tree_leaves", "mask_state", "detach_state", "reorder_state",
           "concat_rows", "state_to_flat", "state_from_flat", "reverse_within_lengths"]
