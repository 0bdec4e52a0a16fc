"""Explicit memory (Book: 10.12): neural Turing machine addressing and the NTM cell."""
from recnets.memory.addressing import content_weights, interpolate, read, sharpen, shift, write
from recnets.memory.ntm import NTMCell, NTMState

__all__ = ["NTMCell", "NTMState", "content_weights", "interpolate", "shift", "sharpen", "read", "write"]
