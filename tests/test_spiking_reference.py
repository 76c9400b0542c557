"""The spiking level's fast step is the same model as the snn.Leaky step it replaced (issue 17, speed).

``tests/data/spiking_reference.npz`` was written by ``write_reference()`` at commit baa1b3a, the last one
whose ``SpikingBrain.step`` called ``snn.Leaky`` once per internal step (that step is kept verbatim in
benchmarks/spiking_bptt_speed.py). It holds, for a fixed run (synthetic circuit, population 2 x 2
episodes, perturbed parameters, 12 control steps, fast_sigmoid and atan surrogates): every control step's
activity and spike count, the final state, and the gradients of a fixed scalar of the activities with
respect to every parameter and to the inputs. The tests recompute them with today's code and compare
to float tolerance (the fast step sums the same terms in another order; spikes themselves must match).

Do not regenerate the file to make a test pass: a difference means the model changed.
(``WORMSIM_REGEN_SPIKING_REFERENCE=1`` rewrites it, for a deliberate change of the model.)
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

from test_levels import build, fixed_inputs, perturbed

REFERENCE = Path(__file__).resolve().parent / "data" / "spiking_reference.npz"
SURROGATES = {"fast_sigmoid": (("slope", 25.0),), "atan": (("alpha", 2.0),)}
STEPS = 12


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


def reference_run(surrogate: str) -> dict[str, np.ndarray]:
    """The fixed run: outputs, spike counts, final state and gradients (see the module docstring)."""
    brain, _ = build("spiking", population=2, surrogate=surrogate, surrogate_kwargs=SURROGATES[surrogate])
    brain.set_params(perturbed(brain, seed=3, spread=0.2))
    inputs = (1.5 * fixed_inputs(brain.io.n_inputs, STEPS, 4)).requires_grad_(True)
    brain.reset(4)
    brain.start_recording()
    acts = torch.stack([brain.step(u) for u in inputs])                 # (T, batch, N)
    traces = brain.stop_recording()
    weights = torch.randn(acts.shape, generator=torch.Generator().manual_seed(1))
    (acts * weights).sum().backward()
    out = {"activity": acts.detach().numpy(), "spikes": traces["spikes"], "membrane": traces["membrane"],
           "grad_inputs": inputs.grad.numpy()}
    out.update({f"state_{k}": v.detach().numpy() for k, v in brain.get_state().items()})
    out.update({f"grad_{k}": getattr(brain, k).grad.numpy() for k in brain._param_names})
    return out


def write_reference() -> None:
    REFERENCE.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(REFERENCE, **{f"{s}/{k}": v for s in SURROGATES for k, v in reference_run(s).items()})


@pytest.mark.parametrize("surrogate", SURROGATES)
def test_step_matches_the_snn_leaky_reference(surrogate):
    if os.environ.get("WORMSIM_REGEN_SPIKING_REFERENCE") == "1":
        write_reference()
    stored = np.load(REFERENCE)
    now = reference_run(surrogate)
    keys = sorted(k.split("/", 1)[1] for k in stored.files if k.startswith(surrogate + "/"))
    assert keys == sorted(now)
    assert stored[f"{surrogate}/spikes"].sum() > 100, "the reference run must spike"
    np.testing.assert_array_equal(now["spikes"], stored[f"{surrogate}/spikes"], err_msg="spike counts")
    for key in keys:
        ref = stored[f"{surrogate}/{key}"]
        scale = max(float(np.abs(ref).max()), 1e-12)
        np.testing.assert_allclose(now[key], ref, rtol=1e-4, atol=1e-5 * scale, err_msg=key)


@pytest.mark.parametrize("surrogate", SURROGATES)
def test_fire_is_the_snn_leaky_update_bit_for_bit(surrogate):
    """SpikingBrain._fire, fed as step() feeds it (reset from the potential before, then the previous
    spike), gives exactly what calling the level's snn.Leaky gives, spikes, potentials and gradients."""
    brain, _ = build("spiking", surrogate=surrogate, surrogate_kwargs=SURROGATES[surrogate])
    g = torch.Generator().manual_seed(0)
    v0 = (1.2 * torch.randn(6, brain.circuit.n, generator=g)).requires_grad_(True)
    inputs = [(0.6 * torch.randn(6, brain.circuit.n, generator=g)).requires_grad_(True) for _ in range(3)]
    weights = torch.randn(2, 6, brain.circuit.n, generator=g)

    def run(fast: bool):
        v, loss = v0, 0.0
        reset = (v0 > brain.config.threshold).float()
        for inp in inputs:
            if fast:
                spk, v = brain._fire(v + inp, reset)
                reset = spk.detach()
            else:
                spk, v = brain.lif(inp, v)
            loss = loss + (weights[0] * spk + weights[1] * v).sum()
        grads = torch.autograd.grad(loss, [v0, *inputs])
        return spk, v, grads

    (spk_a, v_a, g_a), (spk_b, v_b, g_b) = run(False), run(True)
    assert spk_a.sum() > 0 and torch.equal(spk_a, spk_b) and torch.equal(v_a, v_b)
    for a, b in zip(g_a, g_b):
        assert torch.equal(a, b)


def test_without_a_graph_the_spike_is_every_surrogates_forward():
    """step() without a graph (ES, validation, rollouts) spikes by comparison, as the forward of every
    snntorch.surrogate does (the surrogate matters only for gradients)."""
    from snntorch import surrogate as sg

    u = torch.cat([torch.linspace(-2, 2, 401), torch.tensor([0.0, -0.0, 1e-45, -1e-45, 1e-7])])
    for make in (sg.fast_sigmoid, sg.atan, sg.sigmoid, sg.triangular, sg.straight_through_estimator,
                 sg.heaviside, sg.spike_rate_escape, sg.SFS):   # (snnTorch 1.0 cannot call SSO or LSO)
        assert torch.equal(make()(u), (u > 0).float()), make.__name__
    brain, _ = build("spiking")
    v = 1.0 + torch.cat([u, torch.tensor([1e-7, -1e-7, 5e-8])]).unsqueeze(0)
    reset = (torch.arange(v.shape[1]) % 2).float().unsqueeze(0)
    with torch.no_grad():
        fast = brain._fire(v, reset)
    slow = brain._fire(v.clone().requires_grad_(True), reset)
    assert torch.equal(fast[0], slow[0]) and torch.equal(fast[1], slow[1].detach())


def test_backward_twice_in_one_episode_and_kept_terms():
    """The terms kept across control steps (weights, leak) are rebuilt once a backward pass has freed
    their graph, so an episode may be backpropagated piecewise (truncated BPTT); without a graph they
    are kept until a parameter changes."""
    brain, _ = build("spiking")
    inputs = fixed_inputs(brain.io.n_inputs, 4, 2)
    brain.reset(2)
    brain.step(inputs[0]).sum().backward()
    first = brain.chem.grad.clone()
    brain.set_state({k: v.detach() for k, v in brain.get_state().items()})
    brain.step(inputs[1]).sum().backward()                  # would fail on a freed graph
    assert not torch.equal(brain.chem.grad, first)
    with torch.no_grad():
        brain.step(inputs[2])
        kept = brain._step_terms()
        assert brain._step_terms() is kept
        brain.set_params(brain.get_params() * 1.01)
        assert brain._step_terms() is not kept


@pytest.mark.parametrize("surrogate", SURROGATES)
def test_written_out_backward_equals_autograd(surrogate):
    """_Substeps' backward against autograd through the same internal steps (SpikingBrain._substeps),
    from a random state (potentials near threshold, a graph into every input)."""
    from wormsim.realism_levels.spiking import _Substeps

    brain, _ = build("spiking", population=2, surrogate=surrogate, surrogate_kwargs=SURROGATES[surrogate])
    brain.set_params(perturbed(brain, seed=5, spread=0.2))
    g = torch.Generator().manual_seed(2)
    p, e, n = 2, 3, brain.circuit.n
    w_jump, carry, _, leak = (t.detach() for t in brain._step_terms())
    inputs = [1.0 + 0.5 * torch.randn(p, e, n, generator=g), torch.randn(p, e, n, generator=g),
              (torch.rand(p, e, n, generator=g) < 0.3).float(), 0.3 * torch.randn(p, e, n, generator=g),
              leak, w_jump, carry]
    weights = [torch.randn(brain.n_substeps, p, e, n, generator=g), torch.randn(p, e, n, generator=g),
               torch.randn(p, e, n, generator=g)]

    def grads(fn):
        xs = [x.clone().requires_grad_(True) for x in inputs]
        outs = fn(*xs)[:3]
        loss = sum((w * o).sum() for w, o in zip(weights, outs))
        return [o.detach() for o in outs], torch.autograd.grad(loss, xs)

    (out_a, g_a), (out_b, g_b) = grads(brain._substeps), grads(lambda *xs: _Substeps.apply(brain, *xs))
    assert out_a[0].sum() > 0
    for a, b in zip(out_a, out_b):
        assert torch.equal(a, b)
    for name, a, b in zip(("v", "i_syn", "spk", "drive", "leak", "w_jump", "carry"), g_a, g_b):
        torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-5 * float(a.abs().max()), msg=name)
