import math

import pytest
import torch

from rankgraph.train.losses import combined_loss, info_nce, triplet


def _one_head():
    pos = torch.tensor([[0.5]])
    neg = torch.tensor([[[0.1, 0.3]]])
    mask = torch.ones(1, 2, dtype=torch.bool)
    return pos, neg, mask


def test_info_nce_matches_hand_computed_value():
    pos, neg, mask = _one_head()
    expected = -math.log(math.exp(0.5) / (math.exp(0.5) + math.exp(0.1) + math.exp(0.3)))
    assert float(info_nce(pos, neg, mask, temperature=1.0)) == pytest.approx(expected, abs=1e-6)
    assert expected == pytest.approx(0.9119, abs=1e-4)


def test_info_nce_temperature_scales_logits():
    pos, neg, mask = _one_head()
    tau = 0.1
    expected = -math.log(math.exp(5.0) / (math.exp(5.0) + math.exp(1.0) + math.exp(3.0)))
    assert float(info_nce(pos, neg, mask, temperature=tau)) == pytest.approx(expected, abs=1e-5)


def test_info_nce_ignores_masked_negatives():
    pos, neg, _ = _one_head()
    mask = torch.tensor([[True, False]])
    expected = -math.log(math.exp(0.5) / (math.exp(0.5) + math.exp(0.1)))
    assert float(info_nce(pos, neg, mask, temperature=1.0)) == pytest.approx(expected, abs=1e-6)


def test_info_nce_logq_correction_subtracts_log_probability():
    pos, neg, mask = _one_head()
    lq_pos = torch.tensor([math.log(0.5)])
    lq_neg = torch.tensor([math.log(0.25), math.log(2.0)])
    a, b, c = 0.5 - math.log(0.5), 0.1 - math.log(0.25), 0.3 - math.log(2.0)
    expected = -a + math.log(math.exp(a) + math.exp(b) + math.exp(c))
    got = info_nce(pos, neg, mask, 1.0, log_q_pos=lq_pos, log_q_neg=lq_neg)
    assert float(got) == pytest.approx(expected, abs=1e-6)


def test_info_nce_averages_heads_and_skips_anchors_without_negatives():
    pos = torch.tensor([[0.5, 0.9], [0.2, 0.9]])  # [H=2, B=2]
    neg = torch.tensor([[[0.1, 0.3], [0.0, 0.0]], [[0.4, 0.0], [0.0, 0.0]]])
    mask = torch.tensor([[True, True], [False, False]])  # anchor 1 has no valid negative
    h0 = -math.log(math.exp(0.5) / (math.exp(0.5) + math.exp(0.1) + math.exp(0.3)))
    h1 = -math.log(math.exp(0.2) / (math.exp(0.2) + math.exp(0.4) + math.exp(0.0)))
    assert float(info_nce(pos, neg, mask, 1.0)) == pytest.approx((h0 + h1) / 2, abs=1e-6)


def test_triplet_hardest_matches_hand_computed_value():
    pos = torch.tensor([[0.5]])
    neg = torch.tensor([[[0.1, 0.4]]])
    mask = torch.ones(1, 2, dtype=torch.bool)
    assert float(triplet(pos, neg, mask, margin=0.2)) == pytest.approx(0.1, abs=1e-6)


def test_triplet_hardest_skips_masked_candidates():
    pos = torch.tensor([[0.5]])
    neg = torch.tensor([[[0.1, 0.9]]])
    mask = torch.tensor([[True, False]])
    assert float(triplet(pos, neg, mask, margin=0.2)) == pytest.approx(0.0, abs=1e-7)


def test_triplet_sampled_draws_only_valid_negatives():
    pos = torch.zeros(1, 64)
    neg = torch.zeros(1, 64, 3)
    neg[..., 1] = 1.0  # the only valid candidate
    mask = torch.zeros(64, 3, dtype=torch.bool)
    mask[:, 1] = True
    loss = triplet(pos, neg, mask, margin=0.2, mode="sampled", generator=torch.Generator().manual_seed(0))
    assert float(loss) == pytest.approx(1.2, abs=1e-6)


def test_combined_loss_weights_its_parts():
    pos, neg, mask = _one_head()
    total, parts = combined_loss(pos, neg, mask, temperature=1.0, margin=0.3, w_nce=2.0, w_triplet=0.5)
    assert float(total) == pytest.approx(2.0 * parts["nce"] + 0.5 * parts["triplet"], abs=1e-6)
    assert parts["triplet"] == pytest.approx(0.1, abs=1e-6)


def test_losses_reject_mismatched_shapes():
    pos, neg, mask = _one_head()
    with pytest.raises(ValueError, match="mask"):
        info_nce(pos, neg, torch.ones(1, 3, dtype=torch.bool), 1.0)
    with pytest.raises(ValueError, match="neg"):
        triplet(pos, neg[0], mask, 0.2)


def test_anchor_without_valid_negatives_gives_finite_gradients():
    pos = torch.tensor([[0.5, 0.2]], requires_grad=True)
    neg = torch.tensor([[[0.1, 0.3], [0.4, 0.6]]], requires_grad=True)
    mask = torch.tensor([[True, True], [False, False]])
    (info_nce(pos, neg, mask, 0.1) + triplet(pos, neg, mask, 0.2)).backward()
    assert torch.isfinite(pos.grad).all() and torch.isfinite(neg.grad).all()
    assert pos.grad[0, 1] == 0 and (neg.grad[0, 1] == 0).all()


def test_losses_without_candidates_are_zero_and_differentiable():
    pos = torch.tensor([[0.5]], requires_grad=True)
    neg = torch.zeros(1, 1, 0)
    mask = torch.zeros(1, 0, dtype=torch.bool)
    total = info_nce(pos, neg, mask, 0.1) + triplet(pos, neg, mask, 0.2)
    total.backward()
    assert float(total.detach()) == 0.0 and pos.grad is not None
