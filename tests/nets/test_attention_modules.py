"""Attention modules against loops written from Bahdanau et al. (2015) and Luong et al. (2015), float64."""
from __future__ import annotations

import pytest
import torch

from recnets.nets.attention import AdditiveAttention, DotAttention, GeneralAttention, make_attention

EXACT = 1e-10


def _inputs(batch=3, steps=5, hq=4, hk=4, lengths=(5, 2, 4), dtype=torch.float64):
    query = torch.randn(batch, hq, dtype=dtype)
    keys = torch.randn(batch, steps, hk, dtype=dtype)
    mask = torch.arange(steps).unsqueeze(0) < torch.tensor(lengths).unsqueeze(1)  # (B, S)
    return query, keys, mask


def _loop_attention(score, query, keys, mask):
    """The papers' equations one sentence and one position at a time: e_j, α_j = exp(e_j) / Σ exp(e_k), c = Σ α_j h_j."""
    contexts, weights = [], []
    for b in range(query.shape[0]):
        length = int(mask[b].sum())
        e = torch.stack([score(query[b], keys[b, j]) for j in range(length)])
        alpha = torch.exp(e) / torch.exp(e).sum()
        context = sum(alpha[j] * keys[b, j] for j in range(length))
        contexts.append(context)
        weights.append(torch.cat([alpha, torch.zeros(keys.shape[1] - length, dtype=keys.dtype)]))
    return torch.stack(contexts), torch.stack(weights)


def _modules(hq=4, hk=4):
    return {
        "bahdanau": (AdditiveAttention(hq, hk, 3).double(),
                     lambda m: lambda s, h: m.v_a @ torch.tanh(m.W_a @ s + m.U_a @ h)),
        "dot": (DotAttention(hq, hq), lambda m: lambda s, h: s @ h),
        "general": (GeneralAttention(hq, hk).double(), lambda m: lambda s, h: s @ (m.W_a @ h)),
    }


@pytest.mark.parametrize("name", ["bahdanau", "dot", "general"])
def test_attention_equals_the_papers_formulas_and_ignores_padding(name):
    hk = 4 if name == "dot" else 6
    module, formula = _modules(4, hk)[name]
    query, keys, mask = _inputs(hk=hk)
    keys_padded = keys.clone()
    keys_padded[~mask] = 1e3  # anything on padding must not matter
    context, weights = module(query, keys_padded, mask)
    expected_context, expected_weights = _loop_attention(formula(module), query, keys, mask)
    assert torch.allclose(context, expected_context, atol=EXACT, rtol=0)
    assert torch.allclose(weights, expected_weights, atol=EXACT, rtol=0)
    assert torch.equal(weights[~mask], torch.zeros_like(weights[~mask]))  # exactly zero on padding
    assert torch.allclose(weights.sum(-1), torch.ones(3, dtype=torch.float64), atol=EXACT, rtol=0)


@pytest.mark.parametrize("name", ["bahdanau", "dot", "general"])
def test_precomputed_keys_give_the_same_result(name):
    module, _ = _modules()[name]
    query, keys, mask = _inputs()
    direct = module(query, keys, mask)
    cached = module(query, keys, mask, module.project_keys(keys))
    assert torch.equal(direct.context, cached.context) and torch.equal(direct.weights, cached.weights)


@pytest.mark.parametrize("name", ["bahdanau", "dot", "general"])
def test_attention_gradcheck_float64(name):
    module, _ = _modules(3, 3)[name]
    query, keys, mask = _inputs(batch=2, steps=3, hq=3, hk=3, lengths=(3, 2))
    query.requires_grad_(True)
    keys.requires_grad_(True)
    parameters = list(module.parameters())

    assert torch.autograd.gradcheck(lambda q, k: module(q, k, mask), (query, keys))
    if parameters:  # the parameters' gradients too, through a functional call
        names = [n for n, _ in module.named_parameters()]
        values = tuple(p.detach().clone().requires_grad_(True) for p in parameters)
        assert torch.autograd.gradcheck(
            lambda q, k, *ps: tuple(torch.func.functional_call(module, dict(zip(names, ps)), (q, k, mask))),
            (query, keys, *values))


def test_dot_attention_equals_scaled_dot_product_attention_with_scale_one():
    query, keys, mask = _inputs(dtype=torch.float64)
    ours = DotAttention(4, 4)(query, keys, mask)
    theirs = torch.nn.functional.scaled_dot_product_attention(
        query.clone().unsqueeze(1), keys.clone(), keys.clone(), attn_mask=mask.unsqueeze(1), scale=1.0)  # (B, 1, Hk)
    assert torch.allclose(ours.context, theirs.squeeze(1), atol=EXACT, rtol=0)


def test_make_attention_and_bad_arguments():
    assert isinstance(make_attention("bahdanau", 4, 6), AdditiveAttention)
    assert make_attention("bahdanau", 4, 6).attention_size == 4
    assert isinstance(make_attention("general", 4, 6), GeneralAttention)
    assert isinstance(make_attention("dot", 4, 4), DotAttention)
    with pytest.raises(ValueError, match="attention: expected one of"):
        make_attention("cosine", 4, 4)
    with pytest.raises(ValueError, match="key_size: expected the query size 4"):
        make_attention("dot", 4, 6)
    with pytest.raises(ValueError, match="attention_size: expected None"):
        make_attention("general", 4, 4, attention_size=3)
    module = DotAttention(4, 4)
    query, keys, mask = _inputs()
    with pytest.raises(ValueError, match="mask: expected a bool tensor"):
        module(query, keys, mask.long())
    with pytest.raises(ValueError, match="query: expected shape"):
        module(query[:, :3], keys, mask)
