"""OGSRL (ours where the paper is silent, see rewardlab/offline/ogsrl.py): the Christoffel guardian
by hand, its coverage, and constrained optimisation with a control arm that leaves the support."""

import numpy as np
import pytest
import torch

from rewardlab.errors import ConfigError
from rewardlab.offline import ogsrl


def test_monomials_and_christoffel_by_hand():
    e = ogsrl.monomial_exponents(2, 2)
    assert e.tolist() == [[0, 0], [1, 0], [0, 1], [2, 0], [1, 1], [0, 2]]
    m = ogsrl.monomials(torch.tensor([[2.0, 3.0]]), torch.as_tensor(e))
    assert m.tolist() == [[1, 2, 3, 4, 6, 9]]
    # degree 1 in 1-D: m = (1, z). x = -1, 1 has mean 0 and std (ddof 1) sqrt(2), so z = -+1/sqrt(2),
    # M = [[1, mean z], [mean z, mean z^2]] = [[1, 0], [0, 1/2]] and p = 1 + 2 z^2: 2 at both points
    # (the threshold), and 1 + 2 * 4.5 = 10 at x = 3, score 10 / 2
    g = ogsrl.Guardian.fit(np.array([[-1.0], [1.0]]), degree=1, level=0.5, ridge=0.0)
    assert g.threshold == pytest.approx(2.0)
    assert float(g.score(np.array([[3.0]]))[0]) == pytest.approx(5.0)
    with pytest.raises(ConfigError, match="level"):
        ogsrl.Guardian.fit(np.zeros((4, 2)), level=1.5)
    with pytest.raises(ConfigError, match="shape"):
        ogsrl.Guardian.fit(np.zeros(5))


def test_lagrangian_and_dual_step_by_hand():
    limits = torch.tensor([0.1, 0.2])
    lam = torch.tensor([2.0, 0.5])
    costs = torch.tensor([0.3, 0.1])
    # -(1.0 - (2 (0.3 - 0.1) + 0.5 (0.1 - 0.2))) = -(1 - 0.35)
    assert float(ogsrl.lagrangian(torch.tensor(1.0), costs, limits, lam)) == pytest.approx(-0.65)
    assert ogsrl.dual_step(lam, costs, limits, 10.0).tolist() == pytest.approx([4.0, 0.0])
    assert ogsrl.ood_cost(torch.tensor([0.5, 1.0, 1.5])).tolist() == [0.0, 0.0, 0.5]


def test_guardian_keeps_the_data_and_rejects_far_points():
    sim = ogsrl.TreatmentSim()
    fit = ogsrl.rollout(sim, ogsrl.clinician, 400, seed=0)
    held = ogsrl.rollout(sim, ogsrl.clinician, 200, seed=1)
    g = ogsrl.Guardian.fit(ogsrl.guardian_features(fit["states"], fit["doses"]), degree=3)
    assert g.inside(ogsrl.guardian_features(held["states"], held["doses"])).mean() >= 0.95
    toxic = np.random.default_rng(2).uniform(0.7, 1.0, held["doses"].shape)  # doses no clinician gave
    assert g.inside(ogsrl.guardian_features(held["states"], toxic)).mean() <= 0.01


def test_guarded_policy_meets_both_limits_and_beats_the_clinician_unguarded_leaves_the_support():
    """Measured here: clinician return -2.06; guarded -1.25 (safety cost 0.003, OOD cost 0.016 against
    limits 0.02; OOD rate 2.6 %); without the guardian the model (fit on doses <= 0.5) says more dose
    is better: OOD rate 58 %, return -4.64."""
    torch.set_num_threads(1)
    sim = ogsrl.TreatmentSim()
    data = ogsrl.rollout(sim, ogsrl.clinician, 400, seed=0)
    g = ogsrl.Guardian.fit(ogsrl.guardian_features(data["states"], data["doses"]), degree=3)
    model = ogsrl.fit_linear_model(data["states"], data["doses"])
    starts = data["states"][:48, 0]
    behaviour = float(data["rewards"].sum(1).mean())
    limits = {"ood_limit": 0.02, "safety_limit": 0.02}
    guarded = ogsrl.evaluate(sim, ogsrl.optimise(model, g, starts, sim, **limits).policy, g, 200, seed=7)
    free = ogsrl.evaluate(sim, ogsrl.optimise(model, None, starts, sim, **limits).policy, g, 200, seed=7)
    assert guarded["ood_cost"] <= limits["ood_limit"] and guarded["safety_cost"] <= limits["safety_limit"]
    assert guarded["return"] > behaviour + 0.3, (guarded, behaviour)
    assert free["ood_rate"] > 0.3 and free["ood_rate"] > 5 * guarded["ood_rate"], (free, guarded)
    assert free["return"] < guarded["return"], (free, guarded)
