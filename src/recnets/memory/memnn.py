"""The original memory network (Weston, Chopra & Bordes 2014), strongly supervised with the supporting facts,
as applied to bAbI-style stories (Weston et al. 2015).

Book: 10.12 (memory networks were first trained with a supervision signal that told them which memory cells
to use; the end-to-end version, :mod:`recnets.memory.memn2n`, learns without it).

The four components, for a question x over a story:

- **I** (input feature map): Φ, a bag of words in a D = 3V + 3 dimensional space: every word has one
  coordinate when it is in the question, one when it is in a memory on the input side (a fact already
  chosen), and one when it is in the memory being scored; plus three write-time features (below).
- **G** (generalisation): each sentence is written to the next free slot, m_1..m_n in story order (the
  batch's rows 1..M are exactly that).
- **O** (output): k hops. o_1 = argmax_i s_O(x, m_i), o_2 = argmax_i s_O([x, m_o1], m_i), ...;
  s_O(x, y) = Φ_x(x)^T U_O^T U_O Φ_y(y) with U_O (n, D).
- **R** (response): r = argmax_w s_R([x, m_o1, .., m_ok], w), s_R of the same form with U_R (n, 3V) and
  Φ_y(w) the word w alone; the padding word is never an answer.

Write time (the paper's Section 3.4, needed where the order of facts decides the answer, bAbI tasks 2-3):
the argmax over memories becomes a loop that keeps a winner and challenges it with each memory in turn,
preferring y over y' when
    s_Ot(x, y, y') = Φ_x(x)^T U_O^T U_O (Φ_y(y) - Φ_y(y') + Φ_t(x, y, y')) > 0,
Φ_t holding three 0/1 features: x is older than y, x is older than y', y is older than y'. The write time of
x is that of the fact last added to it (the question's, after every sentence, for the first hop).

Training (strong supervision): the margin ranking loss with γ = 0.1, summed over *all* other memories and
*all* other words (not sampled negatives), each hop conditioned on the true facts before it:
    Σ_h Σ_{f̄ ≠ f_h} [max(0, γ - s_Ot(x_h, f_h, f̄)) + max(0, γ + s_Ot(x_h, f̄, f_h))]
    + Σ_{r̄ ≠ r} max(0, γ - s_R(x_K+, r) + s_R(x_K+, r̄)),
with x_h = [x, f_1, .., f_{h-1}] and x_K+ = [x, f_1, .., f_k]. At test time the hops choose by the loop
above, with no supervision.

Deviations: the stories record their supporting facts in story order, which is not always the order of
reasoning (in "where is the football?" the fact about the football can come after the carrier's move), so
the hops are supervised with the set of facts and each hop's target is the supporting fact not yet used that
the model itself prefers (the loop above run over them alone): a latent order, where the paper fixed one.
Weights start from N(0, 0.1²) (the paper does not say).
"""
from __future__ import annotations

from typing import Any, NamedTuple

import torch
from torch import Tensor, nn

from recnets.cells._init import check_sizes
from recnets.memory.story_batch import bag_of_words, split_story

__all__ = ["MemNN", "MemNNOutput", "SupervisedScores", "margin_ranking_loss", "MARGIN", "write_time_features"]

MARGIN = 0.1  # γ, Weston et al. 2014


class SupervisedScores(NamedTuple):
    """What the margin ranking loss needs, each hop conditioned on the true facts before it.

    Shapes (M' <= M: the rows up to the batch's longest story):
        preferred (B, K, M'): s_Ot(x_h, f_h, i) for every memory row i.
        against (B, K, M'): s_Ot(x_h, i, f_h).
        negatives (B, K, M') bool: real rows i ≠ f_h of hops that have a fact f_h.
        facts (B, K) int64: f_h, the row each hop was supervised with (-1: none).
        answer_scores (B, V): s_R(x_K+, w); answer (B,) int64: r.
    """

    preferred: Tensor
    against: Tensor
    negatives: Tensor
    facts: Tensor
    answer_scores: Tensor
    answer: Tensor


class MemNNOutput(NamedTuple):
    """``answer (B, V)``: s_R over words with the hops the model chose (the padding word at the dtype's
    minimum), ``hops (B, K)``: the rows chosen, both None in training mode when ``supervised`` is there;
    ``supervised``: the scores of :class:`SupervisedScores` when targets were given."""

    answer: Tensor | None
    hops: Tensor | None
    supervised: SupervisedScores | None


def write_time_features(x_time: Tensor, y_time: Tensor, other_time: Tensor) -> Tensor:
    """Φ_t(x, y, y'): [x older than y, x older than y', y older than y'] as 0/1, ``(...,) -> (..., 3)``.

    Older means written earlier: a smaller write time (the story row; the question after every row).
    """
    return torch.stack([x_time < y_time, x_time < other_time, y_time < other_time], -1)


class MemNN(nn.Module):
    """Memory network with k supervised hops: ``model(inputs, lengths=, targets=) -> (MemNNOutput, None)``.

    Args:
        num_words: V (id 0 the padding word).
        hops: k, the number of supporting facts the task needs.
        embedding_size: n, the rows of U_O and U_R.
        init_std: the N(0, σ²) of U_O and U_R.

    Parameters:
        U_O (n, 3V + 3): columns [question words | chosen-fact words | scored-memory words | Φ_t].
        U_R (n, 3V): columns [question words | chosen-fact words | answer word].

    Shapes:
        inputs (B, 1 + M, L) int64 ids, lengths (B,) >= 1, targets (B, 1 + K'): column 0 the answer id,
        columns 1.. the supporting facts' rows (-1 padded; K' >= 1).

    Book: 10.12; Weston, Chopra & Bordes 2014, Sections 2-3; Weston et al. 2015 (bAbI).
    """

    def __init__(self, num_words: int, *, hops: int, embedding_size: int = 50, init_std: float = 0.1,
                 device=None, dtype=None) -> None:
        super().__init__()
        check_sizes(num_words=num_words, hops=hops, embedding_size=embedding_size)
        self.num_words, self.hops, self.embedding_size = num_words, hops, embedding_size
        factory = {"device": device, "dtype": dtype}
        self.U_O = nn.Parameter(torch.empty(embedding_size, 3 * num_words + 3, **factory).normal_(0.0, init_std))
        self.U_R = nn.Parameter(torch.empty(embedding_size, 3 * num_words, **factory).normal_(0.0, init_std))

    def initial_state(self, batch_size: int, *, device=None, dtype=None) -> None:
        """No recurrent state: each question reads its own story."""
        return None

    # ------------------------------------------------------------------------------------------ scores
    def _blocks(self, U: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        V = self.num_words
        return U[:, :V], U[:, V:2 * V], U[:, 2 * V:3 * V]  # question, chosen facts, scored item: (n, V) each

    def input_vector(self, U: Tensor, question_bag: Tensor, facts_bag: Tensor) -> Tensor:
        """U Φ_x([x, facts]): ``(B, V)`` word counts of the question and of the chosen facts -> (B, n)."""
        question_block, fact_block, _ = self._blocks(U)
        return question_bag @ question_block.T + facts_bag @ fact_block.T

    def memory_vectors(self, memory_bags: Tensor) -> Tensor:
        """U_O Φ_y(m_i) of every memory: ``(B, M, V)`` word counts -> (B, M, n)."""
        return memory_bags @ self._blocks(self.U_O)[2].T

    @staticmethod
    def match_scores(x_vector: Tensor, memory_vectors: Tensor) -> Tensor:
        """g_i = (U_O Φ_x(x)) · (U_O Φ_y(m_i)): ``x_vector (B, n)``, ``memory_vectors (B, M, n)`` -> (B, M)."""
        return torch.einsum("bmn,bn->bm", memory_vectors, x_vector)

    def time_weights(self, x_vector: Tensor) -> Tensor:
        """(U_O Φ_x(x)) · (U_O e_f) for the three write-time features f: (B, n) -> (B, 3)."""
        return x_vector @ self.U_O[:, 3 * self.num_words:]

    @staticmethod
    def preference(match: Tensor, time_weights: Tensor, x_time: Tensor, y: Tensor, other: Tensor) -> Tensor:
        """s_Ot(x, y, y') = g_y - g_y' + (U_O Φ_x(x)) · (U_O Φ_t(x, y, y')) for memory rows y, y'.

        Shapes:
            match (B, M), time_weights (B, 3), x_time (B,), y and other (B, ...) row indices -> (B, ...).
        """
        extra = (1,) * (y.dim() - 1)
        features = write_time_features(x_time.view(-1, *extra), y, other).to(match.dtype)  # (B, ..., 3)
        batch = match.shape[0]
        difference = match.gather(1, y.reshape(batch, -1)).view_as(y) - match.gather(1, other.reshape(batch, -1)).view_as(other)
        return difference + (features * time_weights.view(-1, *extra, 3)).sum(-1)

    def _winner(self, match: Tensor, time_weights: Tensor, x_time: Tensor, candidates: Tensor,
                allowed: Tensor) -> Tensor:
        """The loop: keep a winner, challenge it with each allowed candidate in turn (y = winner, y' = the
        challenger); ``candidates (B, C)`` rows in story order, ``allowed (B, C)`` -> rows (B,), -1 if none."""
        winner = torch.full_like(candidates[:, 0], -1)
        for column in range(candidates.shape[1]):
            challenger, ok = candidates[:, column], allowed[:, column]
            keeps = self.preference(match, time_weights, x_time, winner.clamp_min(0), challenger) > 0
            takes = ok & ((winner < 0) | ~keeps)
            winner = torch.where(takes, challenger, winner)
        return winner

    # ------------------------------------------------------------------------------------------ forward
    def forward(self, inputs: Tensor, *, lengths: Tensor | None = None, state: Any = None,
                targets: Tensor | None = None) -> tuple[MemNNOutput, None]:
        """``(MemNNOutput, None)``; the hops the model chooses never read ``targets``."""
        question, story, lengths, real = split_story(inputs, lengths, self.num_words)
        if lengths.device.type == "cpu" and int(lengths.min()) < 1:
            raise ValueError(f"lengths: expected every story to hold >= 1 sentence, got {int(lengths.min())}")
        used = int(lengths.max())  # rows past every story are padding
        story, real = story[:, :used], real[:, :used]  # (B, M', L), (B, M')
        dtype = self.U_O.dtype
        question_bag = bag_of_words(question, self.num_words, dtype)  # (B, V)
        memory_bags = bag_of_words(story, self.num_words, dtype)  # (B, M', V)
        memory_vectors = self.memory_vectors(memory_bags)  # (B, M', n)
        supervised = None if targets is None else self._supervised(question_bag, memory_bags, memory_vectors, lengths,
                                                                     real, targets)
        if supervised is not None and self.training:
            return MemNNOutput(None, None, supervised), None
        answer, hops = self._infer(question_bag, memory_bags, memory_vectors, lengths, real)
        return MemNNOutput(answer, hops, supervised), None

    def _infer(self, question_bag: Tensor, memory_bags: Tensor, memory_vectors: Tensor, lengths: Tensor,
               real: Tensor) -> tuple[Tensor, Tensor]:
        """The hops by the loop over memories, then R: ``(answer scores (B, V), hops (B, K))``."""
        batch, rows = real.shape
        all_rows = torch.arange(rows, device=real.device).expand(batch, rows)  # (B, M)
        facts_bag = torch.zeros_like(question_bag)
        x_time = lengths  # the question is written after every sentence
        hops = []
        for _ in range(self.hops):
            x_vector = self.input_vector(self.U_O, question_bag, facts_bag)
            row = self._winner(self.match_scores(x_vector, memory_vectors), self.time_weights(x_vector), x_time,
                               all_rows, real)
            hops.append(row)
            facts_bag = facts_bag + memory_bags[torch.arange(batch, device=row.device), row]
            x_time = row
        return self.answer_scores(question_bag, facts_bag), torch.stack(hops, 1)

    def answer_scores(self, question_bag: Tensor, facts_bag: Tensor) -> Tensor:
        """s_R([x, facts], w) for every word w: (B, V), the padding word at the dtype's minimum."""
        x_vector = self.input_vector(self.U_R, question_bag, facts_bag)  # (B, n)
        scores = x_vector @ self._blocks(self.U_R)[2]  # (B, V)
        return scores.masked_fill(torch.arange(self.num_words, device=scores.device) == 0, torch.finfo(scores.dtype).min)

    def _supervised(self, question_bag: Tensor, memory_bags: Tensor, memory_vectors: Tensor, lengths: Tensor,
                    real: Tensor, targets: Tensor) -> SupervisedScores:
        """Each hop conditioned on the true facts before it; the hop's own fact is the unused supporting fact
        the model prefers (see Deviations)."""
        if targets.dim() != 2 or targets.shape[0] != question_bag.shape[0] or targets.shape[1] < 2:
            raise ValueError(f"targets: expected shape (B, 1 + K) with K >= 1 supporting-fact columns, "
                             f"got {tuple(targets.shape)}")
        batch, rows = real.shape
        index = torch.arange(batch, device=real.device)
        supporting = targets[:, 1:].sort(1).values  # (B, K'): story order, -1 first
        unused = (supporting >= 0) & (supporting < lengths.unsqueeze(1))
        all_rows = torch.arange(rows, device=real.device).expand(batch, rows)
        facts_bag = torch.zeros_like(question_bag)
        x_time = lengths
        preferred, against, negatives, facts = [], [], [], []
        for _ in range(self.hops):
            x_vector = self.input_vector(self.U_O, question_bag, facts_bag)
            match, time_weights = self.match_scores(x_vector, memory_vectors), self.time_weights(x_vector)
            with torch.no_grad():
                fact = self._winner(match, time_weights, x_time, supporting.clamp_min(0), unused)  # (B,)
            has_fact = fact >= 0
            safe = fact.clamp_min(0).unsqueeze(1).expand(batch, rows)  # (B, M)
            preferred.append(self.preference(match, time_weights, x_time, safe, all_rows))
            against.append(self.preference(match, time_weights, x_time, all_rows, safe))
            negatives.append(real & (all_rows != safe) & has_fact.unsqueeze(1))
            facts.append(fact)
            unused = unused & (supporting != fact.unsqueeze(1))
            facts_bag = facts_bag + memory_bags[index, fact.clamp_min(0)] * has_fact.unsqueeze(1).to(facts_bag.dtype)
            x_time = torch.where(has_fact, fact, x_time)
        answer = targets[:, 0]
        return SupervisedScores(torch.stack(preferred, 1), torch.stack(against, 1), torch.stack(negatives, 1),
                                torch.stack(facts, 1), self.answer_scores(question_bag, facts_bag), answer)


def margin_ranking_loss(scores: SupervisedScores, margin: float = MARGIN) -> Tensor:
    """The strongly supervised loss of each question (B,): hops' and answer's hinge terms, all negatives.

    Σ_h Σ_{f̄} [max(0, γ - s_Ot(x_h, f_h, f̄)) + max(0, γ + s_Ot(x_h, f̄, f_h))]
    + Σ_{r̄ ≠ r, r̄ ≠ padding} max(0, γ - s_R(r) + s_R(r̄)).

    Book: 10.12; Weston, Chopra & Bordes 2014, eqs. (8)-(10) and Section 3.4.
    """
    hop_terms = (torch.relu(margin - scores.preferred) + torch.relu(margin + scores.against)) * scores.negatives
    answer_scores = scores.answer_scores
    words = torch.arange(answer_scores.shape[1], device=answer_scores.device)
    others = (words != scores.answer.unsqueeze(1)) & (words != 0)  # (B, V)
    correct = answer_scores.gather(1, scores.answer.unsqueeze(1))  # (B, 1)
    answer_terms = torch.relu(margin - correct + answer_scores.masked_fill(~others, 0.0)) * others
    return hop_terms.sum((1, 2)) + answer_terms.sum(1)
