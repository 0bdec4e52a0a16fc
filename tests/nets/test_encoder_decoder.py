"""The encoder-decoder against torch.nn.LSTM with copied weights and loops written from the papers (float64)."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from recnets.beam_search import beam_search
from recnets.decode import greedy_decode
from recnets.nets.encoder_decoder import BOS, EOS, EncodedSource, EncoderDecoder
from recnets.train.scheduled_sampling import FeedingConfig

EXACT = 1e-10


def _model(**options) -> EncoderDecoder:
    sizes = {"embedding": 5, "hidden": 6}
    sizes.update(options)
    return EncoderDecoder(9, 11, **sizes).double().eval()


def _batch(batch=3, steps=6, lengths=(6, 2, 4), target_steps=5):
    inputs = torch.randint(4, 9, (batch, steps))
    inputs[torch.arange(steps).unsqueeze(0) >= torch.tensor(lengths).unsqueeze(1)] = 0  # PAD
    targets = torch.randint(3, 11, (batch, target_steps))
    return inputs, torch.tensor(lengths), targets


def _copy_lstm(module: nn.LSTM, cell, suffix: str = "_l0") -> None:
    with torch.no_grad():
        getattr(module, f"weight_ih{suffix}").copy_(cell.U)
        getattr(module, f"weight_hh{suffix}").copy_(cell.W)
        getattr(module, f"bias_ih{suffix}").copy_(cell.b_U)
        getattr(module, f"bias_hh{suffix}").copy_(cell.b_W)


def _torch_encoder(model, inputs, lengths):
    """torch's (bidirectional) LSTM over the packed sources: memory (B, S, Hm), h_n, c_n."""
    layer = model.encoder.layers[0]
    bidirectional = model.encoder.bidirectional
    lstm = nn.LSTM(5, 6, batch_first=True, bidirectional=bidirectional).double()
    if bidirectional:
        _copy_lstm(lstm, layer.forward_cell)
        _copy_lstm(lstm, layer.backward_cell, "_l0_reverse")
    else:
        _copy_lstm(lstm, layer)
    packed = nn.utils.rnn.pack_padded_sequence(model.encoder.embedding(inputs), lengths, batch_first=True,
                                               enforce_sorted=False)
    out, (h_n, c_n) = lstm(packed)
    memory, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=inputs.shape[1])
    return memory, h_n, c_n


def _previous(targets):
    return torch.cat([torch.full_like(targets[:, :1], BOS), targets[:, :-1]], 1)  # (B, T)


def test_without_attention_equals_torch_lstm_encoder_and_decoder():
    model = _model()
    inputs, lengths, targets = _batch()
    logits, final = model(inputs, lengths=lengths, targets=targets)
    assert final is None
    _, h_n, c_n = _torch_encoder(model, inputs, lengths)
    decoder = nn.LSTM(5, 6, batch_first=True).double()
    _copy_lstm(decoder, model.decoder.cells[0])
    hs, _ = decoder(model.decoder.embedding(_previous(targets)), (h_n, c_n))  # (B, T, H)
    expected = model.decoder.readout(hs)
    assert torch.allclose(logits, expected, atol=EXACT, rtol=0)


def test_bidirectional_memory_equals_torch_and_the_bridge_maps_both_finals():
    model = _model(bidirectional=True, attention="general")
    inputs, lengths, _ = _batch()
    encoded = model.encode(inputs, lengths)
    memory, h_n, c_n = _torch_encoder(model, inputs, lengths)
    assert torch.allclose(encoded.memory, memory, atol=EXACT, rtol=0)
    assert torch.equal(encoded.mask, torch.arange(6).unsqueeze(0) < lengths.unsqueeze(1))
    ends = memory[torch.arange(3), lengths - 1, :6]
    assert torch.allclose(encoded.summary, torch.cat([ends, memory[:, 0, 6:]], -1), atol=EXACT, rtol=0)
    h0 = model.bridge["0_0"](torch.cat([h_n[0], h_n[1]], -1))
    c0 = model.bridge["0_1"](torch.cat([c_n[0], c_n[1]], -1))
    assert torch.allclose(encoded.initial[0].h, h0, atol=EXACT, rtol=0)
    assert torch.allclose(encoded.initial[0].c, c0, atol=EXACT, rtol=0)
    assert torch.allclose(encoded.keys, nn.functional.linear(memory, model.decoder.attention.W_a), atol=EXACT, rtol=0)


def _lstm_cell(model_cell) -> nn.LSTMCell:
    cell = nn.LSTMCell(model_cell.input_size, model_cell.hidden_size).double()
    with torch.no_grad():
        cell.weight_ih.copy_(model_cell.U)
        cell.weight_hh.copy_(model_cell.W)
        cell.bias_ih.copy_(model_cell.b_U)
        cell.bias_hh.copy_(model_cell.b_W)
    return cell


def _luong_oracle(model, inputs, lengths, targets, input_feeding):
    """Luong et al. 2015, sec. 3, one sentence at a time: h_t = LSTM([E y_{t-1}; h̃_{t-1}], h_{t-1}),
    a_t(s) = softmax_s(h_tᵀ W_a h̄_s), c_t = Σ_s a_t(s) h̄_s, h̃_t = tanh(W_c [c_t; h_t]), logits = W_s h̃_t + b."""
    memory, h_n, c_n = _torch_encoder(model, inputs, lengths)
    cell = _lstm_cell(model.decoder.cells[0])
    W_a, W_c = model.decoder.attention.W_a, model.decoder.W_c
    rows = []
    for b in range(inputs.shape[0]):
        h, c = h_n[0, b:b + 1], c_n[0, b:b + 1]
        h_tilde = torch.zeros(1, 6, dtype=torch.float64)
        source = memory[b, :lengths[b]]  # (S_b, H)
        logits = []
        for y in _previous(targets)[b]:
            x = model.decoder.embedding(y.view(1))
            h, c = cell(torch.cat([x, h_tilde], -1) if input_feeding else x, (h, c))
            scores = torch.stack([h[0] @ W_a @ source[s] for s in range(source.shape[0])])
            a = torch.softmax(scores, 0)
            context = (a.unsqueeze(1) * source).sum(0, keepdim=True)
            h_tilde = torch.tanh(torch.cat([context, h], -1) @ W_c.t())
            logits.append(model.decoder.readout(h_tilde)[0])
        rows.append(torch.stack(logits))
    return torch.stack(rows)


@pytest.mark.parametrize("input_feeding", [False, True])
def test_luong_general_with_and_without_input_feeding_equals_the_papers_loop(input_feeding):
    model = _model(attention="general", input_feeding=input_feeding)
    inputs, lengths, targets = _batch()
    logits, _ = model(inputs, lengths=lengths, targets=targets)
    assert torch.allclose(logits, _luong_oracle(model, inputs, lengths, targets, input_feeding), atol=EXACT, rtol=0)
    assert model.decoder.cells[0].input_size == (5 + 6 if input_feeding else 5)  # the graph differs


def test_bahdanau_equals_the_papers_loop():
    """Bahdanau et al. 2015, sec. 3.1 and appendix A: e_ij = v_aᵀ tanh(W_a s_{i-1} + U_a h_j), c_i = Σ_j α_ij h_j,
    s_i = LSTM([E y_{i-1}; c_i], s_{i-1}), t_i = tanh(U_o s_i + V_o E y_{i-1} + C_o c_i + b_o), logits = W_o t_i + b."""
    model = _model(attention="bahdanau", attention_size=4, bidirectional=True)
    inputs, lengths, targets = _batch()
    logits, _ = model(inputs, lengths=lengths, targets=targets)
    memory, h_n, c_n = _torch_encoder(model, inputs, lengths)
    d = model.decoder
    cell, att = _lstm_cell(d.cells[0]), d.attention
    rows = []
    for b in range(3):
        s = model.bridge["0_0"](torch.cat([h_n[0, b:b + 1], h_n[1, b:b + 1]], -1))
        c_state = model.bridge["0_1"](torch.cat([c_n[0, b:b + 1], c_n[1, b:b + 1]], -1))
        annotations = memory[b, :lengths[b]]
        out = []
        for y in _previous(targets)[b]:
            e = torch.stack([att.v_a @ torch.tanh(att.W_a @ s[0] + att.U_a @ h_j) for h_j in annotations])
            alpha = torch.exp(e) / torch.exp(e).sum()
            context = (alpha.unsqueeze(1) * annotations).sum(0, keepdim=True)
            x = d.embedding(y.view(1))
            s, c_state = cell(torch.cat([x, context], -1), (s, c_state))
            t = torch.tanh(s @ d.U_o.t() + x @ d.V_o.t() + context @ d.C_o.t() + d.b_o)
            out.append(d.readout(t)[0])
        rows.append(torch.stack(out))
    assert torch.allclose(logits, torch.stack(rows), atol=EXACT, rtol=0)


def test_cho_context_at_every_step_equals_a_manual_loop():
    model = _model(context_every_step=True)
    inputs, lengths, targets = _batch()
    logits, _ = model(inputs, lengths=lengths, targets=targets)
    memory, h_n, c_n = _torch_encoder(model, inputs, lengths)
    summary = memory[torch.arange(3), lengths - 1]  # (B, H) C: the last encoder output
    cell = _lstm_cell(model.decoder.cells[0])
    h, c, out = h_n[0], c_n[0], []
    for y in _previous(targets).unbind(1):
        h, c = cell(torch.cat([model.decoder.embedding(y), summary], -1), (h, c))
        out.append(model.decoder.readout(h))
    assert torch.allclose(logits, torch.stack(out, 1), atol=EXACT, rtol=0)


CONFIGS = [
    {},
    {"context_every_step": True, "cell": "gru", "encoder_layers": 2},
    {"attention": "bahdanau", "bidirectional": True, "decoder_layers": 2},
    {"attention": "dot", "input_feeding": True, "encoder_layers": 2, "decoder_layers": 2},
    {"attention": "general", "bidirectional": True, "input_feeding": True, "cell": "gru", "decoder_layers": 2},
]


@pytest.mark.parametrize("options", CONFIGS)
def test_batched_equals_one_sentence_at_a_time(options):
    model = _model(**options)
    inputs, lengths, targets = _batch()
    target_lengths = [5, 3, 1]
    logits, _ = model(inputs, lengths=lengths, targets=targets)
    weights = model.teacher_forced(inputs, lengths, targets)[1]
    translated = model.translate(inputs, lengths, max_length=7)
    beams = model.translate(inputs, lengths, beam_width=3, max_length=7)
    for b in range(3):
        alone = inputs[b:b + 1, :lengths[b]]
        own_targets = targets[b:b + 1, :target_lengths[b]]
        alone_logits, _ = model(alone, lengths=lengths[b:b + 1], targets=own_targets)
        assert torch.allclose(logits[b, :target_lengths[b]], alone_logits[0], atol=EXACT, rtol=0)
        if weights is not None:
            alone_weights = model.teacher_forced(alone, None, own_targets)[1][0]  # (T_b, S_b)
            assert torch.allclose(weights[b, :target_lengths[b], :lengths[b]], alone_weights, atol=EXACT, rtol=0)
            assert torch.equal(weights[b, :, lengths[b]:], torch.zeros_like(weights[b, :, lengths[b]:]))
        assert model.translate(alone, max_length=7) == translated[b:b + 1]
        assert model.translate(alone, max_length=7, beam_width=3) == beams[b:b + 1]


@pytest.mark.parametrize("options", CONFIGS)
def test_greedy_is_the_argmax_of_teacher_forcing_its_own_output_and_beam_one_is_greedy(options):
    model = _model(**options)  # random weights: rows run to max_length (test_learns_to_reverse checks ended rows)
    inputs, lengths, _ = _batch()
    context = model.encode(inputs, lengths)
    greedy = greedy_decode(model.decoder, context=context, max_length=6, end_id=EOS)
    beams = beam_search(model.decoder, context=context, beam_width=1, max_length=6, end_id=EOS)
    assert beams.best() == greedy.to_lists()
    assert torch.allclose(beams.log_prob[:, 0], greedy.log_prob, atol=EXACT, rtol=0)
    for b, (ids, finished) in enumerate(zip(greedy.to_lists(), greedy.finished.tolist())):
        emitted = ids + [EOS] if finished else ids
        logits, _ = model.teacher_forced(inputs[b:b + 1], lengths[b:b + 1], torch.tensor([emitted]))
        assert logits[0].argmax(-1).tolist() == emitted
    assert model.translate(inputs, lengths, max_length=6) == greedy.to_lists()


@pytest.mark.parametrize("options", [{"attention": "bahdanau", "bidirectional": True},
                                     {"attention": "general", "input_feeding": True, "decoder_layers": 2},
                                     {"context_every_step": True, "cell": "gru"}])
def test_gradcheck_tiny_model_float64(options):
    model = EncoderDecoder(6, 6, embedding=2, hidden=3, **options).double()
    inputs, lengths = torch.tensor([[4, 5, 4], [5, 4, 0]]), torch.tensor([3, 2])
    targets = torch.tensor([[3, 4, 2], [5, 2, 0]])
    names = [name for name, _ in model.named_parameters()]
    values = tuple(p.detach().clone().requires_grad_(True) for _, p in model.named_parameters())

    def loss(*parameters):
        logits, _ = torch.func.functional_call(model, dict(zip(names, parameters)), (inputs,),
                                               {"lengths": lengths, "targets": targets})
        return logits

    # fast mode: u^T J v for random u, v against finite differences (the full Jacobian of ~400 parameters costs
    # ~15 s on a busy machine); every parameter takes part through v
    assert torch.autograd.gradcheck(loss, values, fast_mode=True)


def test_training_forward_follows_the_feeding_schedule_and_counts_updates():
    model = _model(attention="general", feeding=FeedingConfig(mode="free-running", own="argmax"))
    inputs, lengths, targets = _batch()
    model.train()
    logits, _ = model(inputs, lengths=lengths, targets=targets)
    assert int(model.schedule.updates) == 1 and "schedule.updates" in model.state_dict()
    own = logits.argmax(-1)  # free running with argmax: the decoder read its own previous choices
    expected, _ = model.teacher_forced(inputs, lengths, own)
    assert torch.allclose(logits, expected, atol=EXACT, rtol=0)
    model.eval()
    teacher, _ = model(inputs, lengths=lengths, targets=targets)  # eval: labels, no count
    assert int(model.schedule.updates) == 1
    assert torch.allclose(teacher, model.teacher_forced(inputs, lengths, targets)[0], atol=EXACT, rtol=0)


def test_config_rebuilds_the_same_model():
    model = _model(attention="bahdanau", bidirectional=True, cell="gru", feeding=FeedingConfig(mode="linear", c=0.01))
    rebuilt = EncoderDecoder.from_config(model.config()).double().eval()
    rebuilt.load_state_dict(model.state_dict())
    inputs, lengths, targets = _batch()
    assert rebuilt.config() == model.config() and rebuilt.feeding == model.feeding
    assert torch.equal(rebuilt(inputs, lengths=lengths, targets=targets)[0], model(inputs, lengths=lengths, targets=targets)[0])


def test_attention_map_rows_sum_to_one_over_the_source_and_zero_past_outputs():
    model = _model(attention="dot")
    inputs, lengths, _ = _batch()
    maps = model.attention_map(inputs, lengths, [[4, 5, EOS], [6], [7, 8]])
    assert maps.shape == (3, 3, 6)
    sums = maps.sum(-1)
    assert torch.allclose(sums, torch.tensor([[1.0, 1, 1], [1, 0, 0], [1, 1, 0]], dtype=torch.float64), atol=EXACT)
    assert isinstance(model.encode(inputs, lengths), EncodedSource)


def test_learns_to_reverse_short_strings():
    torch.manual_seed(0)
    model = EncoderDecoder(8, 8, embedding=16, hidden=32, attention="general", input_feeding=True)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.02)
    generator = torch.Generator().manual_seed(0)

    def batch(size):
        lengths = torch.randint(2, 6, (size,), generator=generator)
        inputs = torch.randint(4, 8, (size, 5), generator=generator)
        inputs[torch.arange(5).unsqueeze(0) >= lengths.unsqueeze(1)] = 0
        targets = torch.zeros(size, 6, dtype=torch.int64)
        for b in range(size):
            targets[b, :lengths[b]] = inputs[b, :lengths[b]].flip(0)
            targets[b, lengths[b]] = EOS
        return inputs, lengths, targets

    for _ in range(120):
        inputs, lengths, targets = batch(32)
        logits, _ = model(inputs, lengths=lengths, targets=targets)
        loss = nn.functional.cross_entropy(logits.transpose(1, 2), targets, ignore_index=0)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    inputs, lengths, targets = batch(50)
    outputs = model.translate(inputs, lengths)
    right = sum(out == inputs[b, :lengths[b]].flip(0).tolist() for b, out in enumerate(outputs))
    assert right >= 45, right
    # on sequences that end: greedy is the argmax of teacher-forcing its own output, EOS included; beam 1 is greedy
    model.eval()
    context = model.encode(inputs, lengths)
    greedy = greedy_decode(model.decoder, context=context, max_length=8, end_id=EOS)
    assert bool(greedy.finished.all()) and greedy.to_lists() == outputs
    assert beam_search(model.decoder, context=context, beam_width=1, max_length=8, end_id=EOS).best() == outputs
    emitted = torch.zeros(50, 6, dtype=torch.int64)
    for b, ids in enumerate(outputs):
        emitted[b, :len(ids) + 1] = torch.tensor(ids + [EOS])
    with torch.no_grad():
        choices = model.teacher_forced(inputs, lengths, emitted)[0].argmax(-1)
    for b, ids in enumerate(outputs):
        assert choices[b, :len(ids) + 1].tolist() == ids + [EOS]


def test_bad_arguments_raise_one_line_errors():
    with pytest.raises(ValueError, match="attention: expected None or one of"):
        EncoderDecoder(5, 5, attention="cosine")
    with pytest.raises(ValueError, match="input_feeding: expected False"):
        EncoderDecoder(5, 5, attention="bahdanau", input_feeding=True)
    with pytest.raises(ValueError, match="context_every_step: expected False"):
        EncoderDecoder(5, 5, attention="dot", context_every_step=True)
    with pytest.raises(ValueError, match="attention: 'dot' needs"):
        EncoderDecoder(5, 5, attention="dot", bidirectional=True)
    with pytest.raises(ValueError, match="cell: expected one of"):
        EncoderDecoder(5, 5, cell="transformer")
    with pytest.raises(ValueError, match="dropout: expected a probability"):
        EncoderDecoder(5, 5, dropout=1.0)
    with pytest.raises(ValueError, match="target_vocab_size: expected more than 2"):
        EncoderDecoder(5, 2)
    model = _model()
    inputs, lengths, targets = _batch()
    with pytest.raises(ValueError, match="targets: expected ids in"):
        model(inputs, lengths=lengths, targets=targets + 20)
    with pytest.raises(ValueError, match="state: expected None"):
        model(inputs, lengths=lengths, targets=targets, state=(1,))
    with pytest.raises(ValueError, match="beam_width: expected an integer >= 1"):
        model.translate(inputs, lengths, beam_width=0)
    with pytest.raises(ValueError, match="max_length: expected an integer >= 1"):
        model.translate(inputs, lengths, max_length=0)
    with pytest.raises(ValueError, match="attention_map: expected a model with attention"):
        model.attention_map(inputs, lengths, [[4], [4], [4]])
    with pytest.raises(ValueError, match="lengths: expected every length <= 6"):
        model.encode(inputs, torch.tensor([7, 1, 1]))
