"""Diagnostics and reference gradients (Book: 10.2.2, 10.7, 10.11.2)."""
from recnets.analysis.bptt import BPTTGradients, bptt_gradients
from recnets.analysis.diagnose import diagnose_model, save_diagnostics
from recnets.analysis.gradients import (HiddenGradients, LagProfile, StepRecord, flat_state, gradient_norm_by_lag,
                                        hidden_columns, hidden_gradients, last_step_loss, norm_preserving_penalty,
                                        recorded_unroll, recording_states, state_from_flat_rows)
from recnets.analysis.plots import plot_eigenvalues, plot_gradient_norms, plot_singular_values, plot_spectral_radius
from recnets.analysis.spectrum import (JacobianSpectrum, SpectrumTracker, eigenvalues, jacobian_singular_values,
                                       read_spectrum_history, recurrent_blocks, spectral_radius,
                                       spectrum_trackers)

__all__ = ["BPTTGradients", "bptt_gradients",
           "StepRecord", "HiddenGradients", "LagProfile", "recording_states", "recorded_unroll", "hidden_gradients",
           "last_step_loss", "gradient_norm_by_lag", "norm_preserving_penalty", "flat_state", "state_from_flat_rows",
           "hidden_columns",
           "recurrent_blocks", "eigenvalues", "spectral_radius", "JacobianSpectrum", "jacobian_singular_values",
           "SpectrumTracker", "spectrum_trackers", "read_spectrum_history",
           "plot_gradient_norms", "plot_eigenvalues", "plot_singular_values", "plot_spectral_radius",
           "diagnose_model", "save_diagnostics"]
from recnets.analysis.attention_maps import AttentionExample, plot_attention_maps

__all__ += ["AttentionExample", "plot_attention_maps"]
