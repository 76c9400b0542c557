"""Spiking level: leaky integrate-and-fire neurons on the wiring, with snnTorch (differentiable through
surrogate gradients).

Per neuron i, membrane v_i (dimensionless, threshold ``threshold`` = 1), every internal step dt:

    tau_i dv_i/dt = -v_i + I_syn,i + sum_j g_ij (v_j - v_i) + sum_c U_ci u_c + b_i
    I_syn,i <- I_syn,i exp(-dt/tau_syn) + sum_j W_ji s_j / (tau_syn * rate_scale)
    spike s_i = H(v_i - threshold), then v_i -= threshold (reset by subtraction, one step later)

- W, g, U: the same edge, sign and mask scheme as the rate level (rate.EdgeWeights): weights exist
  only on the wiring's edges, signs come from the presynaptic neuron, magnitudes are learned. The
  spike jump is divided by tau_syn * rate_scale so that a presynaptic neuron firing steadily at
  ``rate_scale`` Hz delivers a mean current W, as a fully active (a = 1) neuron does in the rate level.
- Chemical synapses are weighted spikes filtered by a first-order synaptic current (tau_syn);
  gap junctions are linear currents between membrane potentials.
- tau_i learnable per member and neuron (log_tau, clamped to [tau_min, tau_max]).

How snnTorch is used: one ``snn.Leaky`` defines the integrate / fire / reset / surrogate-gradient part.
Its ``beta`` is a single tensor that broadcasts over the state, which cannot hold a time constant per
population member and neuron for a (P*E, N) batch. So the Leaky is configured as a pure integrator
(beta = 1) and the leak enters its input: input = (1 - exp(-dt/tau)) (I - v), which makes its update
v' = v + (1 - e^{-dt/tau})(I - v) - reset * threshold, the exact exponential step of the equation
above. State stays explicit and batch-first on this brain, (batch, N); the Leaky is removed from
snnTorch's class-level instance list, which we never use. The surrogate is swappable: ``surrogate``
names a function of snntorch.surrogate and ``surrogate_kwargs`` its arguments (default fast_sigmoid,
slope 25); the spike is the Leaky's own ``spike_grad``.

Speed (issue 17): a control step is 20 internal steps of (batch, 81) tensors, so its cost was
per-operation overhead, in the forward pass and in autograd's backward (measured: snn.Leaky's call a
quarter of a BPTT step, backward about a third). So, with the same model:
- ``_fire`` does the Leaky's update itself, the same floating-point operations as ``self.lif(input,
  v)`` with these settings (tested bit for bit), with the Leaky's own surrogate (per internal step of
  (32, 81), no graph: the Leaky called with its state 105 us, with init_hidden=True, which would keep
  the state on the Leaky, 74 us, ``_fire`` 32 us);
- the terms that are fixed while the parameters are (synaptic jump, leak, gap currents) are folded
  into two matrices, formed once per parameter version (``_step_terms``), and the output filter runs
  over a control step's spikes at once;
- with a graph, a control step's internal steps are one autograd node (``_Substeps``) whose backward
  is written out and forms the weight gradients of all internal steps in one product.
tests/test_spiking_reference.py compares outputs, spikes and gradients with the Leaky step's, stored
before the change; benchmarks/spiking_bptt_speed.py times the old and the new step in one run.

Output (activity in [0, 1]): each neuron's spike train is low-pass filtered,
x <- x exp(-dt/tau_rate) + s (1 - exp(-dt/tau_rate)), so x/dt is a rate in Hz, and
activity = tanh(x / (dt * rate_scale)): 0 when silent, 0.76 at rate_scale Hz, -> 1 at high rates.

Recorded per control step, each (batch, N): "activity", "spikes" (number of spikes in the control
step), "membrane" (v at the end of the control step).
"""
from __future__ import annotations

import math
import weakref
from dataclasses import dataclass

import numpy as np
import torch

from wormsim.realism_levels.base import Brain
from wormsim.realism_levels.rate import EdgeWeights


@dataclass(frozen=True)
class SpikingConfig:
    """dt: internal step, s (must divide control_dt). tau_init/tau_min/tau_max: membrane time
    constants, s. tau_syn: synaptic current decay, s. tau_rate: output rate filter, s. rate_scale:
    reference firing rate, Hz. threshold: spike threshold (dimensionless). bias_init: start bias
    (just below threshold: a neuron fires only when driven). surrogate, surrogate_kwargs:
    snntorch.surrogate function and arguments. share_weights, chem_scale, gap_scale, input_gain: as
    in the rate level. chem_scale 0.5 and bias_init 0.9 start the connectome in a moderate regime
    (few silent cells, drive channel on); larger chem_scale runs away, since unlike a sigmoid a spike
    rate is bounded only by 1/dt. curvature_gain: the rate level's fixed factor on the proprioceptive
    gains; 1 here (docs/measurements.md)."""
    dt: float = 1e-3
    tau_init: float = 0.02
    tau_min: float = 0.005
    tau_max: float = 1.0
    tau_syn: float = 0.005
    tau_rate: float = 0.05
    rate_scale: float = 50.0
    threshold: float = 1.0
    bias_init: float = 0.9
    surrogate: str = "fast_sigmoid"
    surrogate_kwargs: tuple[tuple[str, float], ...] = (("slope", 25.0),)
    share_weights: bool = False
    chem_scale: float = 0.5
    gap_scale: float = 1.0
    input_gain: float = 1.0
    curvature_gain: float = 1.0


def _make_leaky(cfg: SpikingConfig):
    import snntorch as snn
    from snntorch import surrogate

    fn = getattr(surrogate, cfg.surrogate, None)
    if fn is None or not callable(fn):
        raise ValueError(f"unknown surrogate {cfg.surrogate!r}; use a function of snntorch.surrogate "
                         "such as fast_sigmoid, atan, sigmoid, triangular")
    lif = snn.Leaky(beta=1.0, threshold=cfg.threshold, spike_grad=fn(**dict(cfg.surrogate_kwargs)),
                    reset_mechanism="subtract")
    # snnTorch keeps every neuron ever built in a class-level list (for its init_hidden helpers);
    # that would keep each brain alive for the life of the process.
    instances = snn.SpikingNeuron.instances
    if any(x is lif for x in instances):
        instances[:] = [x for x in instances if x is not lif]
    return lif


class SpikingBrain(EdgeWeights, Brain):
    """Leaky integrate-and-fire network on the wiring (see the module docstring)."""

    name = "spiking"
    differentiable = True
    outputs_muscles = False
    state_names = ("v", "i_syn", "x", "spk")

    @classmethod
    def default_config(cls) -> SpikingConfig:
        return SpikingConfig()

    def _build(self) -> None:
        cfg = self.config
        n_sub = self.io.control_dt / cfg.dt
        if cfg.dt <= 0 or abs(n_sub - round(n_sub)) > 1e-6 or round(n_sub) < 1:
            raise ValueError(f"dt ({cfg.dt} s) must divide control_dt ({self.io.control_dt} s)")
        if not 0 < cfg.tau_min <= cfg.tau_init <= cfg.tau_max:
            raise ValueError("need 0 < tau_min <= tau_init <= tau_max (s)")
        self.n_substeps = int(round(n_sub))
        self._syn_decay = math.exp(-cfg.dt / cfg.tau_syn)
        r, k = math.exp(-cfg.dt / cfg.tau_rate), self.n_substeps     # the output filter (_filter_rate)
        self._rate_decay_k = r ** k
        self.register_buffer("_rate_coef", torch.tensor([(1.0 - r) * r ** (k - 1 - j) for j in range(k)],
                                                        dtype=torch.float32), persistent=False)
        self._declare_edges()
        self.add_param("bias", np.full(self.circuit.n, cfg.bias_init))
        self.add_param("log_tau", np.full(self.circuit.n, math.log(cfg.tau_init)))
        self.lif = _make_leaky(cfg)
        self.v = self.i_syn = self.x = self.spk = None
        self._terms = None

    def tau(self) -> torch.Tensor:
        """(P, N) membrane time constants, s, within [tau_min, tau_max]."""
        cfg = self.config
        return self.log_tau.clamp(math.log(cfg.tau_min), math.log(cfg.tau_max)).exp()

    def reset(self, batch: int) -> None:
        self._episodes_per_member(batch)
        z = torch.zeros(batch, self.circuit.n, device=self.device)
        self.v, self.i_syn, self.x, self.spk = z, z.clone(), z.clone(), z.clone()
        self.lif.reset_mem()
        self._terms = None

    def _step_terms(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """(w_jump (P, N, N), carry (P, N, N), U (P, C, N), leak (P, 1, N)): every term that is fixed
        while the parameters are, formed once rather than per internal step (the internal loop is 20
        steps of (batch, 81) tensors: its cost is per-operation overhead):
          w_jump = W / (tau_syn rate_scale), so i_syn' = syn_decay i_syn + spk @ w_jump;
          v + leak (I_syn + drive + v L - v) = v @ carry + leak I_syn + leak drive, with
          carry = I + (L - I) diag(leak), leak = 1 - exp(-dt / tau).
        Kept until a parameter changes (optimizer steps and set_params bump versions) or reset(), and
        with a graph also until a backward pass reaches them (its hooks drop them, since backward frees
        their graph): the episode's control steps share one graph of the terms, whose backward then
        runs once per episode instead of once per control step."""
        cfg = self.config
        params = (self.chem, self.gap, self.gain, self.log_tau)
        graph = torch.is_grad_enabled() and any(q.requires_grad for q in params)
        key = (graph, *((q._version, q.data_ptr()) for q in params))
        if self._terms is not None and self._terms[0] == key:
            return self._terms[1]
        w, lap, u = self._matrices()
        leak = 1.0 - torch.exp(-cfg.dt / self.tau()).unsqueeze(1)
        terms = (w * (1.0 / (cfg.tau_syn * cfg.rate_scale)),
                 lap * leak + torch.diag_embed(1.0 - leak.squeeze(1)), u, leak)
        token = object()
        self._terms = (key, terms, token)
        if graph:
            me = weakref.ref(self)                    # (a hook must not keep the brain alive)

            def drop(grad):
                brain = me()
                if brain is not None and brain._terms is not None and brain._terms[2] is token:
                    brain._terms = None
            for t in terms:
                if t.requires_grad:
                    t.register_hook(drop)
        return terms

    def step(self, inputs: torch.Tensor) -> torch.Tensor:
        """inputs: (batch, C) -> activity (batch, N) in [0, 1] after io.control_dt seconds."""
        if self.v is None:
            raise RuntimeError("call reset(batch) before step()")
        cfg = self.config
        batch, n, p = self.v.shape[0], self.circuit.n, self.population
        if inputs.shape != (batch, self.io.n_inputs):
            raise ValueError(f"inputs must have shape ({batch}, {self.io.n_inputs}), "
                             f"got {tuple(inputs.shape)}")
        e = batch // p
        w_jump, carry, u, leak = self._step_terms()
        drive = leak * (torch.bmm(inputs.to(self.device, torch.float32).view(p, e, -1), u)
                        + self.bias.unsqueeze(1))

        # spk: the previous internal step's spikes (kept across control steps, with their graph).
        v, i_syn, spk = (t.view(p, e, n) for t in (self.v, self.i_syn, self.spk))
        args = (v, i_syn, spk, drive, leak, w_jump, carry)
        if torch.is_grad_enabled() and any(t.requires_grad for t in args):
            spikes, v, i_syn = _Substeps.apply(self, *args)
        else:
            spikes, v, i_syn = self._substeps(*args)[:3]
        spk = spikes[-1]
        self.x = self._filter_rate(self.x.view(p, e, n), spikes).reshape(batch, n)
        self.v, self.i_syn, self.spk = (t.reshape(batch, n) for t in (v, i_syn, spk))
        a = torch.tanh(self.x / (cfg.dt * cfg.rate_scale))
        if self._recording:
            self._record(activity=a, spikes=spikes.sum(0).reshape(batch, n), membrane=self.v)
        return a

    def _substeps(self, v, i_syn, spk, drive, leak, w_jump, carry):
        """The control step's internal steps from state (v, i_syn, spk), each (P, E, N), with the terms
        step() formed (drive, leak (P, 1, N), w_jump, carry (P, N, N)). Plain torch: differentiable by
        autograd (step() uses _Substeps, the same forward with a backward of its own, when a graph is
        wanted). Returns (spikes (K, P, E, N), v, i_syn, potentials (K+1, P, E, N) v_0..v_K,
        synaptic currents (K, P, E, N) i_1..i_K)."""
        reset = (v > self.config.threshold).to(v.dtype)   # snn.Leaky's reset: H(v - threshold), no gradient
        spikes, vs, currents = [], [v], []
        for _ in range(self.n_substeps):
            i_syn = torch.baddbmm(i_syn, spk, w_jump, beta=self._syn_decay)
            spk, v = self._fire(torch.baddbmm(torch.addcmul(drive, leak, i_syn), v, carry), reset)
            reset = spk.detach()                      # = H(v - threshold) of the new v, as snn.Leaky's
            spikes.append(spk)
            vs.append(v)
            currents.append(i_syn)
        return torch.stack(spikes), v, i_syn, vs, currents

    def _fire(self, integrated: torch.Tensor, reset: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """snn.Leaky's update with this level's settings (beta = 1, reset by subtraction one step later,
        graded_spikes_factor 1), given the integrated potential v + input and the reset (H(v -
        threshold) of the potential before, detached): v' = v + input - reset * threshold, spike =
        surrogate(v' - threshold). The same floating-point results as ``self.lif(input, v)``
        (tests/test_spiking_reference.py compares them bit for bit) without its per-call bookkeeping:
        calling the Leaky was a quarter of a BPTT step (issue 17). Without a graph the spike is
        the comparison every snntorch.surrogate computes in its forward, (v' - threshold > 0), written
        v' > threshold (the same for floats), without an autograd.Function call. Returns (spike, v')."""
        thr = self.config.threshold
        v = torch.sub(integrated, reset, alpha=thr)   # reset is 0 or 1: the product is exact
        if torch.is_grad_enabled():
            return self.lif.spike_grad(v - thr), v
        return (v > thr).to(v.dtype), v

    def _filter_rate(self, x: torch.Tensor, spikes: torch.Tensor) -> torch.Tensor:
        """The output filter x <- x r + s (1 - r), r = exp(-dt/tau_rate), over the control step's
        spikes (K, ...) at once: x r^K + (1 - r) sum_k r^(K-1-k) s_k (one contraction, not K updates)."""
        return torch.tensordot(self._rate_coef, spikes, dims=1) + x * self._rate_decay_k


class _Substeps(torch.autograd.Function):
    """SpikingBrain._substeps with its backward written out: the forward runs without a graph (one
    autograd node per control step instead of about eight per internal step), and the backward walks
    the internal steps in reverse with the adjoint of each update, then forms the weight gradients
    of all K steps at once (one contraction over steps and episodes instead of K small ones). The
    surrogate's derivative comes from snnTorch's own backward, at every step's potential in one call
    (every snntorch.surrogate is elementwise). Same gradients as autograd through _substeps to float
    rounding (tests/test_spiking_reference.py).

    Per internal step k = 1..K (r_k = H(v_{k-1} - threshold), no gradient; f the surrogate spike):
        i_k = syn_decay i_{k-1} + s_{k-1} w_jump
        v_k = drive + leak i_k + v_{k-1} carry - r_k threshold,   s_k = f(v_k - threshold)
    Adjoints (g_x = d loss / d x), from k = K down, with g_v_K, g_i_K and g_s_k given by the outputs:
        g_pre_k = g_v_k + (g_s_k + g_i_{k+1} w_jump^T) f'(v_k - threshold)
        g_i_k  <- g_i_k + leak g_pre_k;  g_v_{k-1} = g_pre_k carry^T;  g_i_{k-1} = syn_decay g_i_k
        g_carry = sum_k v_{k-1}^T g_pre_k, g_w_jump = sum_k s_{k-1}^T g_i_k,
        g_drive = sum_k g_pre_k, g_leak = sum_{k, episodes} g_pre_k i_k.
    """

    @staticmethod
    def forward(ctx, brain, v, i_syn, spk, drive, leak, w_jump, carry):
        spikes, v_out, i_out, vs, currents = brain._substeps(v, i_syn, spk, drive, leak, w_jump, carry)
        ctx.brain = brain
        ctx.save_for_backward(torch.stack(vs), torch.stack([spk, *spikes[:-1]]), torch.stack(currents),
                              leak, w_jump, carry)
        return spikes, v_out, i_out

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, g_spikes, g_v, g_i):
        brain = ctx.brain
        vs, s_prev, currents, leak, w_jump, carry = ctx.saved_tensors
        thr, syn_decay = brain.config.threshold, brain._syn_decay
        with torch.enable_grad():                     # f'(v_k - threshold) for every k, from snnTorch
            u = (vs[1:] - thr).detach().requires_grad_(True)
            (slope,) = torch.autograd.grad(brain.lif.spike_grad(u), u, torch.ones_like(u))
        k_steps = slope.shape[0]
        g_pre = torch.empty_like(slope)
        g_isyn = torch.empty_like(slope)
        w_t, carry_t = w_jump.transpose(1, 2), carry.transpose(1, 2)
        g_s_next = torch.zeros_like(g_v)              # what s_k receives through i_{k+1}
        for k in range(k_steps - 1, -1, -1):
            torch.addcmul(g_v, g_spikes[k] + g_s_next, slope[k], out=g_pre[k])
            torch.addcmul(g_i, leak, g_pre[k], out=g_isyn[k])
            g_v = torch.bmm(g_pre[k], carry_t)
            g_i = g_isyn[k] * syn_decay
            g_s_next = torch.bmm(g_isyn[k], w_t)

        def over_steps(a, b):                         # sum_k a_k^T b_k over steps and episodes, (P, N, N)
            k, p, e, n = a.shape
            return torch.bmm(a.permute(1, 3, 0, 2).reshape(p, n, k * e), b.permute(1, 0, 2, 3).reshape(p, k * e, n))
        g_drive = g_pre.sum(0)
        g_leak = (g_pre * currents).sum(dim=(0, 2)).unsqueeze(1)
        g_w_jump = over_steps(s_prev, g_isyn)
        g_carry = over_steps(vs[:-1], g_pre)
        return None, g_v, g_i, g_s_next, g_drive, g_leak, g_w_jump, g_carry
