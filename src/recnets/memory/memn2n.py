"""The end-to-end memory network (Sukhbaatar, Szlam, Weston & Fergus 2015) for question answering.

Book: 10.12 (memory networks: an explicit memory read by soft, content-based attention; trained end to end,
without being told which memories to use).

A story's sentences x_1..x_n are written to memory slots as input vectors m_i = Σ_j A x_ij and output vectors
c_i = Σ_j C x_ij; the question q becomes u = Σ_j B q_j. One hop reads
    p_i = softmax_i(u^T m_i),   o = Σ_i p_i c_i,   u' = u + o
and K hops chain (A^k, C^k per hop); the answer logits are â = W (o^K + u^K) over the vocabulary (the loss
applies the final softmax). Options, each the paper's (its Section 4.1):

- **position encoding** (PE): m_i = Σ_j l_j ∘ A x_ij with l_kj = (1 - j/J) - (k/d)(1 - 2j/J), j = 1..J the
  word's position in its sentence of J words, k = 1..d the embedding dimension (the same for u and c_i);
  bag of words (BoW) otherwise.
- **temporal encoding** (TE): m_i += T_A(i), c_i += T_C(i), learned rows indexed by the sentence's age,
  i = 1 for the most recent sentence; **random noise** (RN): at training time the ages are drawn as if
  ``random_noise`` (10%) empty memories had been inserted at random among the sentences.
- **tying**: adjacent (A^{k+1} = C^k, W^T = C^K, B = A^1; T_A and T_C tied the same way) or layer-wise
  (A^k = A, C^k = C for every hop, u^{k+1} = H u^k + o^k with a learned H; B and W their own).
- **linear start** (LS): every hop's softmax removed (p_i = u^T m_i) until :meth:`MemN2N.end_linear_start`;
  :class:`LinearStart` decides when (the first validation whose loss does not decrease, as the paper did).

Weights start from N(0, 0.1²) as in the paper. Sentences are their words followed by padding (id 0); J is
the number of words before the padding.

Deviations: padding words are masked out of every sum rather than kept as a zero row (the authors' code
zeroes that row after every update: the same sums); with RN an age
beyond the last temporal row is clamped to it (as the authors' code does); RN's number of empty memories is
drawn as the authors' code draws it (:func:`sentence_ages`), where the paper says "10%".
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from recnets.cells._init import check_sizes
from recnets.memory.story_batch import split_story

__all__ = ["MemN2N", "LinearStart", "LinearStartCallback", "position_encoding", "sentence_ages", "TYINGS"]

TYINGS = ("adjacent", "layerwise")


def position_encoding(words: Tensor, max_length: int, embedding_size: int, dtype: torch.dtype = torch.float32) -> Tensor:
    """The PE weights l_kj = (1 - j/J) - (k/d)(1 - 2j/J) of sentences with J = ``words`` words, 0 past J.

    Args:
        words: J of each sentence, ``(...)`` integers (0 gives all zeros).
        max_length: L, the padded sentence length.
        embedding_size: d.

    Shapes:
        returns (..., L, d): entry [..., j - 1, k - 1] = l_kj (1-based j and k, as in the paper).

    Book: 10.12; Sukhbaatar et al. 2015, Section 4.1.
    """
    J = words.to(dtype).clamp_min(1).unsqueeze(-1)  # (..., 1)
    j = torch.arange(1, max_length + 1, dtype=dtype, device=words.device)  # (L,)
    k = torch.arange(1, embedding_size + 1, dtype=dtype, device=words.device)  # (d,)
    weights = (1 - j / J).unsqueeze(-1) - (k / embedding_size) * (1 - 2 * j / J).unsqueeze(-1)  # (..., L, d)
    return weights * (j <= words.unsqueeze(-1)).unsqueeze(-1)


def sentence_ages(lengths: Tensor, memory_rows: int, *, random_noise: float = 0.0,
                  generator: torch.Generator | None = None) -> Tensor:
    """The temporal index (age) of each memory row: 0 for the most recent sentence, n - 1 for the oldest.

    Args:
        lengths: n, sentences per story (B,); row p < n holds sentence p (oldest first).
        memory_rows: M.
        random_noise: the fraction of empty memories inserted at random: a story of n sentences gets e extra
            slots, e uniform in {0, .., ⌈noise · n⌉ - 1} (as the authors' code draws it: none for n <= 10 at
            noise 0.1), the n sentences take a random ordered subset of the n + e slots, and the ages are the
            slots' (order kept, gaps where the empty memories went).
        generator: a CPU generator for the random slots (torch's global one when None).

    Returns:
        ages (B, M) int64; rows past n get 0 (they are masked out).

    Book: 10.12; Sukhbaatar et al. 2015, Section 4.1 (temporal encoding, random noise).
    """
    batch, device = lengths.shape[0], lengths.device
    rows = torch.arange(memory_rows, device=device)  # (M,)
    reversed_rows = (lengths.unsqueeze(1) - 1 - rows).clamp_min(0)  # (B, M): n - 1 - p
    if random_noise <= 0:
        return reversed_rows
    most = torch.ceil(random_noise * lengths.double()).clamp_min(1)  # (B,): e < ⌈noise · n⌉
    extra = (torch.rand(batch, generator=generator, dtype=torch.float64).to(device) * most).long()  # (B,)
    slots = memory_rows + math.ceil(random_noise * memory_rows)
    keys = torch.rand(batch, slots, generator=generator).to(device)  # drawn on the CPU: the same on every device
    keys = keys.masked_fill(torch.arange(slots, device=device) >= (lengths + extra).unsqueeze(1), 2.0)
    chosen = keys.argsort(1)[:, :memory_rows]  # (B, M): the first n are n distinct slots among the n + extra
    chosen = chosen.masked_fill(rows >= lengths.unsqueeze(1), slots)
    ordered = chosen.sort(1).values  # (B, M): the n chosen slots ascending, then fill
    ages = ordered.gather(1, reversed_rows)  # sentence p takes the (n - 1 - p)-th smallest slot
    return ages.masked_fill(rows >= lengths.unsqueeze(1), 0)


class MemN2N(nn.Module):
    """End-to-end memory network with K hops: ``model(inputs, lengths=) -> (answer logits (B, V), None)``.

    Args:
        num_words: V (id 0 the padding word).
        embedding_size: d (the paper's bAbI runs: 20).
        hops: K (the paper's: 3).
        memory_size: rows of the temporal tables T_A, T_C; stories may hold at most this many sentences.
        position_encoding: PE sentence vectors; bag of words when False.
        temporal_encoding: add T_A(age), T_C(age).
        random_noise: RN's fraction of empty memories at training time (the paper: 0.1; 0 = off).
        tying: ``"adjacent"`` or ``"layerwise"``.
        linear_start: start without the hops' softmax (LS); :meth:`end_linear_start` puts it in.
        init_std: the N(0, σ²) of every weight (the paper: 0.1).

    Parameters (1-based hop k, as in the paper; :meth:`A`, :meth:`C`, :meth:`B`, :meth:`W`, :meth:`T_A`,
    :meth:`T_C` return the tensor each symbol is):
        adjacent: ``embeddings[0..K]`` (V, d) with A^k = embeddings[k - 1], C^k = embeddings[k], B = A^1,
        W = (C^K)^T; ``temporal[0..K]`` (memory_size, d) tied the same way.
        layerwise: ``embeddings = [A, C, B, W^T]``, ``temporal = [T_A, T_C]``, ``H`` (d, d).
        ``temporal`` is empty without temporal encoding.

    Shapes:
        inputs (B, 1 + M, L) int64 ids (row 0 the question), lengths (B,) -> logits (B, V).

    Book: 10.12; Sukhbaatar et al. 2015, Sections 2, 4.1, 4.2.
    """

    def __init__(self, num_words: int, *, embedding_size: int = 20, hops: int = 3, memory_size: int = 50,
                 position_encoding: bool = False, temporal_encoding: bool = True, random_noise: float = 0.0,
                 tying: str = "adjacent", linear_start: bool = False, init_std: float = 0.1,
                 device=None, dtype=None) -> None:
        super().__init__()
        check_sizes(num_words=num_words, embedding_size=embedding_size, hops=hops, memory_size=memory_size)
        if tying not in TYINGS:
            raise ValueError(f"tying: expected one of {TYINGS}, got {tying!r}")
        if not 0 <= random_noise < 1:
            raise ValueError(f"random_noise: expected a fraction in [0, 1), got {random_noise!r}")
        if random_noise and not temporal_encoding:
            raise ValueError(f"random_noise: expected 0 without temporal_encoding (it perturbs the ages), "
                             f"got {random_noise!r}")
        self.num_words, self.embedding_size, self.hops, self.memory_size = num_words, embedding_size, hops, memory_size
        self.position_encoding, self.temporal_encoding = position_encoding, temporal_encoding
        self.random_noise, self.tying, self.linear_start = random_noise, tying, linear_start
        factory = {"device": device, "dtype": dtype}

        def normal(*shape: int) -> nn.Parameter:
            return nn.Parameter(torch.empty(*shape, **factory).normal_(0.0, init_std))

        if tying == "adjacent":  # temporal tables tied like the embeddings; none without temporal encoding
            self.embeddings = nn.ParameterList([normal(num_words, embedding_size) for _ in range(hops + 1)])
            self._writers = hops + 1  # embeddings[i] (with temporal[i]) writes memories for i < this
            self.H = None
            # (A index, C index) per hop, into embeddings and temporal alike; B's and W^T's index
            self._hop_index = [(k, k + 1) for k in range(hops)]
            self._question_index, self._answer_index = 0, hops
        else:
            self.embeddings = nn.ParameterList([normal(num_words, embedding_size) for _ in range(4)])  # A, C, B, W^T
            self._writers = 2
            self.H = normal(embedding_size, embedding_size)
            self._hop_index = [(0, 1)] * hops
            self._question_index, self._answer_index = 2, 3
        rows = self._writers if temporal_encoding else 0
        self.temporal = nn.ParameterList([normal(memory_size, embedding_size) for _ in range(rows)])

    # ------------------------------------------------------------------------------------ the paper's symbols
    def A(self, k: int) -> Tensor:  # noqa: N802 - the paper's symbol
        """A^k (V, d), hop k = 1..K."""
        return self.embeddings[self._hop_index[k - 1][0]]

    def C(self, k: int) -> Tensor:  # noqa: N802
        """C^k (V, d), hop k = 1..K."""
        return self.embeddings[self._hop_index[k - 1][1]]

    def T_A(self, k: int) -> Tensor:  # noqa: N802
        """T_A^k (memory_size, d), hop k = 1..K."""
        return self.temporal[self._hop_index[k - 1][0]]

    def T_C(self, k: int) -> Tensor:  # noqa: N802
        """T_C^k (memory_size, d), hop k = 1..K."""
        return self.temporal[self._hop_index[k - 1][1]]

    def B(self) -> Tensor:  # noqa: N802
        """B (V, d), the question embedding."""
        return self.embeddings[self._question_index]

    def W(self) -> Tensor:  # noqa: N802
        """W (V, d) as stored: â = W (o^K + u^K) is ``linear(o + u, W())``."""
        return self.embeddings[self._answer_index]

    # ------------------------------------------------------------------------------------------ forward
    def initial_state(self, batch_size: int, *, device=None, dtype=None) -> None:
        """No recurrent state: each question reads its own story."""
        return None

    def end_linear_start(self) -> None:
        """Put the softmax back into every hop (the end of linear start)."""
        self.linear_start = False

    def word_weights(self, ids: Tensor) -> Tensor:
        """Each sentence as weights over the vocabulary, padding words left out: ``ids (..., L)`` -> ``(..., P, V)``.

        BoW (P = 1): word counts. PE (P = 2): since l_kj = α_j + (k/d) β_j with α_j = 1 - j/J and
        β_j = 2j/J - 1, the sentence vector Σ_j l_j ∘ A x_j is (Σ_j α_j x_j) A + (k/d) ∘ (Σ_j β_j x_j) A, so
        the two rows are Σ_j α_j x_j and Σ_j β_j x_j (x_j one-hot): one small product for all the embeddings
        instead of a (L, d) weighting of every word under each.
        """
        words = (ids != 0).to(self._dtype())  # (..., L)
        if self.position_encoding:
            J = words.sum(-1, keepdim=True).clamp_min(1)  # (..., 1)
            j = torch.arange(1, ids.shape[-1] + 1, dtype=words.dtype, device=ids.device)  # (L,)
            weights = torch.stack([(1 - j / J) * words, (2 * j / J - 1) * words], -2)  # (..., 2, L)
        else:
            weights = words.unsqueeze(-2)  # (..., 1, L)
        bags = torch.zeros(*weights.shape[:-1], self.num_words, dtype=words.dtype, device=ids.device)
        return bags.scatter_add_(-1, ids.unsqueeze(-2).expand(weights.shape), weights)  # (..., P, V)

    def sentence_vectors(self, weights: Tensor, embedding: Tensor) -> Tensor:
        """Σ_j A x_j (BoW) or Σ_j l_j ∘ A x_j (PE) from :meth:`word_weights`: ``(..., P, V)`` -> ``(..., d)``;
        with X embeddings side by side, ``embedding (V, X d)`` gives (..., X d), X sentence vectors."""
        parts = (weights @ embedding).unbind(-2)  # P of (..., X d)
        if self.position_encoding:
            d = self.embedding_size
            k = torch.arange(1, d + 1, dtype=parts[0].dtype, device=parts[0].device)
            return parts[0] + (k / d).repeat(embedding.shape[1] // d) * parts[1]
        return parts[0]

    def _dtype(self) -> torch.dtype:
        return self.embeddings[0].dtype

    def _attention_weights(self, scores: Tensor, real: Tensor) -> Tensor:
        """p (B, M): softmax over the real rows (linear start: the scores themselves), 0 on padding rows."""
        if self.linear_start:
            return scores * real
        return torch.softmax(scores.masked_fill(~real, torch.finfo(scores.dtype).min), -1) * real

    def _read(self, inputs: Tensor, lengths: Tensor | None) -> tuple[Tensor, Tensor]:
        """The hops: ``(logits (B, V), attention (B, K, M))``."""
        question, story, lengths, real = split_story(inputs, lengths, self.num_words)
        rows = story.shape[1]
        if self.temporal_encoding and rows > self.memory_size:
            raise ValueError(f"inputs: expected at most memory_size = {self.memory_size} story rows with temporal "
                             f"encoding, got {rows}")
        used = max(int(lengths.max()), 1) if lengths.numel() else 1  # rows past every story are padding
        story, real = story[:, :used], real[:, :used]  # (B, M', L), (B, M')
        noise = self.random_noise if self.training else 0.0
        ages = sentence_ages(lengths, used, random_noise=noise).clamp_max(self.memory_size - 1)  # (B, M')
        # every embedding that writes memories at once: embeddings[i] with temporal[i], i < self._writers
        count = self._writers
        writers = torch.cat([self.embeddings[i] for i in range(count)], 1)  # (V, X d)
        vectors = self.sentence_vectors(self.word_weights(story), writers)  # (B, M', X d)
        if self.temporal_encoding:
            vectors = vectors + nn.functional.embedding(ages, torch.cat([self.temporal[i] for i in range(count)], 1))
        vectors = vectors.view(*vectors.shape[:2], count, self.embedding_size).unbind(2)  # X of (B, M', d)
        u = self.sentence_vectors(self.word_weights(question), self.B())  # (B, d)
        attention = []
        for a_index, c_index in self._hop_index:
            m, c = vectors[a_index], vectors[c_index]  # (B, M', d)
            p = self._attention_weights(torch.bmm(m, u.unsqueeze(2)).squeeze(2), real)  # (B, M'): u^T m_i
            o = torch.bmm(p.unsqueeze(1), c).squeeze(1)  # (B, d): Σ_i p_i c_i
            u = o + (u if self.H is None else nn.functional.linear(u, self.H))  # u^{k+1}
            attention.append(p)
        attention = nn.functional.pad(torch.stack(attention, 1), (0, rows - used))  # (B, K, M)
        return nn.functional.linear(u, self.W()), attention  # (B, V), (B, K, M)

    def forward(self, inputs: Tensor, *, lengths: Tensor | None = None, state: Any = None,
                targets: Tensor | None = None) -> tuple[Tensor, None]:
        """``(â (B, V), None)``: answer logits; ``state`` and ``targets`` are not read (no supervision of the hops)."""
        return self._read(inputs, lengths)[0], None

    def attention(self, inputs: Tensor, lengths: Tensor | None = None) -> Tensor:
        """Every hop's weights p over the memory rows: (B, K, M) (with linear start, the raw scores)."""
        return self._read(inputs, lengths)[1]


@dataclass
class LinearStart:
    """When to end linear start: at the first validation whose loss is not below the best so far.

    Sukhbaatar et al. 2015, Section 4.2: "when the validation loss stopped decreasing, the softmax layers
    were re-inserted". ``max_validations`` (0 = none) ends it regardless after that many validations;
    ``on_stall=False`` keeps only that count (the authors' released code: 20 epochs of linear start).
    """

    max_validations: int = 0
    on_stall: bool = True
    best: float = math.inf
    seen: int = 0

    def should_end(self, valid_loss: float) -> bool:
        """Record one validation loss; True when linear start should end now."""
        self.seen += 1
        stalled = self.on_stall and not valid_loss < self.best
        self.best = min(self.best, valid_loss)
        return stalled or (self.max_validations > 0 and self.seen >= self.max_validations)


class LinearStartCallback:
    """A :class:`recnets.train.loop.Trainer` callback: ends the model's linear start when :class:`LinearStart`
    says so (after a validation)."""

    def __init__(self, rule: LinearStart | None = None) -> None:
        self.rule = rule if rule is not None else LinearStart()
        self.ended_at: int | None = None

    def on_eval(self, trainer: Any, step: int, record: dict[str, Any]) -> None:
        model = trainer.model
        if model.linear_start and self.rule.should_end(record["loss"]):
            model.end_linear_start()
            self.ended_at = step
