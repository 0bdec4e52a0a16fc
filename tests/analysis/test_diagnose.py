"""diagnose_model / diagnose_run (experiments layer) and the plots: every PNG has its JSON, and the JSON holds the right numbers."""
from __future__ import annotations

import json

import pytest
import torch

from recnets.experiments.diagnose import diagnose_run
from recnets.analysis import (JacobianSpectrum, LagProfile, diagnose_model, eigenvalues,
                              gradient_norm_by_lag, hidden_gradients, last_step_loss, plot_eigenvalues,
                              plot_gradient_norms, plot_singular_values, plot_spectral_radius, recurrent_blocks,
                              spectral_radius)
from recnets.cells import ElmanCell, GRUCell
from recnets.nets import OutputEveryStep, OutputToHidden, SequenceToOne
from recnets.tasks.base import Batch

PNG = b"\x89PNG\r\n\x1a\n"
F64 = {"dtype": torch.float64}


def _read(path):
    return json.loads(path.with_suffix(".json").read_text())


def test_plots_write_png_and_the_numbers_drawn(tmp_path):
    profile = LagProfile(torch.arange(3), torch.tensor([1.0, 0.1, 0.0]), torch.zeros(2, 3), torch.tensor([2, 2, 1]))
    path = plot_gradient_norms({"tanh": profile}, tmp_path / "g.png")
    assert path.read_bytes()[:8] == PNG
    assert _read(path) == {"tanh": {"lag": [0, 1, 2], "norm": pytest.approx([1.0, 0.1, 0.0]), "count": [2, 2, 1]}}

    values = torch.tensor([0.5 + 0.5j, 0.5 - 0.5j, -1.2 + 0j], dtype=torch.complex128)
    path = plot_eigenvalues({"W": values}, tmp_path / "e.png")
    assert path.read_bytes()[:8] == PNG
    saved = _read(path)["W"]
    assert saved["real"] == [0.5, 0.5, -1.2] and saved["imag"] == [0.5, -0.5, 0.0]
    assert saved["spectral_radius"] == pytest.approx(1.2)

    sigma = torch.tensor([[[2.0, 1.0], [4.0, 0.5]]])  # (B=1, L=2, H=2)
    path = plot_singular_values(JacobianSpectrum(torch.tensor([1, 2]), sigma, None), tmp_path / "s.png")
    saved = _read(path)
    assert saved["lag"] == [1, 2] and saved["log_norm"] == pytest.approx([0.6931471805599453, 1.3862943611198906])
    assert saved["log_singular_values"][0][1] == pytest.approx([1.3862943611198906, -0.6931471805599453])

    path = plot_spectral_radius([{"step": 1, "spectral_radius": {"W": 0.9}},
                                 {"step": 2, "spectral_radius": {"W": 1.1}}], tmp_path / "r.png")
    assert _read(path) == {"step": [1, 2], "spectral_radius": {"W": [0.9, 1.1]}}
    with pytest.raises(ValueError, match="path: expected a file name ending in .png, got"):
        plot_gradient_norms({"tanh": profile}, tmp_path / "g.svg")
    with pytest.raises(ValueError, match="profiles: expected at least one"):
        plot_gradient_norms({}, tmp_path / "g.png")


def test_diagnose_model_writes_every_plot_with_the_right_numbers(tmp_path):
    cell = ElmanCell(3, 5, **F64)
    model = OutputEveryStep(cell, 4).to(torch.float64).train()
    lengths = torch.tensor([9, 6, 9])
    batch = Batch(torch.randn(3, 9, 3, **F64), torch.randint(0, 4, (3, 9)), lengths)
    summary = diagnose_model(model, batch, tmp_path, lags=[1, 2, 6])
    assert model.training and model.cell is cell
    names = ["diagnostics.json", "eigenvalues.json", "eigenvalues.png", "gradient_norms.json", "gradient_norms.png",
             "jacobian_singular_values.json", "jacobian_singular_values.png"]
    assert summary["files"] == sorted(str(tmp_path / name) for name in names)
    for name in names:
        assert (tmp_path / name).stat().st_size > 0
    expected = gradient_norm_by_lag(hidden_gradients(model, batch.inputs, lambda o: last_step_loss(o, batch.targets,
                                                                                                  lengths),
                                                     lengths=lengths).grad_h, lengths)
    saved = json.loads((tmp_path / "gradient_norms.json").read_text())["ElmanCell"]
    assert saved["norm"] == pytest.approx(expected.norms.tolist(), rel=1e-12)
    assert saved["count"] == [3] * 6 + [2] * 3
    assert summary["spectral_radius"]["W"] == pytest.approx(spectral_radius(cell.W), rel=1e-12)
    assert summary["batch"]["jacobian_steps"] == 6 and summary["batch"]["jacobian_sequences"] == 2
    jacobian = json.loads((tmp_path / "jacobian_singular_values.json").read_text())
    assert jacobian["lag"] == [1, 2, 6] and len(jacobian["log_singular_values"]) == 2
    saved_eigen = json.loads((tmp_path / "eigenvalues.json").read_text())["W"]
    assert saved_eigen["real"] == pytest.approx(eigenvalues(cell.W).real.tolist(), abs=1e-12)
    assert json.loads((tmp_path / "diagnostics.json").read_text()) == summary


def test_diagnose_sequence_to_one_gru_and_reject_output_to_hidden(tmp_path):
    model = SequenceToOne(GRUCell(2, 3, **F64), 2).to(torch.float64)
    summary = diagnose_model(model, Batch(torch.randn(2, 5, 2, **F64), torch.randn(2, 2, **F64)), tmp_path / "a")
    assert set(summary["spectral_radius"]) == set(recurrent_blocks(model.cell))
    assert summary["gradient_norm"]["largest_lag"] == 4
    with pytest.raises(ValueError, match="'h' field"):
        diagnose_model(OutputToHidden(2, 3, 2).double(), Batch(torch.randn(2, 5, 2, **F64), torch.randint(0, 2, (2, 5))),
                       tmp_path / "b")
    with pytest.raises(TypeError, match="batch: expected a recnets.tasks.base.Batch, got tuple"):
        diagnose_model(model, (torch.zeros(1),), tmp_path / "c")


def test_diagnose_run_on_a_tiny_char_lm_run(tmp_path):
    from recnets.experiments.char_lm import CharLMModelConfig, CharLMRunConfig, train_char_lm
    from recnets.tasks.char_corpus import CharLMConfig
    from recnets.train import TrainConfig

    text = tmp_path / "text.txt"
    text.write_text("".join(f"def f{i}(x):\n    return x * {i} + {i % 7}\n" for i in range(200)))
    config = CharLMRunConfig(model=CharLMModelConfig(cell="gru", embedding=4, hidden=6),
                             data=CharLMConfig(data=str(text), seq_len=16, batch_size=4, eval_batch_size=2),
                             train=TrainConfig(steps=3, device="cpu", progress=False, eval_every=0,
                                               checkpoint_every=0))
    run = tmp_path / "run"
    train_char_lm(config, run, samples=0, echo=lambda line: None)
    summary = diagnose_run(run, batch_size=3, steps=30)
    assert summary["step"] == 3 and summary["run"] == str(run)
    assert summary["batch"] == {"sequences": 3, "steps": 30, "jacobian_sequences": 2, "jacobian_steps": 30}
    assert (run / "diagnostics" / "gradient_norms.png").read_bytes()[:8] == PNG
    assert json.loads((run / "diagnostics" / "diagnostics.json").read_text())["step"] == 3
    assert set(summary["spectral_radius"]) == {"W_reset", "W_update", "W_new"}
    with pytest.raises(ValueError, match="steps: expected at most"):
        diagnose_run(run, tmp_path / "out", steps=10**7)
    with pytest.raises(ValueError, match="batch_size: expected an integer >= 1, got 0"):
        diagnose_run(run, batch_size=0)
