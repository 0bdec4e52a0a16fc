"""Teacher forcing, free running, scheduled sampling and k-step rollouts (Book 10.2.1) against oracles:
the schedules' closed forms, an unrolled language model over the inputs actually fed, greedy decoding."""
from __future__ import annotations

import math

import pytest
import torch

from recnets.cells.registry import make_cell
from recnets.decode import greedy_decode
from recnets.nets.lm_decoder import LanguageModelDecoder
from recnets.nets.patterns import OutputEveryStep
from recnets.nets.stopping import StopUnitRNN
from recnets.train.scheduled_sampling import FeedingConfig, FeedingSchedule, feed_decoder, gold_probability

V, START = 7, 6


def _decoder(seed: int = 0) -> tuple[OutputEveryStep, LanguageModelDecoder]:
    torch.manual_seed(seed)
    model = OutputEveryStep(make_cell("gru", 5, 11), V, vocab_size=V).double()
    return model, LanguageModelDecoder(model, [START])


def _fed_inputs(targets: torch.Tensor, logits: torch.Tensor, gold: torch.Tensor) -> torch.Tensor:
    """The inputs a run fed, rebuilt from its gold mask: the start symbol, then label or own argmax."""
    own = logits.argmax(-1)  # (B, T)
    previous_label = torch.cat([torch.full_like(targets[:, :1], START), targets[:, :-1]], 1)
    previous_own = torch.cat([torch.full_like(targets[:, :1], START), own[:, :-1]], 1)
    return torch.where(gold, previous_label, previous_own)


@pytest.mark.parametrize("mode, settings, expected", [
    ("teacher-forcing", {}, [1.0, 1.0, 1.0]),
    ("free-running", {}, [0.0, 0.0, 0.0]),
    ("constant", {"epsilon": 0.3}, [0.3, 0.3, 0.3]),
    ("linear", {"epsilon": 0.1, "k": 1.0, "c": 0.002}, [1.0, 0.8, 0.1]),
    ("exponential", {"k": 0.99}, [1.0, 0.99 ** 100, 0.99 ** 1000]),
    ("inverse-sigmoid", {"k": 50.0}, [50 / 51, 50 / (50 + math.exp(2)), 50 / (50 + math.exp(20))]),
])
def test_schedules_follow_their_closed_forms(mode, settings, expected):
    config = FeedingConfig(mode=mode, **settings)
    assert [gold_probability(config, i) for i in (0, 100, 1000)] == pytest.approx(expected, rel=1e-12)


def test_teacher_forcing_equals_the_unrolled_model_over_the_labels():
    model, decoder = _decoder()
    targets = torch.randint(0, V, (4, 9), generator=torch.Generator().manual_seed(1))
    fed = feed_decoder(decoder, targets)
    inputs = torch.cat([torch.full((4, 1), START), targets[:, :-1]], 1)
    expected, _ = model(inputs)
    torch.testing.assert_close(fed.logits, expected, rtol=1e-12, atol=1e-12)
    assert fed.gold.all() and fed.stop_logits is None


def test_free_running_with_argmax_equals_greedy_decoding():
    _, decoder = _decoder(2)
    targets = torch.zeros(3, 8, dtype=torch.int64)  # never read
    fed = feed_decoder(decoder, targets, gold_probability=0.0, own="argmax")
    greedy = greedy_decode(decoder, batch_size=3, max_length=8)
    assert torch.equal(fed.logits.argmax(-1), greedy.ids)
    assert not fed.gold[:, 1:].any() and fed.gold[:, 0].all()


@pytest.mark.parametrize("rollout", [1, 3])
@pytest.mark.parametrize("own", ["argmax", "sample"])
def test_mixed_feeding_equals_the_model_unrolled_over_what_it_was_fed(rollout, own):
    model, decoder = _decoder(3)
    generator = torch.Generator().manual_seed(4)
    targets = torch.randint(0, V, (64, 12), generator=generator)
    fed = feed_decoder(decoder, targets, gold_probability=0.6, rollout=rollout, own=own, generator=generator)
    assert 0.2 < fed.gold[:, 1:].float().mean() < 0.9
    if own == "argmax":  # the own inputs are recoverable from the logits
        expected, _ = model(_fed_inputs(targets, fed.logits, fed.gold))
        torch.testing.assert_close(fed.logits, expected, rtol=1e-12, atol=1e-12)
    for row in (~fed.gold).tolist():  # every run of own inputs is a whole number of rollouts, unless cut at T
        runs, length = [], 0
        for own_fed in row + [False]:
            if own_fed:
                length += 1
            elif length:
                runs.append(length)
                length = 0
        cut_at_end = row[-1]
        whole = runs[:-1] if cut_at_end else runs
        assert all(run % rollout == 0 for run in whole)


def test_the_share_of_labels_matches_epsilon():
    _, decoder = _decoder(5)
    generator = torch.Generator().manual_seed(6)
    targets = torch.randint(0, V, (2000, 6), generator=generator)
    with torch.no_grad():
        fed = feed_decoder(decoder, targets, gold_probability=0.7, generator=generator)
    share = fed.gold[:, 1:].double().mean().item()
    assert abs(share - 0.7) < 4 * math.sqrt(0.7 * 0.3 / fed.gold[:, 1:].numel())


def test_a_stop_unit_decoder_returns_its_stop_logits():
    torch.manual_seed(7)
    decoder = StopUnitRNN(make_cell("elman", 4, 6), 5).double()
    targets = torch.randint(0, 5, (3, 4))
    fed = feed_decoder(decoder, targets, gold_probability=0.5)
    assert fed.stop_logits.shape == (3, 4) and fed.logits.shape == (3, 4, 5)
    outputs = decoder(targets)  # the stop unit's own teacher-forced forward is the oracle at ε = 1
    teacher = feed_decoder(decoder, targets)
    torch.testing.assert_close(teacher.logits, outputs.logits)
    torch.testing.assert_close(teacher.stop_logits, outputs.stop_logits)


def test_the_schedule_counts_training_updates_only_and_saves_the_count():
    _, decoder = _decoder(8)
    schedule = FeedingSchedule(FeedingConfig(mode="linear", epsilon=0.0, k=1.0, c=0.25))
    targets = torch.randint(0, V, (2, 5))
    probabilities = []
    for _ in range(5):
        probabilities.append(schedule.probability())
        schedule(decoder, targets)
    assert probabilities == [1.0, 0.75, 0.5, 0.25, 0.0]
    schedule.eval()
    fed = schedule(decoder, targets)
    assert fed.gold.all() and int(schedule.updates) == 5
    restored = FeedingSchedule(schedule.config)
    restored.load_state_dict(schedule.state_dict())
    assert restored.probability() == 0.0 and int(restored.updates) == 5


@pytest.mark.parametrize("settings, message", [
    ({"mode": "sometimes"}, "feeding.mode"),
    ({"rollout": 0}, "feeding.rollout"),
    ({"epsilon": 1.5}, "feeding.epsilon"),
    ({"mode": "exponential", "k": 1.5}, "feeding.k"),
    ({"mode": "inverse-sigmoid", "k": 0.5}, "feeding.k"),
    ({"own": "best"}, "feeding.own"),
])
def test_bad_settings_name_the_field(settings, message):
    with pytest.raises(ValueError, match=message):
        FeedingConfig(**settings)


def test_bad_call_arguments_name_the_argument():
    _, decoder = _decoder()
    with pytest.raises(ValueError, match="targets"):
        feed_decoder(decoder, torch.zeros(2, 3))
    with pytest.raises(ValueError, match="gold_probability"):
        feed_decoder(decoder, torch.zeros(2, 3, dtype=torch.int64), gold_probability=1.2)
    with pytest.raises(ValueError, match="rollout"):
        feed_decoder(decoder, torch.zeros(2, 3, dtype=torch.int64), rollout=0)
