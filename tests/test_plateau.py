"""The search is fair and runs to the plateau: ES steps relative to each parameter group's natural scale,
and the stopping rule every trainer shares."""
import json

import numpy as np
import pytest

from wormsim.config import TrainConfig
from wormsim.train.plateau import Plateau, evaluations_to_fraction


def _feed(curve, patience, tol=0.02, se=0.0, every=1):
    p = Plateau(patience, tol)
    for i, s in enumerate(curve):
        if i % every == 0:
            p.add(i, 10 * i, s, se)
    return p


def test_a_rising_curve_never_converges_and_a_levelled_one_does_after_patience():
    rising = np.linspace(0, 1, 60)
    assert _feed(rising, patience=10).converged_at is None
    levelled = np.concatenate([np.linspace(0, 1, 30), np.ones(30)])
    p = _feed(levelled, patience=10)
    # the last rise ends at iteration 29; ten flat iterations later the window has gained nothing
    assert p.converged_at == 39
    assert p.evaluations_at == 390
    assert p.summary()["val_best"] == pytest.approx(1.0)


def test_a_slow_rise_below_the_threshold_counts_as_converged():
    # 1.0 gained, then 0.001 per iteration: 0.01 over a window of 10 is below 2% of the gain
    curve = np.concatenate([np.linspace(0, 1, 20), 1 + 0.001 * np.arange(1, 41)])
    assert _feed(curve, patience=10).converged_at is not None
    # with a threshold of 0.5% the same rise is still progress
    assert _feed(curve, patience=10, tol=0.005).converged_at is None


def test_a_run_that_learns_nothing_stops_at_its_noise():
    rng = np.random.default_rng(0)
    noise = 0.05 * rng.standard_normal(100)
    p = _feed(noise, patience=10, se=0.05)
    assert p.converged_at is not None and p.converged_at <= 30
    # without the noise floor a max over noise keeps "improving" now and then
    assert _feed(noise, patience=10, se=0.0).converged_at != p.converged_at


def test_checks_every_few_iterations_and_the_state_round_trips():
    curve = np.concatenate([np.linspace(0, 1, 30), np.ones(40)])
    p = _feed(curve, patience=10, every=5)
    assert p.converged_at == 40                    # the first check whose window (30, 40] is flat
    q = Plateau.from_state(json.loads(json.dumps(p.state_dict())))
    assert q.summary() == p.summary()


def test_evaluations_to_a_fraction_of_the_plateau():
    evals = [0, 10, 20, 30, 40]
    assert evaluations_to_fraction([0, 1, 2, 3, 4], evals, [0.0, 0.5, 0.95, 1.0, 1.0], 0.9) == 20
    assert evaluations_to_fraction([0, 1, 2, 3, 4], evals, [0.0, 0.5, 0.95, 1.0, 1.0], 0.5) == 10
    assert evaluations_to_fraction([0, 1, 2], evals[:3], [1.0, 0.5, 0.2]) is None


@pytest.mark.parametrize("level", ["rate", "conductance"])
def test_es_steps_are_a_fraction_of_each_groups_natural_scale(level):
    """One sigma moves every group by the same fraction of its magnitude: a conductance synapse
    (starting at 0.1) and a rate synapse (about 2) alike."""
    import cma

    from wormsim.rollout import Evaluator
    from wormsim.train.es import step_scales
    cfg = TrainConfig(level=level, sigma=0.2)
    ev = Evaluator(cfg.eval_spec())
    x0 = ev.initial_params()
    stds, scales = step_scales(cfg, ev.brain)
    groups = {ev.brain.param_groups.get(k, k) for k in ev.brain.param_sizes()}
    assert set(scales) == groups
    if level == "conductance":
        assert scales["synapse"] == pytest.approx(0.1)
        assert 0.01 < scales["bias"] < 1.0           # pA moving a resting cell by k_release, not 1 pA
    else:
        assert scales["synapse"] > 1.0 and scales["time"] == 1.0
    es = cma.CMAEvolutionStrategy(x0, cfg.sigma, {"popsize": 400, "seed": 3, "verbose": -9,
                                                  "CMA_diagonal": True, "CMA_stds": stds})
    step = np.asarray(es.ask()) - x0
    start = 0
    for name, size in ev.brain.param_sizes().items():
        rel = step[:, start:start + size].std() / scales[ev.brain.param_groups.get(name, name)]
        assert rel == pytest.approx(0.2, rel=0.1), name
        start += size
    ev.close()
    assert step_scales(TrainConfig(level=level, sigma_scale="none"), ev.brain) == (None, {})


def _tiny(tmp_path, **kw):
    from wormsim.runs import Run
    from wormsim.train.es import train_es
    cfg = TrainConfig(task="memory", popsize=3, workers=1, eval_episodes=1, val_episodes=2, val_every=1,
                      patience=2, video=False, out=str(tmp_path / "run"), **kw)
    run = Run.create(cfg.run_dir(), cfg)
    return cfg, run, train_es(cfg, run, progress=False)


def test_es_stops_at_the_plateau_and_says_so(tmp_path):
    cfg, run, s = _tiny(tmp_path, budget=40, plateau_tol=1.0)
    assert s["converged"] and s["generations"] == s["converged_at"] < 40
    assert s["evaluations"] == s["generations"] * cfg.popsize * cfg.episodes
    rows = run.metrics()
    assert all(r.get("val_score") is not None for r in rows)       # val_every 1: a check per row
    assert rows[-1]["converged"] is True and "step_scales" in rows[0]


def test_fixed_budget_ignores_the_rule():
    from wormsim.train.plateau import Validation

    def validation(stop, converged_at):
        state = {"plateau": Plateau(2, 0.02, converged_at=converged_at).state_dict(),
                 "best": {"score": 0.0, "params": np.zeros(3), "iteration": 0}}
        return Validation(TrainConfig(stop=stop), state=state)
    assert validation("plateau", 5).stop
    assert not validation("budget", 5).stop
    assert not validation("plateau", None).stop


def test_a_task_validates_on_what_can_rank_policies():
    """Navigate is judged by its success rate, 0 for nearly every early policy; it validates on its shaped
    return, swim on its metric (speed)."""
    from wormsim.rollout import EvalResult
    from wormsim.train.plateau import validation_values
    episodes = {"return": np.array([[1.0, 2.0]]), "speed": np.array([[0.1, 0.2]]), "score": np.array([[0.0, 0.0]])}
    result = EvalResult(returns=np.array([1.5]), speed=np.array([0.15]), failed=np.array([False]), steps=2,
                        score=np.array([0.0]), episodes=episodes)
    assert validation_values(result, "navigate").tolist() == [[1.0, 2.0]]
    assert validation_values(result, "swim").tolist() == [[0.1, 0.2]]


def test_a_curve_that_never_moves_converges_after_patience():
    """A policy that scores exactly the same on every check (NCAP on memory: 0 on every episode, standard
    error 0) learns nothing and must stop like any other run that learns nothing, not run to its budget."""
    p = _feed(np.zeros(40), patience=10, se=0.0)
    assert p.converged_at == 10
