"""The NTM recorder and its pictures: the recording replays the model exactly, the PNGs are written."""
from __future__ import annotations

import json

import pytest
import torch

from recnets.core.unroll import unroll
from recnets.memory.addressing import write
from recnets.memory.ntm import NTMCell
from recnets.memory.pictures import head_vectors, plot_memory_access, plot_sequence, record_ntm, used_rows
from recnets.nets.patterns import OutputEveryStep
from recnets.tasks.ntm_tasks import BitTaskConfig, CopyTask


def _model_and_batch(controller="lstm", dtype=torch.float64):
    torch.manual_seed(0)
    task = CopyTask(BitTaskConfig(T=4, width=3, batch_size=3, seed=1))
    cell = NTMCell(task.input_size, 6, memory_rows=7, memory_width=4, read_heads=2, write_heads=1,
                   controller=controller, dtype=dtype)
    model = OutputEveryStep(cell, task.output_size).to(dtype)
    batch = task.train_batch(0)
    batch = type(batch)(batch.inputs.to(dtype), batch.targets, batch.lengths, batch.mask)
    return model, batch


@pytest.mark.parametrize("controller", ["lstm", "feedforward"])
def test_the_recording_ends_in_unrolls_final_state_and_gives_the_models_outputs(controller):
    model, batch = _model_and_batch(controller)
    assert len(set(batch.lengths.tolist())) > 1  # a ragged batch: states must freeze past each length
    recording = record_ntm(model, batch)
    with torch.no_grad():
        _, final = unroll(model.cell, batch.inputs, lengths=batch.lengths)
        outputs, _ = model(batch.inputs, lengths=batch.lengths)
    last = recording.states[-1]
    torch.testing.assert_close(last.read_weights, final.read_weights, rtol=0, atol=1e-12)
    torch.testing.assert_close(last.write_weights, final.write_weights, rtol=0, atol=1e-12)
    torch.testing.assert_close(last.memory, final.memory, rtol=0, atol=1e-12)
    torch.testing.assert_close(recording.outputs, outputs, rtol=0, atol=1e-12)
    steps = batch.inputs.shape[1]
    assert recording.read_weights.shape == (3, steps, 2, 7) and recording.write_weights.shape == (3, steps, 1, 7)
    for b, length in enumerate(batch.lengths.tolist()):  # the weighting at each sequence's last real step
        torch.testing.assert_close(recording.read_weights[b, length - 1], final.read_weights[b], rtol=0, atol=1e-12)
        torch.testing.assert_close(recording.write_weights[b, length - 1], final.write_weights[b], rtol=0,
                                   atol=1e-12)


def test_recorded_erase_and_add_vectors_rebuild_each_steps_memory():
    """M(t) = M(t-1)(1 - w e) + w a with the recorded vectors: the recorder reads the cell's layout right."""
    model, batch = _model_and_batch()
    recording = record_ntm(model, batch)
    previous = model.cell.initial_state(3, dtype=torch.float64).memory
    for t in range(batch.inputs.shape[1]):
        state = recording.states[t]
        rebuilt = write(previous, state.write_weights, recording.erase[:, t], recording.add[:, t])
        live = t < batch.lengths  # (B,): past a length the memory is frozen
        torch.testing.assert_close(rebuilt[live], state.memory[live], rtol=0, atol=1e-12)
        previous = state.memory
    assert recording.erase.min() >= 0 and recording.erase.max() <= 1 and recording.add.abs().max() <= 1


def test_head_vectors_are_the_last_columns_of_the_heads_layer():
    model, _ = _model_and_batch()
    cell = model.cell
    h = torch.randn(2, cell.controller_size, dtype=torch.float64)
    erase, add = head_vectors(cell, h)
    emitted = cell.heads(h)
    width = cell.memory_width
    torch.testing.assert_close(erase[:, 0], torch.sigmoid(emitted[:, -2 * width:-width]))
    torch.testing.assert_close(add[:, 0], torch.tanh(emitted[:, -width:]))


def test_recording_restores_training_mode_and_rejects_other_cells():
    model, batch = _model_and_batch()
    model.train()
    record_ntm(model, batch)
    assert model.training
    from recnets.cells.registry import make_cell
    with pytest.raises(TypeError, match="NTMCell"):
        record_ntm(OutputEveryStep(make_cell("lstm", 4, 3), 3), batch)


def test_used_rows_is_the_shortest_run_round_the_ring():
    weights = torch.zeros(5, 1, 20)
    weights[:, 0, 6] = 1.0
    weights[2, 0, 9] = 0.5
    weights[3, 0, 12] = 0.01  # below the threshold: not touched
    assert used_rows(weights) == list(range(4, 12))
    assert used_rows(weights, margin=0) == [6, 7, 8, 9]
    assert used_rows(torch.zeros(3, 10)) == list(range(10))
    weights[0, 0, 19] = 0.2  # a head stepping back from row 0 wraps round to the last row
    weights[1, 0, 0] = 0.2
    assert used_rows(weights, margin=1) == [18, 19, *range(0, 11)]
    single = torch.zeros(2, 8)
    single[:, 3] = 1.0
    assert used_rows(single) == [1, 2, 3, 4, 5]
    assert used_rows(single, margin=4) == list(range(8))


def test_pictures_are_written_with_their_numbers(tmp_path):
    model, batch = _model_and_batch(dtype=torch.float32)
    recording = record_ntm(model, batch)
    index = int(batch.lengths.argmin())
    access = plot_memory_access(recording, tmp_path / "access.png", index=index)
    sequence = plot_sequence(recording.batch, recording.outputs, tmp_path / "sequence.png", index=index)
    for path in (access, sequence):
        assert path.stat().st_size > 1000
    numbers = json.loads((tmp_path / "access.json").read_text())
    length = int(batch.lengths[index])
    assert numbers["length"] == length and len(numbers["write_weights"][0]) == length
    rows = numbers["rows"]
    assert len(numbers["read_weights"]) == len(rows) and len(set(rows)) == len(rows)
    written = recording.write_weights[index, :length, 0]  # (T, N)
    assert numbers["write_weights"] == written[:, rows].t().tolist()
    drawn = json.loads((tmp_path / "sequence.json").read_text())
    expected = ((torch.sigmoid(recording.outputs[index, :length]) > 0.5) != (batch.targets[index, :length] > 0.5))
    assert drawn["wrong_bits"] == int((expected & batch.mask[index, :length].unsqueeze(-1)).sum())
    with pytest.raises(ValueError, match="index"):
        plot_sequence(batch, recording.outputs, tmp_path / "x.png", index=3)
    with pytest.raises(ValueError, match="outputs"):
        plot_sequence(batch, recording.outputs[:, :, :2], tmp_path / "x.png")
