"""The encoder-decoder (sequence-to-sequence) architecture, with or without attention.

An encoder RNN reads the source x(1..S) into a memory (its outputs at every position) and a final state; a
decoder RNN, started from that final state, generates y(1..T) one symbol at a time, each step conditioned on
the previous symbol and on a context from the source (Fig. 10.12):

- **no attention** (Sutskever et al. 2014; Cho et al. 2014): the context C is the encoder's final state, which
  initialises the decoder; with ``context_every_step`` C is also an input at every decoder step (Cho et al.
  2014, Fig. 10.12 of the book), C = the encoder's last outputs (forward at τ, backward at position 1);
- **Bahdanau attention** (Bahdanau et al. 2015, sec. 3.1 and appendix A): the previous decoder state s(i-1)
  is the query; α(i) = softmax_j(v_aᵀ tanh(W_a s(i-1) + U_a h_j)), c(i) = Σ_j α_ij h_j; the cell reads
  [E y(i-1); c(i)] and gives s(i); the output is p(y(i)) = softmax(W_o t(i) + b), t(i) = tanh(U_o s(i) +
  V_o E y(i-1) + C_o c(i) + b_o): g(y(i-1), s(i), c(i)) as the paper's eq. 4 writes it;
- **Luong attention** ("dot" or "general"; Luong et al. 2015, sec. 3): the cell first gives h(t) from
  E y(t-1) (and, with ``input_feeding``, h̃(t-1): [E y(t-1); h̃(t-1)], sec. 3.3); h(t) is the query;
  c(t) = Σ_s α_ts h̄_s; the attentional state is h̃(t) = tanh(W_c [c(t); h(t)]) (eq. 5) and
  p(y(t)) = softmax(W_s h̃(t) + b) (eq. 6).

The decoder is a :class:`~recnets.core.step_decoder.StepDecoder` reading an :class:`EncodedSource` as its
context, so greedy decoding, sampling, beam search and scheduled sampling (``feed_decoder``) all drive it.

Book: 10.4 (encoder-decoder sequence-to-sequence architectures, Fig. 10.12), 10.3 (a bidirectional encoder),
10.5 (stacked layers), 12.4.5.1 (attention).
"""
from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple, Sequence

import torch
from torch import Tensor, nn

from recnets.cells._init import check_sizes, uniform_parameter
from recnets.cells.registry import make_cell
from recnets.core.step_decoder import DecoderStep, StepDecoder
from recnets.core.lengths import check_lengths
from recnets.core.state import tree_leaves, tree_map
from recnets.core.unroll import unroll
from recnets.nets.attention import ATTENTIONS, make_attention
from recnets.nets.bidirectional import bidirectional_layers
from recnets.nets.readout import Readout, embed_inputs
from recnets.train.scheduled_sampling import FeedingConfig, FeedingSchedule

__all__ = ["PAD", "BOS", "EOS", "UNK", "EncodedSource", "Seq2SeqState", "Seq2SeqEncoder", "Seq2SeqDecoder",
           "EncoderDecoder"]

PAD, BOS, EOS, UNK = 0, 1, 2, 3  # the special ids of every seq2seq vocabulary


class EncodedSource(NamedTuple):
    """The encoder's reading of a batch of sources: the decoder's context (every leaf batch-first).

    Shapes:
        memory: (B, S, Hm) the top encoder layer's outputs h_j (both directions concatenated when bidirectional,
        Hm = 2H; zero past each length); mask: (B, S) bool, True at real positions; keys: (B, S, P) the
        attention's query-independent part of the scores (``project_keys(memory)``), None without attention;
        summary: (B, Hm) the encoder's last outputs (forward at each length's end, backward at position 1), the
        context C of Cho et al.; initial: one state per decoder layer, from the encoder's final states.

    Book: 10.4.
    """

    memory: Tensor
    mask: Tensor
    keys: Tensor | None
    summary: Tensor
    initial: tuple


class Seq2SeqState(NamedTuple):
    """The decoder's state between steps (every leaf batch-first).

    Shapes:
        layers: one cell state per decoder layer; output: (B, H) what the next step reads from this one —
        s(i) (Bahdanau: the next query), h̃(t) (Luong: fed back with input feeding), h(t) without attention;
        weights: (B, S) the attention weights α of the last step (zeros before the first), None without attention.
    """

    layers: tuple
    output: Tensor
    weights: Tensor | None


class Seq2SeqEncoder(nn.Module):
    """Source embedding and ``layers`` stacked RNN layers (any registered cell), optionally bidirectional.

    Args:
        vocab_size: source vocabulary size; cell: a registered cell's name; embedding: E; hidden: H (per
        direction); layers: how many; bidirectional: two unrolls per layer, outputs concatenated (Hm = 2H);
        dropout: on the embeddings and between layers.

    Shapes:
        forward: inputs (B, S) ids, lengths (B,) or None -> memory (B, S, Hm) (zero past each length), the
        final state of every layer (a ``BidirectionalState`` per layer when bidirectional), summary (B, Hm).

    Book: 10.4 (the encoder), 10.3 (bidirectional), 10.5 (stacking, Fig. 10.13a).
    """

    def __init__(self, vocab_size: int, *, cell: str, embedding: int, hidden: int, layers: int,
                 bidirectional: bool, dropout: float) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embedding)
        self.bidirectional = bidirectional
        if bidirectional:
            self.layers = nn.ModuleList(bidirectional_layers(cell, embedding, hidden, layers=layers))
        else:
            self.layers = nn.ModuleList([make_cell(cell, embedding if layer == 0 else hidden, hidden)
                                         for layer in range(layers)])
        self.hidden_size = hidden
        self.memory_size = 2 * hidden if bidirectional else hidden
        self.dropout = nn.Dropout(dropout)

    def forward(self, inputs: Tensor, lengths: Tensor | None) -> tuple[Tensor, tuple, Tensor]:
        xs = self.dropout(embed_inputs(self.embedding, inputs, self.embedding.embedding_dim))  # (B, S, E)
        finals, layer_input = [], xs
        for index, layer in enumerate(self.layers):
            if self.bidirectional:
                ys, final = layer(layer_input, None, lengths=lengths)  # (B, S, 2H)
            else:
                ys, final = unroll(layer, layer_input, None, lengths=lengths)
                ys = tree_leaves(ys)[0]  # (B, S, H)
            finals.append(final)
            layer_input = self.dropout(ys) if index + 1 < len(self.layers) else ys
        memory = layer_input  # (B, S, Hm)
        batch, steps = inputs.shape
        last = (lengths.to(memory.device) - 1 if lengths is not None
                else torch.full((batch,), steps - 1, device=memory.device, dtype=torch.int64))
        at_end = memory[torch.arange(batch, device=memory.device), last]  # (B, Hm): the output at each length's end
        if self.bidirectional:  # forward half at the end, backward half at position 1 (which read everything)
            summary = torch.cat([at_end[:, :self.hidden_size], memory[:, 0, self.hidden_size:]], -1)
        else:
            summary = at_end
        return memory, tuple(finals), summary


def _state_widths(cell: nn.Module) -> list[int | None]:
    """The width of each leaf of the cell's state that a bridge maps: H for a real (B, H) leaf, else None."""
    widths: list[int | None] = []
    tree_map(lambda leaf: widths.append(leaf.shape[1] if leaf.dim() == 2 and leaf.dtype.is_floating_point
                                        else None), cell.initial_state(1))
    return widths


class Seq2SeqDecoder(StepDecoder):
    """The decoder of :class:`EncoderDecoder`: one step of target embedding, stacked cells, attention, readout.

    Args:
        vocab_size: V, the target vocabulary (start symbol ``BOS``); cell: a registered cell's name;
        embedding: E; hidden: H; layers: decoder layers; memory_size: Hm, the width of the encoder's memory;
        attention: None, ``"bahdanau"``, ``"dot"`` or ``"general"``; attention_size: A (Bahdanau only);
        input_feeding: Luong's input feeding; context_every_step: Cho et al.'s C at every step (no attention);
        dropout: on the embeddings, between layers and before the readout.

    Shapes:
        step: ids_t (B,), :class:`Seq2SeqState`, :class:`EncodedSource` -> logits (B, V), new state.

    Book: 10.4, Fig. 10.12; 12.4.5.1.
    Deviations: Bahdanau et al.'s output layer uses maxout units and its appendix A.2.2 reads s(i-1) where eq. 4
    reads s(i); we use one tanh layer on s(i) (eq. 4). Their GRU reads c(i) through separate matrices; here the
    cell reads the concatenation [E y(i-1); c(i)] (the same function, one matrix). Luong's W_s has a bias here.
    With several layers, attention reads the top layer, and the context (Bahdanau), h̃(t-1) (input feeding) or
    C (Cho) enters the bottom layer.
    """

    start_id = BOS

    def __init__(self, vocab_size: int, *, cell: str, embedding: int, hidden: int, layers: int, memory_size: int,
                 attention: str | None, attention_size: int | None, input_feeding: bool, context_every_step: bool,
                 dropout: float) -> None:
        super().__init__()
        self.vocab_size = vocab_size
        self.attention_name = attention
        self.input_feeding = input_feeding
        self.context_every_step = context_every_step
        self.hidden_size = hidden
        self.embedding = nn.Embedding(vocab_size, embedding)
        extra = {None: memory_size if context_every_step else 0, "bahdanau": memory_size}.get(
            attention, hidden if input_feeding else 0)
        self.cells = nn.ModuleList([make_cell(cell, embedding + extra if layer == 0 else hidden, hidden)
                                    for layer in range(layers)])
        self.attention = (make_attention(attention, hidden, memory_size, attention_size=attention_size)
                          if attention is not None else None)
        factory = {"hidden_size": hidden}
        if attention == "bahdanau":  # t(i) = tanh(U_o s(i) + V_o E y(i-1) + C_o c(i) + b_o)
            self.U_o = uniform_parameter(hidden, hidden, **factory)
            self.V_o = uniform_parameter(hidden, embedding, **factory)
            self.C_o = uniform_parameter(hidden, memory_size, **factory)
            self.b_o = uniform_parameter(hidden, **factory)
        elif attention is not None:  # h̃(t) = tanh(W_c [c(t); h(t)])
            self.W_c = uniform_parameter(hidden, memory_size + hidden, **factory)
        self.readout = Readout(hidden, vocab_size)
        self.dropout = nn.Dropout(dropout)

    def initial_state(self, batch_size: int, context: Any = None) -> Seq2SeqState:
        """The encoder's bridged final states; the first query s(0) (Bahdanau) is the top layer's initial h;
        h̃(0) = 0 (Luong); weights zero."""
        context = _check_context(context, batch_size)
        layers = context.initial
        if self.attention_name == "bahdanau":
            output = tree_leaves(layers[-1])[0]  # (B, H) s(0)
        else:
            output = context.memory.new_zeros(batch_size, self.hidden_size)  # (B, H)
        weights = None if self.attention is None else context.mask.to(context.memory.dtype) * 0  # (B, S)
        return Seq2SeqState(tuple(layers), output, weights)

    def step(self, ids_t: Tensor, state: Seq2SeqState, context: Any = None) -> DecoderStep:
        context = _check_context(context, ids_t.shape[0])
        x = self.dropout(self.embedding(ids_t))  # (B, E): E y(t-1)
        attended = None
        if self.attention_name == "bahdanau":  # the query is s(i-1), before the cell
            attended = self.attention(state.output, context.memory, context.mask, context.keys)
            inputs = torch.cat([x, attended.context], -1)  # (B, E + Hm)
        elif self.input_feeding:
            inputs = torch.cat([x, state.output], -1)  # (B, E + H): [E y(t-1); h̃(t-1)]
        elif self.context_every_step:
            inputs = torch.cat([x, context.summary], -1)  # (B, E + Hm): [E y(t-1); C]
        else:
            inputs = x
        layers, layer_input = [], inputs
        for index, (cell, layer_state) in enumerate(zip(self.cells, state.layers)):
            y, new_state = cell(layer_input, layer_state)
            layers.append(new_state)
            h = tree_leaves(y)[0]  # (B, H)
            layer_input = self.dropout(h) if index + 1 < len(self.cells) else h
        h = layer_input  # (B, H) the top layer's h(t) (Bahdanau's s(i))
        if self.attention_name == "bahdanau":
            t = torch.tanh(nn.functional.linear(h, self.U_o, self.b_o) + nn.functional.linear(x, self.V_o)
                           + nn.functional.linear(attended.context, self.C_o))  # (B, H)
            logits, output = self.readout(self.dropout(t)), h
        elif self.attention is not None:  # the query is h(t), after the cell
            attended = self.attention(h, context.memory, context.mask, context.keys)
            h_tilde = torch.tanh(nn.functional.linear(torch.cat([attended.context, h], -1), self.W_c))  # (B, H)
            logits, output = self.readout(self.dropout(h_tilde)), h_tilde
        else:
            logits, output = self.readout(self.dropout(h)), h
        weights = attended.weights if attended is not None else None
        return DecoderStep(logits, None, Seq2SeqState(tuple(layers), output, weights))

    @property
    def steps_at_once(self) -> bool:
        """Whether teacher-forced steps can run at once: every step's inputs are known in advance (no Bahdanau
        query s(i-1) before the cell, no input feeding of h̃(t-1))."""
        return self.attention_name != "bahdanau" and not self.input_feeding

    def teacher_forced_steps(self, targets: Tensor, state: Seq2SeqState,
                             context: Any = None) -> tuple[Tensor, None] | None:
        if not self.steps_at_once:
            return None
        return self.all_steps(targets, state, context)[0], None

    def all_steps(self, targets: Tensor, state: Seq2SeqState, context: Any = None) -> tuple[Tensor, Tensor | None]:
        """The T teacher-forced steps at once (:attr:`steps_at_once` only): each layer as one unroll over the
        fed embeddings (torch's fused kernel for a standard cell), Luong attention for all steps as batched
        products. ``targets (B, T)`` -> logits (B, T, V), attention weights (B, T, S) (None without attention).

        Book: 10.2.1 (teacher forcing decouples the steps), 10.4; 12.4.5.1.
        """
        if not self.steps_at_once:
            raise ValueError(f"all_steps: expected a decoder without input feeding or Bahdanau attention, got "
                             f"attention {self.attention_name!r}, input_feeding {self.input_feeding}")
        batch, steps = targets.shape
        context = _check_context(context, batch)
        previous = torch.cat([torch.full_like(targets[:, :1], self.start_id), targets[:, :-1]], 1)  # (B, T)
        inputs = self.dropout(self.embedding(previous))  # (B, T, E): E y(t-1)
        if self.context_every_step:
            inputs = torch.cat([inputs, context.summary.unsqueeze(1).expand(-1, steps, -1)], -1)  # (B, T, E + Hm)
        layer_input = inputs
        for index, (cell, layer_state) in enumerate(zip(self.cells, state.layers)):
            ys, _ = unroll(cell, layer_input, layer_state)
            h = tree_leaves(ys)[0]  # (B, T, H)
            layer_input = self.dropout(h) if index + 1 < len(self.cells) else h
        h = layer_input  # (B, T, H) the top layer's h(t)
        if self.attention is None:
            return self.readout(self.dropout(h)), None
        attended = self.attention.attend_all(h, context.memory, context.mask, context.keys)  # (B, T, Hm), (B, T, S)
        h_tilde = torch.tanh(nn.functional.linear(torch.cat([attended.context, h], -1), self.W_c))  # (B, T, H)
        return self.readout(self.dropout(h_tilde)), attended.weights


def _check_context(context: Any, batch_size: int) -> EncodedSource:
    if not isinstance(context, EncodedSource):
        raise TypeError(f"context: expected an EncodedSource (EncoderDecoder.encode), got {type(context).__name__}")
    if context.memory.shape[0] != batch_size:
        raise ValueError(f"context: expected {batch_size} rows, got {context.memory.shape[0]}")
    return context


def _as_padded(ids: Sequence[Sequence[int]] | Tensor, name: str) -> tuple[Tensor, Tensor]:
    """Ragged id lists (or a full (B, T) tensor) as a PAD-padded (B, T) int64 tensor and lengths (B,)."""
    if isinstance(ids, Tensor):
        if ids.dim() != 2 or ids.dtype != torch.int64 or ids.shape[1] < 1:
            raise ValueError(f"{name}: expected an int64 tensor of shape (B, T) with T >= 1, got {ids.dtype} "
                             f"{tuple(ids.shape)}")
        return ids, torch.full((ids.shape[0],), ids.shape[1], dtype=torch.int64)
    rows = [list(row) for row in ids]
    if not rows or any(len(row) == 0 for row in rows):
        raise ValueError(f"{name}: expected a non-empty list of non-empty id lists, got lengths "
                         f"{[len(row) for row in rows]}")
    padded = torch.full((len(rows), max(map(len, rows))), PAD, dtype=torch.int64)
    for index, row in enumerate(rows):
        padded[index, :len(row)] = torch.tensor(row, dtype=torch.int64)
    return padded, torch.tensor([len(row) for row in rows], dtype=torch.int64)


class EncoderDecoder(nn.Module):
    """Encoder-decoder for sequence-to-sequence learning, with no, additive or multiplicative attention.

    Args:
        source_vocab_size, target_vocab_size: vocabularies (ids ``PAD``=0, ``BOS``=1, ``EOS``=2, ``UNK``=3, tokens).
        cell: a registered cell's name (``recnets.cells.registry``) for every layer of both RNNs.
        embedding: E, both embeddings' width; hidden: H, every layer's width (per direction in the encoder).
        encoder_layers, decoder_layers: stacked layers (>= 1).
        bidirectional: a bidirectional encoder (memory width 2H).
        attention: None (Sutskever/Cho), ``"bahdanau"``, ``"dot"`` or ``"general"`` (Luong).
        attention_size: A of the additive score (default H); only with ``"bahdanau"``.
        input_feeding: feed h̃(t-1) with y(t-1) (Luong et al. 2015, sec. 3.3); only with dot/general.
        context_every_step: feed the encoder's summary C at every step (Cho et al. 2014); only without attention.
        dropout: probability on embeddings, between layers and before the readouts (0 = none).
        feeding: what the decoder reads as y(t-1) in training (teacher forcing by default; scheduled sampling).

    Shapes:
        forward: inputs (B, S) source ids, lengths (B,), targets (B, T) target ids ending in EOS, padded with PAD
        -> (logits (B, T, V), None). The decoder reads BOS, targets[:, :-1] (or its own outputs, per
        ``feeding``, in training).

    The decoder's initial state: decoder layer l starts from encoder layer min(l, encoder_layers - 1)'s final
    state; with a bidirectional encoder each real (B, H) leaf of the state is the linear map
    W [forward final; backward final] + b (a "bridge"; Bahdanau et al. use tanh(W_s h←_1) instead).

    Book: 10.4, Fig. 10.12; 10.3; 10.5; 12.4.5.1.
    """

    def __init__(self, source_vocab_size: int, target_vocab_size: int, *, cell: str = "lstm", embedding: int = 64,
                 hidden: int = 128, encoder_layers: int = 1, bidirectional: bool = False, decoder_layers: int = 1,
                 attention: str | None = None, attention_size: int | None = None, input_feeding: bool = False,
                 context_every_step: bool = False, dropout: float = 0.0,
                 feeding: FeedingConfig = FeedingConfig()) -> None:
        super().__init__()
        check_sizes(source_vocab_size=source_vocab_size, target_vocab_size=target_vocab_size, embedding=embedding,
                    hidden=hidden, encoder_layers=encoder_layers, decoder_layers=decoder_layers)
        if target_vocab_size <= EOS:
            raise ValueError(f"target_vocab_size: expected more than {EOS} (PAD, BOS, EOS come first), "
                             f"got {target_vocab_size}")
        for name, value in (("bidirectional", bidirectional), ("input_feeding", input_feeding),
                            ("context_every_step", context_every_step)):
            if not isinstance(value, bool):
                raise TypeError(f"{name}: expected a bool, got {type(value).__name__}")
        if attention is not None and attention not in ATTENTIONS:
            raise ValueError(f"attention: expected None or one of {', '.join(ATTENTIONS)}, got {attention!r}")
        if input_feeding and attention not in ("dot", "general"):
            raise ValueError(f"input_feeding: expected False unless attention is 'dot' or 'general' (Luong), "
                             f"got True with attention {attention!r}")
        if context_every_step and attention is not None:
            raise ValueError(f"context_every_step: expected False with attention (the context comes from "
                             f"attention), got True with attention {attention!r}")
        if attention_size is not None and attention != "bahdanau":
            raise ValueError(f"attention_size: expected None unless attention is 'bahdanau', got {attention_size!r}")
        if attention == "dot" and bidirectional:
            raise ValueError(f"attention: 'dot' needs the memory width 2H = {2 * hidden} to equal the decoder's "
                             f"H = {hidden}; use 'general' or 'bahdanau' with a bidirectional encoder")
        if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout: expected a probability in [0, 1), got {dropout!r}")
        if not isinstance(feeding, FeedingConfig):
            raise TypeError(f"feeding: expected a FeedingConfig, got {type(feeding).__name__}")
        self._config = {"source_vocab_size": source_vocab_size, "target_vocab_size": target_vocab_size,
                        "cell": cell, "embedding": embedding, "hidden": hidden, "encoder_layers": encoder_layers,
                        "bidirectional": bidirectional, "decoder_layers": decoder_layers, "attention": attention,
                        "attention_size": attention_size, "input_feeding": input_feeding,
                        "context_every_step": context_every_step, "dropout": float(dropout),
                        "feeding": dataclasses.asdict(feeding)}
        self.encoder = Seq2SeqEncoder(source_vocab_size, cell=cell, embedding=embedding, hidden=hidden,
                                      layers=encoder_layers, bidirectional=bidirectional, dropout=dropout)
        self.decoder = Seq2SeqDecoder(target_vocab_size, cell=cell, embedding=embedding, hidden=hidden,
                                      layers=decoder_layers, memory_size=self.encoder.memory_size,
                                      attention=attention, attention_size=attention_size,
                                      input_feeding=input_feeding, context_every_step=context_every_step,
                                      dropout=dropout)
        widths = _state_widths(self.decoder.cells[0])
        if attention == "bahdanau" and widths[0] != hidden:
            raise ValueError(f"cell: expected a cell whose state's first leaf is h(t) (B, {hidden}) for Bahdanau "
                             f"attention's query s(i-1), got {cell!r}")
        self.bridge = nn.ModuleDict()
        if bidirectional:
            for layer in range(decoder_layers):
                for leaf, width in enumerate(widths):
                    if width is not None:
                        self.bridge[f"{layer}_{leaf}"] = nn.Linear(2 * width, width)
        self.feeding = feeding
        self.schedule = FeedingSchedule(feeding)

    # ---- encoding ------------------------------------------------------------------------------------------

    def encode(self, inputs: Tensor, lengths: Tensor | None = None) -> EncodedSource:
        """Read the sources: ``inputs (B, S)`` ids padded with PAD, ``lengths (B,)`` (None: all S) ->
        :class:`EncodedSource`, the decoder's context."""
        if not isinstance(inputs, Tensor) or inputs.dim() != 2:
            raise ValueError(f"inputs: expected source ids of shape (B, S), got "
                             f"{tuple(getattr(inputs, 'shape', ())) or type(inputs).__name__}")
        checked = check_lengths(lengths, inputs.shape[0], inputs.shape[1], inputs.device)
        memory, finals, summary = self.encoder(inputs, checked)  # (B, S, Hm), per layer, (B, Hm)
        if checked is None:
            mask = torch.ones(inputs.shape, dtype=torch.bool, device=memory.device)
        else:
            mask = torch.arange(inputs.shape[1], device=memory.device).unsqueeze(0) < checked.unsqueeze(1)  # (B, S)
        attention = self.decoder.attention
        keys = attention.project_keys(memory) if attention is not None else None  # (B, S, P)
        return EncodedSource(memory, mask, keys, summary, self._bridged(finals, inputs.shape[0], memory))

    def _bridged(self, finals: tuple, batch: int, memory: Tensor) -> tuple:
        """One initial state per decoder layer from the encoder layers' final states."""
        initial = []
        for layer in range(len(self.decoder.cells)):
            final = finals[min(layer, len(finals) - 1)]
            if not self.encoder.bidirectional:
                initial.append(final)
                continue
            leaf_index = iter(range(10**6))
            template = self.decoder.cells[layer].initial_state(batch, device=memory.device, dtype=memory.dtype)

            def bridge(forward: Tensor, backward: Tensor, start: Tensor, layer: int = layer) -> Tensor:
                key = f"{layer}_{next(leaf_index)}"
                if key not in self.bridge:
                    return start
                return self.bridge[key](torch.cat([forward, backward], -1))  # (B, H)

            initial.append(tree_map(bridge, final.forward, final.backward, template))
        return tuple(initial)

    # ---- training ------------------------------------------------------------------------------------------

    def forward(self, inputs: Tensor, *, lengths: Tensor | None = None, state: Any = None,
                targets: Tensor | None = None) -> tuple[Tensor, None]:
        """Logits of every target step: teacher forcing in eval mode, ``feeding``'s schedule in training (each
        training call counts one update in ``schedule.updates``, a buffer saved with the weights). Teacher
        forcing without input feeding or Bahdanau attention runs all decoder steps at once
        (:meth:`Seq2SeqDecoder.all_steps`), measured 1.6x faster per CMUdict update than with input feeding.

        Shapes: inputs (B, S), lengths (B,), targets (B, T) -> (logits (B, T, V), None).
        """
        if state is not None:
            raise ValueError(f"state: expected None (an encoder-decoder carries no state between batches), "
                             f"got {type(state).__name__}")
        if not isinstance(targets, Tensor) or targets.dim() != 2 or targets.shape[0] != inputs.shape[0]:
            raise ValueError(f"targets: expected target ids of shape ({inputs.shape[0]}, T), got "
                             f"{tuple(getattr(targets, 'shape', ())) or type(targets).__name__}")
        vocab = self.decoder.vocab_size
        if targets.device.type == "cpu" and targets.numel() and (int(targets.min()) < 0 or int(targets.max()) >= vocab):
            raise ValueError(f"targets: expected ids in [0, {vocab}), got values in "
                             f"[{int(targets.min())}, {int(targets.max())}]")
        context = self.encode(inputs, lengths)
        fed = self.schedule(self.decoder, targets.long(), context=context)
        return fed.logits, None

    def teacher_forced(self, inputs: Tensor, lengths: Tensor | None, targets: Tensor) -> tuple[Tensor, Tensor | None]:
        """Logits (B, T, V) and attention weights (B, T, S) (None without attention) with the decoder reading
        BOS, targets[:, :-1], whatever the mode and schedule."""
        context = self.encode(inputs, lengths)
        state = self.decoder.initial_state(inputs.shape[0], context)
        if self.decoder.steps_at_once:
            return self.decoder.all_steps(targets, state, context)
        previous = torch.cat([torch.full_like(targets[:, :1], BOS), targets[:, :-1]], 1)  # (B, T)
        logits, weights = [], []
        for ids_t in previous.unbind(1):
            out = self.decoder.step(ids_t, state, context)
            state = out.state
            logits.append(out.logits)
            weights.append(state.weights)
        return torch.stack(logits, 1), (torch.stack(weights, 1) if self.decoder.attention is not None else None)

    # ---- inference -----------------------------------------------------------------------------------------

    def translate(self, inputs: Tensor, lengths: Tensor | None = None, *, beam_width: int = 1,
                  max_length: int | None = None, length_penalty: float = 0.0) -> list[list[int]]:
        """The output ids of each source (EOS excluded): greedy (``beam_width`` 1) or beam search, batched.

        Args:
            inputs: (B, S) source ids; lengths: (B,) or None.
            beam_width: K >= 1; max_length: the most output steps (default 2 S + 10); length_penalty: α >= 0
            of the beam's score log P / n^α.

        The model is put in eval mode for the call (no dropout) and restored after.

        Book: 10.2.3, 10.4.
        """
        from recnets.beam_search import beam_search  # the searches import recnets.nets: load them on use
        from recnets.decode import greedy_decode

        if max_length is None:
            max_length = 2 * inputs.shape[1] + 10
        was_training = self.training
        self.eval()
        try:
            with torch.no_grad():
                context = self.encode(inputs, lengths)
                if beam_width == 1:
                    if isinstance(length_penalty, bool) or not isinstance(length_penalty, (int, float)) or not (
                            length_penalty >= 0):
                        raise ValueError(f"length_penalty: expected a finite number >= 0, got {length_penalty!r}")
                    return greedy_decode(self.decoder, context=context, max_length=max_length, end_id=EOS).to_lists()
                return beam_search(self.decoder, context=context, beam_width=beam_width, max_length=max_length,
                                   end_id=EOS, alpha=length_penalty).best()
        finally:
            self.train(was_training)

    def attention_map(self, inputs: Tensor, lengths: Tensor | None,
                      output_ids: Sequence[Sequence[int]] | Tensor) -> Tensor:
        """The attention weights at every step that emitted ``output_ids`` (teacher-forcing them): (B, T, S).

        Row t is α at the step that emitted ``output_ids[:, t]`` (append EOS to include the ending step); rows
        past a list's length are zero. Eval mode for the call, restored after.

        Book: 12.4.5.1.
        """
        if self.decoder.attention is None:
            raise ValueError("attention_map: expected a model with attention, got attention None")
        padded, out_lengths = _as_padded(output_ids, "output_ids")
        if padded.shape[0] != inputs.shape[0]:
            raise ValueError(f"output_ids: expected {inputs.shape[0]} rows (one per source), got {padded.shape[0]}")
        was_training = self.training
        self.eval()
        try:
            with torch.no_grad():
                _, weights = self.teacher_forced(inputs, lengths, padded.to(inputs.device))  # (B, T, S)
        finally:
            self.train(was_training)
        real = torch.arange(padded.shape[1]).unsqueeze(0) < out_lengths.unsqueeze(1)  # (B, T)
        return weights * real.to(weights.device).unsqueeze(-1).to(weights.dtype)

    # ---- saving --------------------------------------------------------------------------------------------

    def config(self) -> dict[str, Any]:
        """The constructor's arguments as a JSON-able dict: ``EncoderDecoder.from_config(model.config())``."""
        return {key: (dict(value) if isinstance(value, dict) else value) for key, value in self._config.items()}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "EncoderDecoder":
        """A new model (fresh weights) from :meth:`config`'s dict."""
        options = dict(config)
        feeding = options.pop("feeding", None)
        try:
            source, target = options.pop("source_vocab_size"), options.pop("target_vocab_size")
        except KeyError as missing:
            raise ValueError(f"config: expected the key {missing.args[0]!r}, got keys {sorted(config)}") from None
        return cls(source, target, feeding=FeedingConfig(**feeding) if feeding is not None else FeedingConfig(),
                   **options)
