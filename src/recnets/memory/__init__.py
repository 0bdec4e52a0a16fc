"""Explicit memory (Book: 10.12): neural Turing machine addressing and cell, the per-sequence NTM (oracle and
baseline), end-to-end memory networks and the strongly supervised memory network."""
from recnets.memory.addressing import content_weights, interpolate, read, sharpen, shift, write
from recnets.memory.memn2n import LinearStart, LinearStartCallback, MemN2N
from recnets.memory.memnn import MemNN, MemNNOutput, margin_ranking_loss
from recnets.memory.ntm import NTMCell, NTMState
from recnets.memory.ntm_per_sequence import SequenceMemory, ntm_sequence

__all__ = ["NTMCell", "NTMState", "content_weights", "interpolate", "shift", "sharpen", "read", "write",
           "ntm_sequence", "SequenceMemory", "MemN2N", "LinearStart", "LinearStartCallback", "MemNN", "MemNNOutput",
           "margin_ranking_loss"]
