"""Reproducible experiments by name: ``recnets reproduce NAME``."""
from __future__ import annotations

from types import ModuleType

from recnets.experiments import (attention_vs_length, balanced_vs_chain, brnn_tokenize, brnn_window, char_lm_stdlib,
                                 clockwork_waveform, copy_baseline, deep_rnn, esn_japanese_vowels, esn_mackey_glass,
                                 esn_memory_capacity, esn_narma10, esn_santafe, exposure_bias, g2p_cmudict, glyph_caption, latching, listops,
                                 logic_relations, lstm_adding, lstm_temporal_order, memn2n_babi,
                                 ntm_associative_recall, ntm_copy, ntm_repeat_copy, pascanu_clipping, python_ast,
                                 vanishing_gradients)

__all__ = ["EXPERIMENTS", "experiment"]

EXPERIMENTS: dict[str, ModuleType] = {module.NAME: module for module in (
    char_lm_stdlib,
    lstm_adding,
    lstm_temporal_order,
    pascanu_clipping,
    copy_baseline,
    latching,
    vanishing_gradients,
    clockwork_waveform,
    deep_rnn,
    esn_mackey_glass,
    esn_memory_capacity,
    esn_narma10,
    esn_santafe,
    esn_japanese_vowels,
    balanced_vs_chain,
    listops,
    logic_relations,
    python_ast,
    ntm_copy,
    ntm_repeat_copy,
    ntm_associative_recall,
    memn2n_babi,
    brnn_window,
    brnn_tokenize,
    exposure_bias,
    glyph_caption,
    attention_vs_length,
    g2p_cmudict,
)}


def experiment(name: str) -> ModuleType:
    """The experiment module called ``name`` (``run(out_dir, quick=, progress=, echo=)``, ``TITLE``)."""
    if name not in EXPERIMENTS:
        raise ValueError(f"experiment: expected one of {', '.join(EXPERIMENTS)}, got {name!r}")
    return EXPERIMENTS[name]
