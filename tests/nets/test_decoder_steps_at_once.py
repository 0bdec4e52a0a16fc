"""Teacher-forced decoder steps taken at once (one unroll per layer, batched attention) against the step loop."""
from __future__ import annotations

import pytest
import torch

from recnets.nets.attention import make_attention
from recnets.nets.conditioned import conditioned_rnn
from recnets.nets.encoder_decoder import EncoderDecoder
from recnets.train.scheduled_sampling import FeedingConfig, feed_decoder, feed_labels

TIGHT = 1e-10


def _batch(seed=0):
    generator = torch.Generator().manual_seed(seed)
    lengths = torch.tensor([6, 2, 4])
    inputs = torch.randint(4, 9, (3, 6), generator=generator)
    inputs[torch.arange(6).unsqueeze(0) >= lengths.unsqueeze(1)] = 0  # PAD
    targets = torch.randint(3, 11, (3, 5), generator=generator)
    return inputs, lengths, targets


AT_ONCE = [
    {"cell": "lstm"},
    {"cell": "gru", "decoder_layers": 2, "encoder_layers": 2},
    {"cell": "lstm", "context_every_step": True},
    {"cell": "lstm", "attention": "dot"},
    {"cell": "lstm", "attention": "general", "bidirectional": True},
    {"cell": "book-gru", "attention": "general", "decoder_layers": 2},
    {"cell": "elman", "attention": "dot", "encoder_layers": 2},
]


@pytest.mark.parametrize("options", AT_ONCE, ids=lambda o: "-".join(f"{k}={v}" for k, v in o.items()))
def test_steps_at_once_equal_the_step_loop_values_and_gradients(options):
    torch.manual_seed(0)
    model = EncoderDecoder(9, 11, embedding=5, hidden=6, **options).double()
    assert model.decoder.steps_at_once
    inputs, lengths, targets = _batch()

    def run(at_once: bool):
        model.zero_grad()
        context = model.encode(inputs, lengths)
        fed = (feed_labels(model.decoder, targets, context=context) if at_once
               else feed_decoder(model.decoder, targets, context=context))
        (fed.logits.square().sum()).backward()
        return fed.logits.detach(), [p.grad.clone() for p in model.parameters()]

    loop_logits, loop_grads = run(False)
    fast_logits, fast_grads = run(True)
    assert torch.allclose(fast_logits, loop_logits, atol=TIGHT, rtol=0)
    for fast, loop in zip(fast_grads, loop_grads):
        assert torch.allclose(fast, loop, atol=1e-9, rtol=0)


@pytest.mark.parametrize("options", [{"attention": "bahdanau"}, {"attention": "general", "input_feeding": True}])
def test_decoders_that_read_their_own_outputs_take_the_step_loop(options):
    model = EncoderDecoder(9, 11, embedding=5, hidden=6, **options).double().eval()
    inputs, lengths, targets = _batch()
    context = model.encode(inputs, lengths)
    state = model.decoder.initial_state(3, context)
    assert not model.decoder.steps_at_once
    assert model.decoder.teacher_forced_steps(targets, state, context) is None
    with pytest.raises(ValueError, match="all_steps: expected a decoder without input feeding"):
        model.decoder.all_steps(targets, state, context)
    fed = feed_labels(model.decoder, targets, context=context)
    assert torch.allclose(fed.logits, feed_decoder(model.decoder, targets, context=context).logits, atol=0, rtol=0)


def test_training_forward_takes_the_fast_path_and_counts_the_update():
    torch.manual_seed(0)
    model = EncoderDecoder(9, 11, embedding=5, hidden=6, attention="general", bidirectional=True).double().train()
    inputs, lengths, targets = _batch()
    logits, _ = model(inputs, lengths=lengths, targets=targets)
    assert int(model.schedule.updates) == 1
    context = model.encode(inputs, lengths)
    assert torch.allclose(logits, feed_decoder(model.decoder, targets, context=context).logits, atol=TIGHT, rtol=0)


def test_attention_map_weights_equal_the_step_loops():
    torch.manual_seed(0)
    model = EncoderDecoder(9, 11, embedding=5, hidden=6, attention="dot").double().eval()
    inputs, lengths, targets = _batch()
    _, weights = model.teacher_forced(inputs, lengths, targets)  # (B, T, S), at once
    context = model.encode(inputs, lengths)
    state, rows = model.decoder.initial_state(3, context), []
    for ids_t in torch.cat([torch.full_like(targets[:, :1], 1), targets[:, :-1]], 1).unbind(1):
        state = model.decoder.step(ids_t, state, context).state
        rows.append(state.weights)
    assert torch.allclose(weights, torch.stack(rows, 1), atol=TIGHT, rtol=0)


@pytest.mark.parametrize("name", ["bahdanau", "dot", "general"])
def test_attend_all_equals_one_query_at_a_time(name):
    torch.manual_seed(0)
    attention = make_attention(name, 6, 6).double()
    queries, keys = torch.randn(3, 4, 6, dtype=torch.float64), torch.randn(3, 5, 6, dtype=torch.float64)
    mask = torch.arange(5).unsqueeze(0) < torch.tensor([5, 1, 3]).unsqueeze(1)
    together = attention.attend_all(queries, keys, mask)
    for t in range(4):
        alone = attention(queries[:, t], keys, mask)
        assert torch.allclose(together.context[:, t], alone.context, atol=TIGHT, rtol=0)
        assert torch.allclose(together.weights[:, t], alone.weights, atol=TIGHT, rtol=0)
    with pytest.raises(ValueError, match=r"queries: expected shape \(B, T, 6\)"):
        attention.attend_all(queries[:, 0], keys, mask)


def test_conditioned_rnn_training_with_labels_uses_its_single_unroll():
    torch.manual_seed(0)
    model = conditioned_rnn("lstm", 11, 4, 6, embedding_size=5, condition="both",
                            feeding=FeedingConfig(mode="linear", k=1.0, c=0.5, epsilon=0.0)).double().train()
    x, targets = torch.randn(3, 4, dtype=torch.float64), torch.randint(3, 11, (3, 5))
    logits, _ = model(x, targets=targets)  # ε = 1 at the first update: the labels, at once
    assert int(model.feeding.updates) == 1
    loop = feed_decoder(model, targets, context=model.encode(x)).logits
    assert torch.allclose(logits, loop, atol=TIGHT, rtol=0)
