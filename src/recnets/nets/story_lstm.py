"""The LSTM baseline of question answering over stories: read the story's words, then the question's, as one
sequence; answer from the last state.

Book: 10.2 Fig. 10.5 (a sequence read to one output), 10.10.1 (the LSTM); Weston et al. 2015 and Sukhbaatar
et al. 2015 report this baseline on bAbI (50 / 80 / 80% test error on tasks 1-3 with 1k examples).
"""
from __future__ import annotations

from recnets.cells.lstm import LSTMCell
from recnets.nets.patterns import SequenceToOne

__all__ = ["story_lstm"]


def story_lstm(num_words: int, *, embedding_size: int = 50, hidden_size: int = 100) -> SequenceToOne:
    """An embedding of the V words, an LSTM and a readout to V answer logits.

    Args:
        num_words: V (id 0 the padding).
        embedding_size: D, the word vectors' size.
        hidden_size: H, the LSTM's units.

    Shapes:
        ``model(tokens (B, T), lengths=(B,)) -> (logits (B, V), final LSTMState)``: the flat batches of
        :class:`recnets.tasks.babi_views.FlatStoryBabiTask`.

    Book: 10.2 Fig. 10.5, 10.10.1.
    Deviations: the papers do not give the baseline's sizes; D = 50 and H = 100 are ours.
    """
    return SequenceToOne(LSTMCell(embedding_size, hidden_size), num_words, vocab_size=num_words)
