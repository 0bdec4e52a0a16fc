"""The core: cell protocol, state pytrees, the chain engine ``unroll`` (Book: 10.1) and the tree engine ``fold``
(Book: 10.6)."""
from recnets.core.cell import Cell
from recnets.core.lengths import reverse_within_lengths
from recnets.core.state import (Hidden, concat_rows, detach_state, mask_state, reorder_state, state_from_flat,
                                state_to_flat, tree_leaves, tree_map)
from recnets.core.unroll import unroll
from recnets.core.fold import Folded, fold, fold_recursively
from recnets.core.tree import Tree, TreeSyntaxError, binarize, parse_tree, parse_trees, to_sexpr, tree_from_ast
from recnets.core.tree_batch import FlatTree, TreeBatch, batch_trees, flatten_tree
from recnets.core.tree_cell import TreeCell

__all__ = ["Cell", "Hidden", "unroll", "tree_map", "tree_leaves", "mask_state", "detach_state", "reorder_state",
           "concat_rows", "state_to_flat", "state_from_flat", "reverse_within_lengths"]
__all__ += ["fold", "fold_recursively", "Folded", "Tree", "TreeSyntaxError", "parse_tree", "parse_trees", "to_sexpr",
            "binarize", "tree_from_ast", "FlatTree", "TreeBatch", "batch_trees", "flatten_tree", "TreeCell"]
from recnets.core.step_decoder import DecoderStep, LengthDecoder, StepDecoder

__all__ += ["StepDecoder", "LengthDecoder", "DecoderStep"]
from recnets.core.checkpointed_unroll import checkpointed_unroll, default_segment, segment_bounds

__all__ += ["checkpointed_unroll", "default_segment", "segment_bounds"]
from recnets.core.bptt_kernels import BPTTKernel, bptt_kernel_for, register_bptt

__all__ += ["BPTTKernel", "bptt_kernel_for", "register_bptt"]
