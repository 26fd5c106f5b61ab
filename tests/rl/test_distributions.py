"""rewardlab.rl.distributions against torch.distributions: log-probs, entropies and their gradients."""

import pytest
import torch
from torch import distributions as D

from rewardlab.rl.distributions import Categorical, DiagGaussian, TanhGaussian


def _grads(value, *params):
    return torch.autograd.grad(value.sum(), params)


def test_categorical_log_prob_entropy_and_gradients_match_torch():
    torch.manual_seed(0)
    logits = torch.randn(6, 4, requires_grad=True)
    actions = torch.tensor([0, 1, 2, 3, 1, 2])
    ours, ref = Categorical(logits), D.Categorical(logits=logits)
    assert torch.allclose(ours.log_prob(actions), ref.log_prob(actions), atol=1e-6)
    assert torch.allclose(ours.entropy(), ref.entropy(), atol=1e-6)
    for a, b in zip(_grads(ours.log_prob(actions) + ours.entropy(), logits),
                    _grads(ref.log_prob(actions) + ref.entropy(), logits)):  # fmt: skip
        assert torch.allclose(a, b, atol=1e-6)
    assert ours.mode().tolist() == logits.argmax(-1).tolist()


def test_categorical_samples_follow_the_probabilities():
    torch.manual_seed(0)
    dist = Categorical(torch.log(torch.tensor([[0.1, 0.2, 0.7]])).repeat(100_000, 1))
    freq = torch.bincount(dist.sample(), minlength=3).float() / 100_000
    assert torch.allclose(freq, torch.tensor([0.1, 0.2, 0.7]), atol=0.01)


@pytest.mark.parametrize("per_row", [False, True], ids=["state-independent-std", "per-row-std"])
def test_diag_gaussian_matches_independent_normal(per_row):
    torch.manual_seed(1)
    mean = torch.randn(5, 3, requires_grad=True)
    log_std = (torch.randn(5, 3) if per_row else torch.randn(3)).mul(0.5).requires_grad_()
    actions = torch.randn(5, 3)
    ours = DiagGaussian(mean, log_std)
    ref = D.Independent(D.Normal(mean, log_std.exp().expand_as(mean)), 1)
    assert torch.allclose(ours.log_prob(actions), ref.log_prob(actions), atol=1e-5)
    assert torch.allclose(ours.entropy(), ref.entropy(), atol=1e-5)
    assert ours.entropy().shape == (5,)
    for a, b in zip(_grads(ours.log_prob(actions) + ours.entropy(), mean, log_std),
                    _grads(ref.log_prob(actions) + ref.entropy(), mean, log_std)):  # fmt: skip
        assert torch.allclose(a, b, atol=1e-5)


def test_diag_gaussian_sample_is_reparameterised():
    mean = torch.zeros(200_000, 2, requires_grad=True)
    log_std = torch.tensor([0.0, 1.0], requires_grad=True)
    gen = torch.Generator().manual_seed(0)
    x = DiagGaussian(mean, log_std).sample(gen)
    assert torch.allclose(x.std(0), torch.tensor([1.0, 2.718]), atol=0.02)
    (x.sum()).backward()  # d(mean + std * eps)/d mean = 1
    assert torch.equal(mean.grad, torch.ones_like(mean))


def test_tanh_gaussian_matches_torch_transformed_distribution():
    torch.manual_seed(2)
    mean = torch.randn(4, 2, requires_grad=True)
    log_std = (0.3 * torch.randn(4, 2)).requires_grad_()
    low, high = torch.tensor([-2.0, 0.0]), torch.tensor([2.0, 1.0])
    ours = TanhGaussian(mean, log_std, low, high)
    transforms = [D.TanhTransform(), D.AffineTransform((high + low) / 2, (high - low) / 2)]
    ref = D.Independent(D.TransformedDistribution(D.Normal(mean, log_std.exp()), transforms), 1)
    actions = ref.sample()
    assert ((actions >= low) & (actions <= high)).all()
    assert torch.allclose(ours.log_prob(actions), ref.log_prob(actions), atol=1e-4)
    for a, b in zip(
        _grads(ours.log_prob(actions), mean, log_std), _grads(ref.log_prob(actions), mean, log_std)
    ):
        assert torch.allclose(a, b, atol=1e-4)


def test_tanh_gaussian_log_prob_of_own_sample_is_stable_far_in_the_tail():
    # u = 20: tanh(u) == 1.0 in float32, so atanh of the action is infinite; the pre-tanh path is not
    mean, log_std = torch.full((1, 1), 20.0), torch.full((1,), -5.0)
    action, logp = TanhGaussian(mean, log_std).sample_and_log_prob(torch.Generator().manual_seed(0))
    assert action.item() == 1.0 and torch.isfinite(logp).all()
    # log(1 - tanh(20)^2) = log(4) - 40 - 2 softplus(-40) ~ -38.6, so the density is huge, not inf
    assert logp.item() > 30
