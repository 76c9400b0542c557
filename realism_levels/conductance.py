"""Conductance level: graded-potential, single-compartment neurons in Brian2, in physical units.

Most C. elegans motor neurons do not fire all-or-none action potentials; they signal with graded
potentials and release transmitter continuously as a function of voltage. This level models each neuron
as one isopotential compartment with a leak and Hodgkin-Huxley-style voltage-gated K and Ca currents,
graded chemical synapses and ohmic gap junctions, integrated by Brian2 (cython code generation).

Model (one neuron i; every constant below is a `ConductanceConfig` field, its source cited there)::

    C_m dV/dt = g_L (E_L - V)                                   leak
              + g_Ks n (E_K - V)                                slow K     (Boyle & Cohen 2008)
              + g_Kf p^4 q (E_K - V)                            fast K     (Boyle & Cohen 2008)
              + g_Ca e^2 f (E_Ca - V)                           Ca (Boyle & Cohen 2008's body-wall
                                                                muscle L-type current, which c302's
                                                                C-level neurons reuse)
              + sum_j g_ji s(V_j) (E_j - V)                     graded chemical synapses j -> i
              + sum_j G_ij (V_j - V)                            gap junctions i -- j
              + g_in+ (E_exc - V) + g_in- (E_inh - V)           sensory input, as conductances
              + I_bias                                          trained bias current (pA)

    dx/dt = (x_inf(V) - x) / tau_x,   x_inf(V) = 1 / (1 + exp((V_half,x - V) / k_x))   x in n, p, q, e, f
    s(V)  = 1 / (1 + exp((V_r - V) / k_r))                      graded release (Kunert et al. 2014)

- Reversal of a chemical synapse by the presynaptic sign (Dale's law): E_exc = 0 mV for cholinergic
  (excitatory) cells, E_inh = -70 mV for GABAergic DD/VD (Wicks, Roehrig & Rankin 1996; c302 C1).
- Sensory input: the net drive d_i = sum_c U_ci u_c of neuron i (signed gains U on the interface's
  mask) opens an excitatory conductance g_in+ = max(d_i, 0) or an inhibitory one g_in- = max(-d_i, 0),
  as stretch-receptor and command inputs reach these cells through channels, not as current clamps.
- Activity, the contract's output in [0, 1], is the neuron's own release function s(V): the quantity
  its synapses (and, through the interface, its neuromuscular junctions) read.
- Conductances are proportional to the number of synapses (as c302 multiplies its per-synapse base
  conductance by the connection count): g_ji = |theta_chem| * g_syn * count_ji and
  G_ij = |theta_gap| * g_gap * count_ij, so magnitudes are trained and signs stay fixed.
- Gating kinetics are those of the OpenWorm muscle_model NeuroML channels k_slow, k_fast and ca_boyle
  (Boyle & Cohen 2008, Table A1) that c302's C-level cells use; by default the Ca-dependent
  inactivation gate h of ca_boyle is left out (no Ca pool), voltage inactivation f is kept.

Mechanisms beyond the default, each a documented switch of ConductanceConfig (off by default):
- ``ca_inactivation``: a Ca pool d[Ca]/dt = rho I_Ca / area - [Ca] / tau_Ca and ca_boyle's gate h,
  which scales g_Ca by 1 - alpha (1 - h([Ca])) (c302 cell_C.xml, parameters_C.py);
- ``synaptic_gating``: release s relaxes to s(V_pre) with tau_s = (1 - s(V_pre)) / k_s instead of
  following it at once (c302 C1's gradedSynapse).
``PARAMETER_SETS`` names whole sets ("wormsim": the defaults; "c302-C1": c302's level C1 values, checked
against c302's own NEURON run by tests/test_c302_reference.py) and ``LADDER`` the rungs of a ladder of
detail (passive, active = the default, + Ca inactivation, + synaptic kinetics), each registered as a level
(conductance-passive, conductance, conductance-ca-inactivation, conductance-synaptic-kinetics).
docs/c302/README.md compares them with c302.
- Membrane densities are c302 parameters_C (specific capacitance 1 uF/cm2, leak 0.005 mS/cm2 at
  -50 mV, k_slow 3 mS/cm2, k_fast 0.0712 mS/cm2 at -60 mV, ca_boyle 3 mS/cm2 at 40 mV) on the
  membrane area of c302's soma, a sphere of diameter 5 um (pi d^2 = 78.5 um2, C_m = 0.785 pF).

Numerics. Every conductance onto a neuron is summed per time step (chemical: sum g and sum g*E; gap:
sum G and sum G*V_j), so the voltage equation is linear in V with known coefficients and Brian2's
exponential Euler integrates it exactly over one step with the gates and the neighbours' voltages held
at their values at the start of the step; gates are linear in themselves and integrated exactly too.
Each step is a convex combination of reversal potentials and neighbours' voltages (plus bias and input
offsets), so it never blows up. What it does not do for any dt is resolve strong gap coupling: the
difference between two coupled cells changes by a factor 2 exp(-x) - 1 per step (x = G_tot dt / C_m)
where the exact solution has exp(-x). Above x = ln 2 it flips sign every step; above x = ln 4 it
keeps more than half of itself while flipping, a ringing the cells do not have, and the brain warns
once when a parameter set gets there. dt = 0.1 ms (default) was chosen against a 0.025 ms reference
on per-neuron mean voltages and swimming speeds (docs/measurements.md): point by point the traces part
within a few hundred ms at any dt (plateau transitions shift in time), so accuracy is judged on such
statistics. A voltage outside [v_min, v_max] or NaN ends that episode with a recorded failure
(``failed_rows``; the runner ends the episode as failed) instead of raising.

Trainable parameters (per population member, flat vector order):
    g_chem      (n_chem_groups,)  conductance scale per chemical edge (or cell-class pair), |.|
    g_gap       (n_gap_groups,)   conductance scale per gap pair (or unordered class pair), |.|
    bias        (N,)              bias current, pA (signed)
    input_gain  (n_mask,)         signed gain of each IOSpec.input_mask entry: input conductance
                                  per input unit (input_scale_nS / curvature_scale_nS at 1.0); the
                                  sign of gain x input picks excitatory (E_exc) or inhibitory (E_inh)

Population: P members x E episodes are B = P*E copies of the circuit in ONE NeuronGroup of B*N neurons
with block-diagonal Synapses (index arrays), so a generation runs as one Brian2 simulation; the body
runs alongside in one vector environment, stepped from inside that run by the runner's callback
(``drive``, the level's hook into wormsim.rollout.run_episodes).

    brain = ConductanceBrain(circuit, io, population=32)
    brain.set_params(theta)                                # (32, brain.n_params)
    out = run_episodes(brain, interface, vec_env, seeds=range(32), n_steps=500)
    out.returns, out.failed                                # (32,), (32,)
"""
from __future__ import annotations

import time
import warnings
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch

from wormsim.realism_levels.base import Brain, edge_groups

# ---- gating kinetics: OpenWorm muscle_model NeuroML2 channels, from Boyle & Cohen 2008 (Table A1), as
# c302's cell_C.xml (bundled with cect, data/NeuroML) gives them ----
# name: (half-activation V_half mV, slope k mV (negative = inactivation), time constant tau ms)
GATES: dict[str, tuple[float, float, float]] = {
    "n": (19.8741, 15.8512, 25.0007),      # k_slow activation
    "p": (-8.05232, 7.42636, 2.25518),     # k_fast activation (4 instances)
    "q": (-15.6456, -9.97468, 149.963),    # k_fast inactivation
    "e_Ca": (-3.3568, 6.74821, 0.100027),  # ca_boyle activation "e" (2 instances; plain e is Euler's number)
    "f_Ca": (25.1815, -5.03176, 150.88),   # ca_boyle voltage inactivation "f"
}

# The voltage equation and its gates. {ca_factor} is "" by default and "* fcond_Ca" with the Ca-dependent
# inactivation (ConductanceConfig.ca_inactivation); {extra} adds that mechanism's and the synaptic
# gating's own equations. Each combination of switches is one fixed set of equations, so it compiles
# once (per venv, in Brian2's disk cache) whatever the other constants are.
_NEURON_EQS = """
dv/dt = (I_leak + I_Ks + I_Kf + I_Ca + I_chem + I_gap + I_bias + I_in) / C_m : volt
I_in = g_in_exc * (E_exc - v) + g_in_inh * (E_inh - v) : amp
I_leak = g_L * (E_L - v) : amp
I_Ks = g_Ks * n * (E_K - v) : amp
I_Kf = g_Kf * p**4 * q * (E_K - v) : amp
I_Ca = g_Ca * e_Ca**2 * f_Ca {ca_factor}* (E_Ca - v) : amp
I_chem = g_exc * (E_exc - v) + g_inh * (E_inh - v) : amp
I_gap = gV_gap - g_gap * v : amp
dn/dt = (1 / (1 + exp((Vh_n - v) / k_n)) - n) / tau_n : 1
dp/dt = (1 / (1 + exp((Vh_p - v) / k_p)) - p) / tau_p : 1
dq/dt = (1 / (1 + exp((Vh_q - v) / k_q)) - q) / tau_q : 1
de_Ca/dt = (1 / (1 + exp((Vh_e_Ca - v) / k_e_Ca)) - e_Ca) / tau_e_Ca : 1
df_Ca/dt = (1 / (1 + exp((Vh_f_Ca - v) / k_f_Ca)) - f_Ca) / tau_f_Ca : 1
{extra}g_exc : siemens
g_inh : siemens
g_gap : siemens
gV_gap : amp
I_bias : amp
g_in_exc : siemens
g_in_inh : siemens
"""

# Ca-dependent inactivation (c302's ca_boyle gate h, Boyle & Cohen 2008): a Ca pool fed by the Ca
# current (NeuroML's fixedFactorConcentrationModel: d[Ca]/dt = rho I_Ca / area - [Ca] / tau_Ca) and an
# instantaneous gate h = 1 / (1 + exp((Ca_half - [Ca]) / k_hCa)) that scales the Ca conductance by
# fcond = 1 - alpha_h (1 - h). h is computed from [Ca] once per step (in _step_code, like r), so that
# both [Ca] and v stay linear in themselves for exponential Euler; c302's h (tau = 0) follows [Ca] at
# once, a lag of one dt here.
_CA_EQS = """dCa/dt = rho_Ca * I_Ca - Ca / tau_Ca : mmolar
fcond_Ca : 1
"""
_CA_CODE = "fcond_Ca = 1 - alpha_h * (1 - 1 / (1 + exp((Ca_half - Ca) / k_hCa)))"

# graded release. Instantaneous (default): r = s_inf(V), stored once per step (not a subexpression) so
# that the synapses read it instead of each evaluating the exponential again. With synaptic gating
# (NeuroML's gradedSynapse, as c302 C1 uses it): ds/dt = (s_inf - s) / tau_s with
# tau_s = (1 - s_inf) / k_s, which with x = (V - V_r) / k_r is ds/dt = k_s (e^x - (1 + e^x) s): no
# division, linear in s, so exponential Euler integrates it exactly over a step however short tau_s
# gets (NEURON's cnexp does not: c302's export needs dt <= 0.005 ms, docs/c302/README.md). One state
# per presynaptic neuron serves all its synapses: c302 gives every synapse of a sign the same s_inf and
# k, so their s are equal.
_RELEASE_CODE = "r = 1 / (1 + exp((V_r - v) / k_r))"
_GATED_RELEASE_EQS = "dr/dt = k_s * (exp((v - V_r) / k_r) - (1 + exp((v - V_r) / k_r)) * r) : 1\n"


def _neuron_equations(cfg: "ConductanceConfig") -> tuple[str, str]:
    """(equations, code run at the start of every step) for the mechanisms cfg switches on."""
    extra, code = "", []
    if cfg.ca_inactivation:
        extra += _CA_EQS
        code.append(_CA_CODE)
    if cfg.synaptic_gating:
        extra += _GATED_RELEASE_EQS
    else:
        extra += "r : 1\n"
        code.append(_RELEASE_CODE)
    eqs = _NEURON_EQS.format(ca_factor="* fcond_Ca " if cfg.ca_inactivation else "", extra=extra)
    return eqs, "\n".join(code)


# graded chemical synapse: conductance w * s(V_pre); one Synapses object per presynaptic sign, whose
# reversal (E_exc, E_inh) sits in the neuron equation
_CHEM_EQS = """
w : siemens (constant)
{target}_post = w * r_pre : siemens (summed)
"""

# ohmic gap junction, one directed Synapses entry each way; the sum of G onto a neuron is a parameter
_GAP_EQS = """
w : siemens (constant)
gV_gap_post = w * v_pre : amp (summed)
"""

_STATE_VARS = ("v",) + tuple(GATES)


@dataclass(frozen=True)
class ConductanceConfig:
    """Configuration of the conductance level. Units are in the field names."""
    # numerics
    dt_ms: float = 0.1                  # integration step; exponential Euler (accuracy: see the module doc)
    method: str = "exponential_euler"
    codegen_target: str = "cython"      # "cython" (falls back to "numpy" with a warning) or "numpy"
    share_weights: bool = False         # one conductance scale per cell-class pair (base.edge_groups)
    # membrane: c302 parameters_C (OpenWorm), soma a sphere of c302's cell_diameter
    soma_diameter_um: float = 5.0       # c302 parameters_C "cell_diameter"
    c_m_uF_cm2: float = 1.0             # c302 parameters_C "specific_capacitance"
    g_leak_mS_cm2: float = 0.005        # c302 parameters_C "neuron_leak_cond_density"
    e_leak_mV: float = -50.0            # c302 parameters_C "leak_erev"
    g_k_slow_mS_cm2: float = 3.0        # c302 parameters_C "neuron_k_slow_cond_density"
    g_k_fast_mS_cm2: float = 0.0711643917483308  # c302 parameters_C "neuron_k_fast_cond_density"
    e_k_mV: float = -60.0               # c302 parameters_C "k_slow_erev", "k_fast_erev"
    g_ca_mS_cm2: float = 3.0            # c302 parameters_C "neuron_ca_boyle_cond_density"
    e_ca_mV: float = 40.0               # c302 parameters_C "ca_boyle_erev"
    # graded chemical synapses
    g_syn_nS: float = 0.1               # per synapse; Kunert, Shlizerman & Kutz 2014 (100 pS); c302 C1 0.09 nS
    e_exc_mV: float = 0.0               # cholinergic; Wicks, Roehrig & Rankin 1996; c302 C1 "exc_syn_erev"
    e_inh_mV: float = -70.0             # GABAergic; Wicks et al. 1996; c302 C1 "inh_syn_erev"
    v_release_mV: float = -35.0         # release sigmoid midpoint; Kunert et al. 2014 place it near the
                                        # equilibrium potential (their E_c = -35 mV); c302 C1 uses
                                        # V_th = 0 mV, where these cells, resting near -58 mV, would
                                        # release almost nothing
    k_release_mV: float = 5.0           # release sigmoid slope; c302 C1 "exc_syn_delta" / "inh_syn_delta"
    # gap junctions
    g_gap_nS: float = 0.1               # per junction; Kunert et al. 2014 (100 pS); c302 C1 uses 0.00052 nS
    # trainable-parameter scales and initial values
    bias_scale_pA: float = 1.0          # bias theta 1.0 = 1 pA
    # Sensory input is a conductance, not a current: these cells' input resistance is ~50 GOhm at rest
    # (c302's leak), so an injected current of a few pA already drove voltages past -150 mV and ended
    # most episodes of training as failures; a conductance stops at its reversal. Per input unit:
    # theta 1.0 = input_scale_nS (drives, task inputs) or curvature_scale_nS (proprioception).
    # Chosen on cook2019 swim by a sweep against injected currents (docs/measurements.md).
    input_scale_nS: float = 0.5
    curvature_scale_nS: float = 2.0
    # Trainable conductance scales start at 0.1 of the literature values (so a synapse starts at 10 pS,
    # not the cited 100 pS): at 1.0 the per-synapse 0.1 nS times Cook 2019's synapse counts (up to 52
    # per connection) drives the excitatory circuit onto a depolarised plateau; at 0.1 it rests around
    # the release midpoint, the graded regime the model is about (docs/measurements.md).
    init_g_chem: float = 0.1
    init_g_gap: float = 0.1
    init_input_gain: float = 1.0
    # starting bias per cell class, "CLASS=pA,CLASS=pA" (e.g. "DB=5.5,VB=5.5"); empty: every bias starts
    # at 0. The Ca plateau's bistable window lies 2-6 pA above rest (docs/body/self-rhythm.md section 5)
    # while ES moves a bias by a fraction of the group's natural scale (~0.1 pA), so a start inside the
    # window has to be set, not waited for (section 15)
    init_bias_pA: str = ""
    # ---- mechanisms beyond the default model (each a switch; PARAMETER_SETS and LADDER combine them) ----
    # Ca-dependent inactivation of the Ca current (c302's ca_boyle gate h, from Boyle & Cohen 2008's
    # muscle model) driven by a Ca pool; the values are c302 parameters_C / cell_C.xml's
    ca_inactivation: bool = False
    ca_decay_ms: float = 11.5943        # c302 parameters_C "ca_conc_decay_time" (Boyle & Cohen 2008 Table A1)
    ca_rho: float = 0.000238919         # c302 parameters_C "ca_conc_rho", mol / (m A s): pool filling per
                                        # unit Ca current density (Boyle & Cohen 2008 Table A1, "f")
    h_alpha: float = 0.282473           # c302 cell_C.xml ca_boyle h "alpha": largest fraction inactivated
    h_ca_half_mM: float = 6.41889e-8    # c302 cell_C.xml ca_boyle h "ca_half"
    h_k_mM: float = -1.00056e-8         # c302 cell_C.xml ca_boyle h "k" (negative: inactivation)
    # first-order synaptic gating: ds/dt = (s_inf(V_pre) - s) / tau_s, tau_s = (1 - s_inf) / k_s (c302
    # C1's NeuroML gradedSynapse, parameters_C1.py); off: s = s_inf(V_pre) at once
    synaptic_gating: bool = False
    syn_rate_per_ms: float = 0.025      # c302 parameters_C1 "exc_syn_k" = "inh_syn_k" (tau_s <= 40 ms)
    syn_start_closed: bool = False      # with synaptic_gating: s starts at 0 (c302's gradedSynapse sets
                                        # no initial value, so NEURON starts it closed), not at s_inf
    # initial membrane potential of every episode; None: the isolated cell's resting potential
    # (resting_potential). Gates start at their steady state there, the Ca pool empty.
    v_init_mV: float | None = None
    # failure handling
    v_min_mV: float = -150.0            # a voltage outside [v_min, v_max] (or NaN) is a numerical failure
    v_max_mV: float = 100.0
    failure_return: float = -1.0e6      # return recorded for an episode that failed (finite, so that
                                        # fitness standardisation never sees NaN)

    @property
    def membrane_area_cm2(self) -> float:
        return float(np.pi * (self.soma_diameter_um * 1e-4) ** 2)

    def __post_init__(self):
        if self.dt_ms <= 0:
            raise ValueError(f"dt_ms must be > 0, got {self.dt_ms}")
        if self.ca_inactivation and (self.ca_decay_ms <= 0 or not 0 <= self.h_alpha <= 1):
            raise ValueError("ca_inactivation needs ca_decay_ms > 0 and 0 <= h_alpha <= 1, got "
                             f"{self.ca_decay_ms}, {self.h_alpha}")
        if self.synaptic_gating and self.syn_rate_per_ms <= 0:
            raise ValueError(f"syn_rate_per_ms must be > 0, got {self.syn_rate_per_ms}")
        self.initial_biases()      # a malformed init_bias_pA fails here, at configuration

    def initial_biases(self) -> dict[str, float]:
        """init_bias_pA as {cell class: pA}; ValueError (one line) when it is not CLASS=pA,..."""
        out = {}
        for item in filter(None, (x.strip() for x in self.init_bias_pA.split(","))):
            name, _, value = (x.strip() for x in item.partition("="))
            try:
                pA = float(value)
            except ValueError:
                pA = float("nan")
            if not name or not np.isfinite(pA):
                raise ValueError(f"init_bias_pA {self.init_bias_pA!r}: write CLASS=pA[,CLASS=pA...], "
                                 "e.g. DB=5.5,VB=5.5")
            out[name] = pA
        return out


# ---- named parameter sets, as c302 keeps its levels (parameters_C.py, parameters_C1.py, ...) ----------
# "wormsim": the level's defaults (ConductanceConfig()): c302 level C's membrane with Kunert et al.
#   2014's synapses, release midpoint at -35 mV, conductances trainable from 0.1 of their literature
#   values, no Ca pool, instantaneous release.
# "c302-C1": OpenWorm c302 0.12.1's level C1 as it generates and runs the 81-cell motor circuit
#   (parameters_C.py, parameters_C1.py, cell_C.xml): the same membrane plus the Ca pool and Ca-dependent
#   inactivation, graded synapses with first-order gating, release midpoint 0 mV, 0.09 nS per synapse,
#   0.00052 nS per gap junction which c302 instantiates once per direction of every pair (Cook 2019's
#   symmetric gap sheet lists each pair both ways), so 2 x 0.00052 nS per junction here, every cell
#   starting at -45 mV with its synapses closed (s = 0: starting them at s_inf(-45 mV) = 1.2e-4 instead
#   moves the first 100 ms by up to 1 mV). Scales start at 1 (c302's values as they are). examples/c302_reference.py
#   and tests/test_c302_reference.py check it against c302's own NEURON run (docs/c302/README.md).
PARAMETER_SETS: dict[str, dict[str, Any]] = {
    "wormsim": {},
    "c302-C1": dict(ca_inactivation=True, synaptic_gating=True, v_release_mV=0.0, k_release_mV=5.0,
                    g_syn_nS=0.09, g_gap_nS=2 * 0.00052, init_g_chem=1.0, init_g_gap=1.0,
                    v_init_mV=-45.0, syn_start_closed=True),
}

# ---- the ladder of biophysical detail: one mechanism added per rung, on the "wormsim" set -------------
# Each rung is a level of its own (LADDER_LEVELS, registered in realism_levels/__init__.py), trained and
# judged like any level, so an experiment can ask which mechanism changes the answer. The default
# "conductance" level is rung 2.
LADDER: dict[str, dict[str, Any]] = {
    "passive": dict(g_k_slow_mS_cm2=0.0, g_k_fast_mS_cm2=0.0, g_ca_mS_cm2=0.0),   # leak + synapses
    "active": {},                                                                  # + K and Ca (default)
    "ca-inactivation": dict(ca_inactivation=True),                                 # + Ca pool, h gate
    "synaptic-kinetics": dict(ca_inactivation=True, synaptic_gating=True),         # + s with tau_s
}


def parameter_set(name: str, **overrides) -> ConductanceConfig:
    """The ConductanceConfig of a named parameter set (PARAMETER_SETS), with field overrides."""
    if name not in PARAMETER_SETS:
        raise ValueError(f"unknown conductance parameter set {name!r}; choose from "
                         f"{', '.join(PARAMETER_SETS)}")
    return ConductanceConfig(**{**PARAMETER_SETS[name], **overrides})


def ladder_config(rung: str, **overrides) -> ConductanceConfig:
    """The ConductanceConfig of a rung of the ladder of detail (LADDER), with field overrides."""
    if rung not in LADDER:
        raise ValueError(f"unknown rung {rung!r}; choose from {', '.join(LADDER)}")
    return ConductanceConfig(**{**LADDER[rung], **overrides})


# ---- code generation target -------------------------------------------------------------------------
_CYTHON_OK: bool | None = None


def _cython_usable() -> bool:
    """Whether Brian2's cython target can compile here (a test compilation, cached per process)."""
    global _CYTHON_OK
    if _CYTHON_OK is None:
        try:
            from brian2.codegen.runtime.cython_rt import CythonCodeObject
            _CYTHON_OK = bool(CythonCodeObject.is_available())
        except Exception:  # noqa: BLE001  (no Cython, no compiler, broken toolchain: all mean "no")
            _CYTHON_OK = False
    return _CYTHON_OK


def choose_codegen_target(requested: str) -> str:
    """The Brian2 code generation target to use: ``requested`` if usable, else numpy with a warning."""
    if requested not in ("cython", "numpy"):
        raise ValueError(f"unknown codegen target {requested!r}; choose from cython, numpy")
    if requested == "cython" and not _cython_usable():
        warnings.warn("conductance level: Brian2's cython target is unusable here (no Cython or no "
                      "working C compiler); falling back to the numpy target, which is several times "
                      "slower", RuntimeWarning, stacklevel=2)
        return "numpy"
    return requested


# ---- small helpers ---------------------------------------------------------------------------------
# units of the constants of the optional mechanisms (the others follow their name, see _unit_name)
_UNITS = {"rho_Ca": "mmolar / coulomb", "Ca_half": "mmolar", "k_hCa": "mmolar", "alpha_h": "1",
          "k_s": "hertz"}


def _unit_name(constant: str) -> str:
    """Brian2 unit of a membrane constant of ConductanceBrain._namespace, by its name."""
    if constant in _UNITS:
        return _UNITS[constant]
    if constant == "C_m":
        return "farad"
    if constant.startswith("tau_"):
        return "second"
    if constant.startswith("g_"):
        return "siemens"
    return "volt"          # E_*, V_r, k_r, Vh_*, k_* (reversal potentials, half-points, slopes)


def _np(x) -> np.ndarray:
    if torch.is_tensor(x):
        return x.detach().cpu().numpy()
    return np.asarray(x)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        return 1.0 / (1.0 + np.exp(-x))


def resting_potential(config: ConductanceConfig) -> float:
    """The most hyperpolarised stable zero of an isolated neuron's steady-state current, in mV.

    An isolated cell (no synapses, no bias, no input) rests here; episodes start from it.
    """
    v = np.linspace(-120.0, 60.0, 36001)
    inf = {k: _sigmoid((v - vh) / kk) for k, (vh, kk, _) in GATES.items()}
    c = config
    i_ss = (c.g_leak_mS_cm2 * (c.e_leak_mV - v)
            + c.g_k_slow_mS_cm2 * inf["n"] * (c.e_k_mV - v)
            + c.g_k_fast_mS_cm2 * inf["p"] ** 4 * inf["q"] * (c.e_k_mV - v)
            + c.g_ca_mS_cm2 * inf["e_Ca"] ** 2 * inf["f_Ca"] * (c.e_ca_mV - v))
    down = np.flatnonzero((i_ss[:-1] > 0) & (i_ss[1:] <= 0))  # stable: current falls through zero
    if len(down) == 0:
        raise ValueError("this membrane has no stable resting potential in [-120, 60] mV")
    k = down[0]
    return float(v[k] + (v[k + 1] - v[k]) * i_ss[k] / (i_ss[k] - i_ss[k + 1]))


def steady_state_current(config: ConductanceConfig, v_mV: np.ndarray) -> np.ndarray:
    """An isolated cell's steady-state membrane current (pA, inward positive) at the voltages ``v_mV``:
    every gate at its steady state there, no synapse, bias or input (the curve whose stable zero
    ``resting_potential`` finds). A bias current I shifts it by I.

    Where this curve rises with v (negative slope conductance) the cell is regenerative: with the default
    membrane the Ca current (Boyle & Cohen 2008's, as c302's C-level cells carry it) makes it rise
    between about -13.5 and +3 mV, so that for a window of biases the steady state has a resting and a
    depolarised plateau zero, the bistability (plateau potentials) that Boyle, Berri & Cohen 2012 ask
    of the B-type motor neurons; docs/body/self-rhythm.md section 5 measures the hysteresis."""
    v = np.asarray(v_mV, np.float64)
    inf = {k: _sigmoid((v - vh) / kk) for k, (vh, kk, _) in GATES.items()}
    c = config
    i_ss = (c.g_leak_mS_cm2 * (c.e_leak_mV - v)
            + c.g_k_slow_mS_cm2 * inf["n"] * (c.e_k_mV - v)
            + c.g_k_fast_mS_cm2 * inf["p"] ** 4 * inf["q"] * (c.e_k_mV - v)
            + c.g_ca_mS_cm2 * inf["e_Ca"] ** 2 * inf["f_Ca"] * (c.e_ca_mV - v))   # uA / cm2
    return i_ss * c.membrane_area_cm2 * 1e6                                      # pA



def release(config: ConductanceConfig, v_mV) -> np.ndarray:
    """Graded release s(V) at the voltages ``v_mV``: the cell's activity, what its synapses and NMJs read."""
    return _sigmoid((np.asarray(v_mV, np.float64) - config.v_release_mV) / config.k_release_mV)


def stable_voltages(config: ConductanceConfig, bias_pA: float) -> np.ndarray:
    """The isolated cell's stable steady states (mV, ascending) under a bias current: the zeros where the
    steady-state current plus the bias falls through 0. Two of them inside the Ca plateau's window."""
    v = np.linspace(-100.0, 40.0, 14001)
    f = steady_state_current(config, v) + bias_pA
    return v[1:][(f[:-1] > 0) & (f[1:] <= 0)]


class _Sim:
    """The Brian2 objects for one batch size: one NeuronGroup of batch * N neurons, block-diagonal
    chemical and gap Synapses, and a NetworkOperation at the control step calling ``callback``."""

    def __init__(self, brain: "ConductanceBrain", batch: int):
        import brian2 as b2

        cfg, n = brain.config, brain.circuit.n
        self.batch, self.n = batch, n
        # one clock for every object: Brian2's runtime loop steps in Python, and each extra clock
        # costs a comparison per step
        clock = b2.Clock(dt=cfg.dt_ms * b2.ms, name="wormsim_clock")
        # the membrane constants are shared parameters of the group, not names in a namespace: Brian2
        # writes namespace constants into the generated code, so every other configuration (a test's,
        # an experiment's) would compile its own extension (~2 s each, and again in every fresh venv)
        ns = brain._namespace
        self.callback = None
        shared = "".join(f"{k} : {_unit_name(k)} (shared, constant)\n" for k in ns)
        # fixed object names for the same reason: Brian2 names arrays in the generated code after their
        # object, and numbers unnamed objects (neurongroup_1, _2, ...), so each new network compiled
        # anew; names only need to be unique within one Network
        eqs, step_code = _neuron_equations(cfg)
        self.group = b2.NeuronGroup(batch * n, eqs + shared, method=cfg.method, namespace={},
                                    clock=clock, name="wormsim_neurons")
        for k, value in ns.items():
            setattr(self.group, k, value)
        objs: list[Any] = [self.group]
        offs = (np.arange(batch) * n)[:, None]
        if step_code:
            self.group.run_regularly(step_code, clock=clock, when="start", order=1,
                                     name="wormsim_release")
        # chemical synapses, split by presynaptic sign; chem_sel[k] selects their edges (in order)
        ce = brain._chem_edges
        self.chem = []
        for target, sel in (("g_exc", brain._chem_exc), ("g_inh", ~brain._chem_exc)):
            if not sel.any():
                self.chem.append(None)
                continue
            syn = b2.Synapses(self.group, self.group, _CHEM_EQS.format(target=target), namespace={},
                              clock=clock, name=f"wormsim_chem_{target}")
            pre = (ce[None, sel, 0] + offs).ravel()
            post = (ce[None, sel, 1] + offs).ravel()
            syn.connect(i=pre, j=post)
            if not (np.array_equal(syn.i[:], pre) and np.array_equal(syn.j[:], post)):
                raise RuntimeError("Brian2 reordered the chemical synapses; parameter mapping broken")
            self.chem.append(syn)
            objs.append(syn)
        ge = brain._gap_directed
        self.gap = None
        if len(ge):
            self.gap = b2.Synapses(self.group, self.group, _GAP_EQS, namespace={}, clock=clock,
                                   name="wormsim_gap")
            pre, post = (ge[None, :, 0] + offs).ravel(), (ge[None, :, 1] + offs).ravel()
            self.gap.connect(i=pre, j=post)
            if not (np.array_equal(self.gap.i[:], pre) and np.array_equal(self.gap.j[:], post)):
                raise RuntimeError("Brian2 reordered the gap junctions; parameter mapping broken")
            objs.append(self.gap)

        def tick(t):  # Brian2 passes the current time; the brain keeps its own step count
            if self.callback is not None:
                self.callback()

        self.op = b2.NetworkOperation(tick, dt=brain.io.control_dt * b2.second, when="start",
                                      name="wormsim_body")
        objs.append(self.op)
        self.net = b2.Network(*objs, name="wormsim_network")
        # every episode starts at t = 0 so that the control clock ticks at the start of each run, even
        # after a run that stopped early (Network.stop ends it between two control steps)
        self.net.store("start")
        # direct views of the runtime arrays (SI units), valid for the life of this object
        self.arr = {k: self.group.variables[k].get_value() for k in
                    brain._state_vars + ("r", "g_in_exc", "g_in_inh", "I_bias", "g_gap")}
        self.chem_w = [syn.variables["w"].get_value() if syn is not None else None for syn in self.chem]
        self.gap_w = self.gap.variables["w"].get_value() if self.gap is not None else None

    def view(self, name: str) -> np.ndarray:
        """(batch, N) view of a neuron variable's SI array."""
        return self.arr[name].reshape(self.batch, self.n)


class ConductanceBrain(Brain):
    """Graded-potential conductance-based circuit in Brian2 (see the module docstring for the model).

    Fast path: ``drive(inputs, on_step, n_steps)`` runs a whole episode in ONE Brian2 run, calling
    the runner back at every control step (wormsim.rollout couples the body through it). ``step()``
    obeys the Brain contract but costs one Network.run per call: use it for tests only.
    """

    name: ClassVar[str] = "conductance"
    differentiable: ClassVar[bool] = False
    steps_in_torch: ClassVar[bool] = False     # one Brian2 run per episode: see drive()
    synaptic_params: ClassVar[tuple[str, ...]] = ("g_chem", "g_gap")
    reservoir_knob: ClassVar[str | None] = "conductance_scale"
    param_groups: ClassVar[dict[str, str]] = {"g_chem": "synapse", "g_gap": "synapse", "bias": "bias",
                                               "input_gain": "input"}
    input_gains: ClassVar[str | None] = "input_gain"

    @classmethod
    def default_config(cls) -> ConductanceConfig:
        return ConductanceConfig()

    @classmethod
    def check_config(cls, config, circuit) -> None:
        """init_bias_pA names cell classes of ``circuit`` only."""
        classes = set(circuit.cell_class)
        for name in config.initial_biases():
            if name not in classes:
                raise ValueError(f"init_bias_pA: no cell class {name!r} in this circuit; choose from "
                                 f"{', '.join(sorted(classes))}")

    def natural_scales(self) -> dict[str, float]:
        """As Brain.natural_scales, with the bias (which starts at zero) scaled physically: the current
        that moves a resting cell by k_release (the voltage over which its release changes e-fold)
        through its input conductance at rest (a bias current I acts as a shift I / g_L of the leak
        reversal, so the slope of the resting potential in E_L gives the input conductance)."""
        from dataclasses import replace
        cfg = self.config
        scales = super().natural_scales()
        d_el = 0.01                                                     # mV
        dv = resting_potential(replace(cfg, e_leak_mV=cfg.e_leak_mV + d_el)) - self.v_rest_mV
        g_in_mS = cfg.g_leak_mS_cm2 * cfg.membrane_area_cm2 * d_el / dv   # mS
        scales["bias"] = cfg.k_release_mV * 1e-3 * g_in_mS * 1e-3 * 1e12 / cfg.bias_scale_pA
        return scales

    # ---- construction -----------------------------------------------------------------------------
    def _build(self) -> None:
        import brian2 as b2

        cfg, c, io = self.config, self.circuit, self.io
        if not isinstance(cfg, ConductanceConfig):
            raise TypeError(f"config must be a ConductanceConfig, got {type(cfg).__name__}")
        steps = io.control_dt / (cfg.dt_ms * 1e-3)
        if abs(steps - round(steps)) > 1e-6 or round(steps) < 1:
            raise ValueError(f"control_dt ({io.control_dt} s) must be a positive multiple of dt "
                             f"({cfg.dt_ms} ms)")
        self.target = choose_codegen_target(cfg.codegen_target)
        area = cfg.membrane_area_cm2
        mS_cm2 = b2.msiemens  # times area in cm2 gives the cell's conductance
        self._namespace = {
            "C_m": cfg.c_m_uF_cm2 * area * b2.ufarad,
            "g_L": cfg.g_leak_mS_cm2 * area * mS_cm2, "E_L": cfg.e_leak_mV * b2.mV,
            "g_Ks": cfg.g_k_slow_mS_cm2 * area * mS_cm2,
            "g_Kf": cfg.g_k_fast_mS_cm2 * area * mS_cm2, "E_K": cfg.e_k_mV * b2.mV,
            "g_Ca": cfg.g_ca_mS_cm2 * area * mS_cm2, "E_Ca": cfg.e_ca_mV * b2.mV,
            "V_r": cfg.v_release_mV * b2.mV, "k_r": cfg.k_release_mV * b2.mV,
            "E_exc": cfg.e_exc_mV * b2.mV, "E_inh": cfg.e_inh_mV * b2.mV,
        }
        for g, (vh, k, tau) in GATES.items():
            self._namespace.update({f"Vh_{g}": vh * b2.mV, f"k_{g}": k * b2.mV, f"tau_{g}": tau * b2.ms})
        # the optional mechanisms' constants exist only when they are on, so the default model's
        # equations (and its compiled code in Brian2's cache) stay what they were
        self._state_vars = _STATE_VARS
        if cfg.ca_inactivation:
            area_m2 = area * 1e-4
            self._namespace.update({
                # rho / area: mol m^-3 (= mM) per second per ampere of Ca current
                "rho_Ca": cfg.ca_rho / area_m2 * b2.mmolar / (b2.amp * b2.second),
                "tau_Ca": cfg.ca_decay_ms * b2.ms, "alpha_h": cfg.h_alpha,
                "Ca_half": cfg.h_ca_half_mM * b2.mmolar, "k_hCa": cfg.h_k_mM * b2.mmolar})
            self._state_vars = self._state_vars + ("Ca", "fcond_Ca")
        if cfg.synaptic_gating:
            self._namespace["k_s"] = cfg.syn_rate_per_ms / b2.ms
        self.v_rest_mV = resting_potential(cfg)
        self.v_init_mV = self.v_rest_mV if cfg.v_init_mV is None else float(cfg.v_init_mV)

        # chemical edges and their parameter groups
        self._chem_edges = c.chem_edges
        self._chem_group, n_chem = edge_groups(c, self._chem_edges, cfg.share_weights)
        self._chem_count = c.chem[self._chem_edges[:, 0], self._chem_edges[:, 1]].astype(float)
        self._chem_exc = c.sign[self._chem_edges[:, 0]] > 0 if len(self._chem_edges) else np.zeros(0, bool)
        # gap pairs: edge_groups keys on the ORDERED class pair, but a gap junction is undirected;
        # orient each pair by class name first so VB--DB and DB--VB share one parameter
        ge = c.gap_edges
        self._gap_group, n_gap = edge_groups(c, ge, cfg.share_weights, directed=False)
        self._gap_count = c.gap[ge[:, 0], ge[:, 1]].astype(float) if len(ge) else np.zeros(0)
        self._gap_edges = ge
        self._gap_directed = np.concatenate([ge, ge[:, ::-1]]) if len(ge) else ge.reshape(0, 2)
        self._mask_idx = np.argwhere(io.input_mask)  # (n_mask, 2): (channel, neuron)
        names = io.channel_names or ("",) * io.n_inputs
        curvature = np.array([str(names[ch]).startswith("curvature") for ch, _ in self._mask_idx], bool)
        self._input_scale_nS = np.where(curvature, cfg.curvature_scale_nS, cfg.input_scale_nS)

        self.add_param("g_chem", np.full(n_chem, cfg.init_g_chem))
        self.add_param("g_gap", np.full(n_gap, cfg.init_g_gap))
        self.check_config(cfg, c)
        classes = np.asarray(c.cell_class)
        bias0 = np.zeros(c.n)
        for cls, pA in cfg.initial_biases().items():
            bias0[classes == cls] = pA / cfg.bias_scale_pA
        self.add_param("bias", bias0)
        # the interface's physiological prior (IOSpec.input_init) where given, in argwhere (row-major) order
        init_gain = (io.initial_gains(cfg.init_input_gain) if hasattr(io, "initial_gains")
                     else np.full(len(self._mask_idx), cfg.init_input_gain))
        self.add_param("input_gain", init_gain)

        self._sims: dict[int, _Sim] = {}
        self._sim: _Sim | None = None
        self._batch = 0
        self.failed: np.ndarray = np.zeros(0, bool)

    # ---- parameters into Brian2 --------------------------------------------------------------------
    def _effective(self, batch: int) -> dict[str, np.ndarray]:
        """Per-row (batch) physical values from the population's parameters, SI units."""
        cfg = self.config
        e = self._episodes_per_member(batch)
        rep = lambda a: np.repeat(a, e, axis=0)  # noqa: E731  (P, ...) -> (B, ...)
        th_chem = np.abs(self.g_chem.detach().cpu().numpy().astype(np.float64))
        th_gap = np.abs(self.g_gap.detach().cpu().numpy().astype(np.float64))
        out = {
            "chem_w": rep(th_chem[:, self._chem_group] * self._chem_count * cfg.g_syn_nS * 1e-9),
            "gap_w": rep(th_gap[:, self._gap_group] * self._gap_count * cfg.g_gap_nS * 1e-9),
            "bias": rep(self.bias.detach().cpu().numpy().astype(np.float64) * cfg.bias_scale_pA * 1e-12),
        }
        w_in = np.zeros((self.population, self.io.n_inputs, self.circuit.n))
        if len(self._mask_idx):
            w_in[:, self._mask_idx[:, 0], self._mask_idx[:, 1]] = \
                self.input_gain.detach().cpu().numpy() * self._input_scale_nS * 1e-9
        out["w_in"] = w_in  # (P, C, N), S per input unit (signed: the sign picks the reversal)
        return out

    def _warn_stiff_gaps(self, g_gap_tot: np.ndarray) -> None:
        """Warn (once per brain) when some cell's gap coupling x = G_tot dt / C_m exceeds ln 4, where
        exponential Euler makes the difference of coupled voltages flip sign every step while keeping
        more than half of it (see the module doc)."""
        if getattr(self, "_warned_gaps", False):
            return
        x = g_gap_tot * (self.config.dt_ms * 1e-3) / float(self._namespace["C_m"])
        if x.size and x.max() > np.log(4):
            row, cell = np.unravel_index(int(np.argmax(x)), x.shape)
            member = row // (self._batch // self.population)
            warnings.warn(f"conductance brain: gap coupling G dt / C = {x.max():.2f} > ln 4 on "
                          f"{self.circuit.names[cell]} (member {member}; {int((x > np.log(4)).sum())} "
                          f"cell-rows in all): coupled voltages ring step to step at dt = "
                          f"{self.config.dt_ms} ms instead of settling; lower dt_ms or the g_gap scales",
                          RuntimeWarning, stacklevel=4)
            self._warned_gaps = True

    def _push_params(self) -> None:
        sim, b = self._sim, self._batch
        eff = self._effective(b)
        for arr, sel in zip(sim.chem_w, (self._chem_exc, ~self._chem_exc)):
            if arr is not None:
                arr[:] = eff["chem_w"][:, sel].ravel()
        g_gap_tot = np.zeros((b, self.circuit.n))
        if sim.gap_w is not None:
            sim.gap_w[:] = np.concatenate([eff["gap_w"], eff["gap_w"]], axis=1).ravel()
            np.add.at(g_gap_tot, (slice(None), self._gap_edges[:, 0]), eff["gap_w"])
            np.add.at(g_gap_tot, (slice(None), self._gap_edges[:, 1]), eff["gap_w"])
        sim.arr["g_gap"][:] = g_gap_tot.ravel()
        self._warn_stiff_gaps(g_gap_tot)
        sim.arr["I_bias"][:] = eff["bias"].ravel()
        self._w_in = eff["w_in"]

    def _set_inputs(self, inputs: np.ndarray) -> None:
        """inputs: (batch, C) -> each neuron's net sensory drive through its member's signed gains, a
        conductance (siemens): positive drive opens an excitatory conductance (reversal E_exc),
        negative an inhibitory one (E_inh), so no input can push a voltage past the reversals."""
        b = self._batch
        u = np.asarray(inputs, dtype=np.float64).reshape(self.population, b // self.population, -1)
        if u.shape[2] != self.io.n_inputs:
            raise ValueError(f"inputs must have shape ({b}, {self.io.n_inputs}), got "
                             f"{tuple(np.shape(inputs))}")
        drive = np.einsum("pec,pcn->pen", np.nan_to_num(u), self._w_in).ravel()
        np.maximum(drive, 0.0, out=self._sim.arr["g_in_exc"])
        np.maximum(-drive, 0.0, out=self._sim.arr["g_in_inh"])

    # ---- state ---------------------------------------------------------------------------------------
    def _rest_state(self) -> dict[str, float]:
        """The state every episode starts from: v = v_init (the resting potential unless the config
        says otherwise), gates and release at their steady state there, the Ca pool empty (c302's
        initial concentration, 0 mM), so h = h_inf(0)."""
        cfg = self.config
        v = self.v_init_mV
        out = {"v": v * 1e-3}
        for g, (vh, k, _) in GATES.items():
            out[g] = float(_sigmoid(np.array((v - vh) / k)))
        out["r"] = float(release(cfg, v))
        if cfg.synaptic_gating and cfg.syn_start_closed:
            out["r"] = 0.0
        if cfg.ca_inactivation:
            out["Ca"] = 0.0
            out["fcond_Ca"] = 1 - cfg.h_alpha * (1 - float(_sigmoid(np.array(-cfg.h_ca_half_mM / cfg.h_k_mM))))
        return out

    def _reset_rows(self, rows: np.ndarray) -> None:
        rest = self._rest_state()
        for k in self._state_vars + ("r",):
            self._sim.view(k)[rows] = rest[k]

    def reset(self, batch: int) -> None:
        """Start fresh episodes for ``batch`` rows: every neuron at the isolated-cell resting
        potential, gates at steady state, no input. Reuses the Brian2 network built for this batch
        size (code is compiled once per process and cached on disk by Brian2)."""
        self._episodes_per_member(batch)
        if batch not in self._sims:
            self._sims[batch] = _Sim(self, batch)
        self._sim, self._batch = self._sims[batch], batch
        self._sim.net.restore("start")
        self._push_params()
        self._reset_rows(np.arange(batch))
        self._sim.arr["g_in_exc"][:] = 0.0
        self._sim.arr["g_in_inh"][:] = 0.0
        self.failed = np.zeros(batch, bool)

    def voltage(self) -> np.ndarray:
        """(batch, N) membrane potentials now, mV."""
        return self._sim.view("v") * 1e3

    def activity(self) -> np.ndarray:
        """(batch, N) graded release now, in [0, 1]: s(V), or with synaptic gating the gated release
        s that the synapses read."""
        cfg = self.config
        if cfg.synaptic_gating:
            act = np.clip(self._sim.view("r"), 0.0, 1.0)
        else:
            act = _sigmoid((self.voltage() - cfg.v_release_mV) / cfg.k_release_mV)
        return np.where(self.failed[:, None], 0.0, np.nan_to_num(act))

    def _check(self) -> np.ndarray:
        """Flag rows whose voltages are NaN or unphysical, park them at rest (a member's block is
        isolated, so no other row is affected) and warn once for all the rows that failed in this
        call, naming each failed member's largest parameters. Returns the new failures."""
        cfg = self.config
        v = self.voltage()
        with np.errstate(invalid="ignore"):
            bad = ~np.all((v >= cfg.v_min_mV) & (v <= cfg.v_max_mV), axis=1)
        new = bad & ~self.failed
        if new.any():
            self._warn_failed(np.flatnonzero(new), v)
            self.failed |= new
        if bad.any():
            self._reset_rows(np.flatnonzero(bad))
        return new

    def _largest_params(self, member: int, k: int = 3) -> str:
        """The ``k`` largest |theta| of a member, by name (e.g. ``bias[AVBL]=-3.1``)."""
        theta = self.get_params().numpy()[member]
        names = []
        c = self.circuit
        for g in range(self.param_sizes()["g_chem"]):
            names.append(f"g_chem[group {g}]" if self.config.share_weights else
                         "g_chem[{}->{}]".format(*(c.names[i] for i in self._chem_edges[g])))
        for g in range(self.param_sizes()["g_gap"]):
            names.append(f"g_gap[group {g}]" if self.config.share_weights else
                         "g_gap[{}--{}]".format(*(c.names[i] for i in self._gap_edges[g])))
        names += [f"bias[{n}]" for n in c.names]
        names += [f"input_gain[{self.io.channel_names[ch] if self.io.channel_names else ch}->{c.names[n]}]"
                  for ch, n in self._mask_idx]
        top = np.argsort(-np.abs(theta))[:k]
        return ", ".join(f"{names[i]}={theta[i]:.3g}" for i in top)

    def _warn_failed(self, rows: np.ndarray, v: np.ndarray) -> None:
        cfg = self.config
        e = self._batch // self.population
        members = sorted({int(r) // e for r in rows})
        with np.errstate(invalid="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            lo, hi = np.nanmin(v[rows]), np.nanmax(v[rows])
        shown = "; ".join(f"member {m}: {self._largest_params(m)}" for m in members[:3])
        more = f"; and {len(members) - 3} more" if len(members) > 3 else ""
        warnings.warn(f"conductance brain: {len(members)} member(s) left the physical voltage range "
                      f"[{cfg.v_min_mV:g}, {cfg.v_max_mV:g}] mV (voltages seen {lo:.3g} .. {hi:.3g} mV, NaN "
                      f"{bool(np.isnan(v[rows]).any())}); their episodes end as failed. Largest parameters: "
                      f"{shown}{more}", RuntimeWarning, stacklevel=4)

    def _record_now(self) -> None:
        if self._recording:
            self._record(voltage=torch.from_numpy(self.voltage().copy()), activity=torch.from_numpy(self.activity()))

    def _run(self, duration_s: float) -> None:
        from brian2 import prefs, second
        prefs.codegen.target = self.target
        self._sim.net.run(duration_s * second)

    # ---- contract --------------------------------------------------------------------------------------
    @torch.no_grad()
    def step(self, inputs: torch.Tensor) -> torch.Tensor:
        """Advance one control step with one Network.run (slow: ~0.3 s overhead; tests/compat only).

        inputs: (batch, io.n_inputs). Returns activity (batch, N) in [0, 1] (float32); a row that
        blew up is flagged in ``self.failed`` and returns zeros.
        """
        if self._sim is None:
            raise RuntimeError("call reset(batch) before step()")
        self._push_params()
        self._set_inputs(_np(inputs))
        self._sim.callback = None
        self._run(self.io.control_dt)
        self._check()
        self._record_now()
        return torch.from_numpy(self.activity()).float()

    def failed_rows(self) -> np.ndarray:
        """(batch,) bool: rows whose voltages left the physical range (parked at rest since)."""
        return self.failed.copy()

    @torch.no_grad()
    def drive(self, inputs, on_step, n_steps: int) -> None:
        """The runner's hook (Brain.drive), as ONE Brian2 run of up to ``n_steps`` control steps: a
        NetworkOperation at the control clock hands each step's activity to ``on_step`` and applies the
        inputs it returns (or stops the run on None). Same order as the step() loop: the circuit
        integrates control_dt with the inputs, then on_step sees its activity."""
        if self._sim is None:
            raise RuntimeError("call reset(batch) before drive()")
        if n_steps < 1:
            raise ValueError(f"n_steps must be >= 1, got {n_steps}")
        self._push_params()
        self._set_inputs(_np(inputs))
        ticks, stopped = [0], [False]

        def control_step():
            self._check()
            self._record_now()
            nxt = on_step(torch.from_numpy(self.activity()).float())
            if nxt is None:
                stopped[0] = True
                self._sim.net.stop()
            else:
                self._set_inputs(_np(nxt))

        def on_tick():
            if ticks[0] > 0:
                control_step()
            ticks[0] += 1

        self._sim.callback = on_tick
        try:
            self._run(n_steps * self.io.control_dt)
        finally:
            self._sim.callback = None
        if not stopped[0]:      # the last control step ends with the run
            control_step()

    @torch.no_grad()
    def run_current_clamp(self, current_pA: np.ndarray) -> np.ndarray:
        """Inject currents, as c302's pulse generators do, with no sensory input: current_pA (T, batch,
        N) is held over each of T control steps on top of the trained bias. Call reset(batch) first.
        Returns the voltages (T + 1, batch, N) in mV: the initial state, then the end of every step
        (one Brian2 run; wormsim.reference.c302 replays c302's scenarios with it)."""
        if self._sim is None:
            raise RuntimeError("call reset(batch) before run_current_clamp()")
        cur = np.asarray(current_pA, dtype=np.float64)
        if cur.ndim != 3 or cur.shape[1:] != (self._batch, self.circuit.n) or len(cur) < 1:
            raise ValueError(f"current_pA must have shape (T, {self._batch}, {self.circuit.n}), got "
                             f"{cur.shape}")
        self._push_params()
        self._set_inputs(np.zeros((self._batch, self.io.n_inputs)))
        bias = self._sim.arr["I_bias"].copy()
        out = [self.voltage().copy()]
        ticks = [0]

        def on_tick():   # at the start of every control step after the first (as in drive)
            if ticks[0] > 0:
                self._check()
                out.append(self.voltage().copy())
                self._sim.arr["I_bias"][:] = bias + cur[ticks[0]].ravel() * 1e-12
            ticks[0] += 1

        self._sim.arr["I_bias"][:] = bias + cur[0].ravel() * 1e-12
        self._sim.callback = on_tick
        try:
            self._run(len(cur) * self.io.control_dt)
        finally:
            self._sim.callback = None
            self._sim.arr["I_bias"][:] = bias
        self._check()
        out.append(self.voltage().copy())
        return np.stack(out)

    @torch.no_grad()
    def make_reservoir(self, scale, input_gains, input_scale: float = 1.0) -> dict:
        """Every chemical and gap conductance at the level's default times ``scale`` (default 1):
        g = scale * init_g * g_syn * synapse count, derived from the wiring's counts. The network is
        nonlinear in physical units and has no single weight matrix to take a spectral radius of."""
        scale = 1.0 if scale is None else float(scale)
        self.g_chem.copy_(torch.full_like(self.g_chem, self.config.init_g_chem * scale))
        self.g_gap.copy_(torch.full_like(self.g_gap, self.config.init_g_gap * scale))
        gains = self.io.initial_gains(self.config.init_input_gain) if input_gains is None else input_gains
        self.input_gain.copy_(torch.as_tensor(np.asarray(gains) * float(input_scale), dtype=torch.float32))
        return {"conductance_scale": scale}

    def edge_weights(self) -> dict:
        """Member 0's peak conductance on every chemical edge, |theta| * count * g_syn (nS), and
        junction conductance on every gap pair, |theta| * count * g_gap (nS)."""
        cfg = self.config
        th_c = np.abs(self.g_chem[0].detach().cpu().numpy())
        th_g = np.abs(self.g_gap[0].detach().cpu().numpy())
        return {"chem": th_c[self._chem_group] * self._chem_count * cfg.g_syn_nS,
                "gap": th_g[self._gap_group] * self._gap_count * cfg.g_gap_nS,
                "chem_unit": "peak conductance, nS", "gap_unit": "junction conductance, nS"}


# ---- the ladder's rungs as levels (registered in realism_levels/__init__.py as conductance-<rung>) ------
class _RungBrain(ConductanceBrain):
    """A rung of the ladder of detail (LADDER): the conductance level with its rung's mechanisms."""
    rung: ClassVar[str] = "active"

    @classmethod
    def default_config(cls) -> ConductanceConfig:
        return ladder_config(cls.rung)


class PassiveConductanceBrain(_RungBrain):
    """Rung 1: leak, graded synapses and gap junctions only (no voltage-gated K or Ca)."""
    name: ClassVar[str] = "conductance-passive"
    rung: ClassVar[str] = "passive"


class CaInactivationConductanceBrain(_RungBrain):
    """Rung 3: the default level plus the Ca pool and Ca-dependent inactivation of the Ca current."""
    name: ClassVar[str] = "conductance-ca-inactivation"
    rung: ClassVar[str] = "ca-inactivation"


class SynapticKineticsConductanceBrain(_RungBrain):
    """Rung 4: rung 3 plus first-order synaptic gating (tau_s = (1 - s_inf) / k_s)."""
    name: ClassVar[str] = "conductance-synaptic-kinetics"
    rung: ClassVar[str] = "synaptic-kinetics"


# level name -> class, rung by rung (the default "conductance" level is the rung "active")
LADDER_LEVELS: dict[str, str] = {
    "conductance-passive": "PassiveConductanceBrain",
    "conductance": "ConductanceBrain",
    "conductance-ca-inactivation": "CaInactivationConductanceBrain",
    "conductance-synaptic-kinetics": "SynapticKineticsConductanceBrain",
}


__all__ = ["CaInactivationConductanceBrain", "LADDER_LEVELS", "PassiveConductanceBrain",
           "SynapticKineticsConductanceBrain", "ConductanceBrain", "ConductanceConfig", "GATES", "LADDER", "PARAMETER_SETS",
           "choose_codegen_target", "ladder_config", "parameter_set", "resting_potential"]
