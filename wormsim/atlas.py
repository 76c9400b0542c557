"""Every level's in-silico stimulation against the measured signal-propagation atlas of the living worm.

Randi, Sharma, Dvali & Leifer (2023, Nature 623:406, "Neural signal propagation atlas of
Caenorhabditis elegans") stimulated single neurons optogenetically in immobilised, whole-brain-imaged
worms and measured every other neuron's calcium response, in wild type (``wt``) and in unc-31 mutants
(``unc31``: no dense-core-vesicle release, so no neuropeptide signalling). Their atlas ships offline in
the PyPI package ``wormneuroatlas`` as ``data/funatlas.h5``: ``neuron_ids`` (300) and per strain
``dFF`` (the response amplitude, "delta F/F averaged over a time window and trials", the package's
NeuroAtlas.load_signal_propagation_atlas), ``q`` (its significance, q < 0.05 a functional connection),
``occ1`` (how many times the pair was measured), indexed ``[responder, stimulated]``. The package's
``NeuroAtlas`` class contacts WormBase when it starts, so this module reads the HDF5 file with h5py.

    atlas = load_atlas(circuit.names, "wt")                # AtlasData: dff, q, occ (N, N) [resp, stim]
    resp = stimulate("rate", circuit, layout, control_dt)  # Responses: amplitude (N, N) [resp, stim]
    compare(resp.amplitude, atlas)                         # r, Spearman rho, sign agreement, AUC + 95% CIs

The in-silico experiment, the atlas's way (``stimulate``): a batch of copies of the circuit, row 0 a
control and one row per stimulated neuron, run open loop in the level's own simulator
(``Brain.run_open_loop``: one Brian2 run for the conductance level). The body is held still as in the
immobilised preparation: no body is simulated, the proprioceptive channels (curvature) carry 0, a
straight body, so there is no stretch-receptor feedback, and the head oscillator (which acts through
the body) is absent; the command drive channels keep their constant value (the set-up's drive,
forward by default), the state the circuit operates in. After ``settle_s`` the stimulated row's
neuron gets a pulse of ``pulse_s`` through the level's own input path: an extra input channel per
neuron, with the level's own default gain (a conductance to E_exc in the conductance level, a drive
into v in the rate and spiking levels). A neuron's response is its activity (the contract's output
in [0, 1]) minus the control row's, averaged over ``window_s`` from the pulse onset: the simulated
counterpart of the atlas's window-averaged delta F/F (a different unit, so the comparison uses
scale-free measures: correlation, sign, ranks).

The comparison (``compare``) runs over the atlas's measured pairs inside the motor circuit (both
cells in the circuit, not the same cell, finite dFF and q): Pearson r and Spearman rho between
simulated and measured amplitudes, the fraction of significant pairs (q < 0.05) where the simulated
sign matches the measured one (over pairs where the prediction is not zero), and the ROC AUC of
|prediction| for telling significant pairs from the rest. 95% intervals: percentile bootstrap over
pairs (scipy.stats.bootstrap, paired). References: the anatomical predictors (direct chemical and
gap-junction counts of the same wiring, the comparison of Randi et al. 2023, Fig. 3), chance
(r = 0, AUC = 0.5) and the sign-keeping null wirings.

What the atlas covers here: it imaged the head, so of the 81 cells of the motor circuit only the
command interneurons and the most anterior cord motor neurons respond or were stimulated; in wild
type 193 ordered pairs (16 stimulated cells, 17 responders) were measured, 22 significant; in unc-31
81 pairs, 13 significant (counts with the definition above; with the diagonal and pairs without a
dFF, 225 pairs have occ1 > 0 in wild type).
"""
from __future__ import annotations

import json
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

STRAINS: tuple[str, ...] = ("wt", "unc31")
SIGNIFICANCE_Q = 0.05       # Randi et al. 2023: a pair is functionally connected at q < 0.05


# ---- the measured atlas ---------------------------------------------------------------------------------
def atlas_path() -> Path:
    """The funatlas.h5 file of the installed wormneuroatlas package (never downloaded at run time)."""
    try:
        import importlib.util
        spec = importlib.util.find_spec("wormneuroatlas")
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("the signal-propagation atlas ships in the wormneuroatlas package, which is "
                                "not installed: pip install wormneuroatlas (or pip install -e .)")
    path = Path(list(spec.submodule_search_locations)[0]) / "data" / "funatlas.h5"
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: reinstall wormneuroatlas (pip install --force-reinstall "
                                "wormneuroatlas)")
    return path


@dataclass(frozen=True, eq=False)
class AtlasData:
    """The atlas restricted to a list of cells (the circuit's, in its order).

    names: the cells. strain: "wt" or "unc31". dff, q: (N, N) float [responder, stimulated], NaN
    where not measured. occ: (N, N) int, times measured."""
    names: tuple[str, ...]
    strain: str
    dff: np.ndarray
    q: np.ndarray
    occ: np.ndarray

    @property
    def measured(self) -> np.ndarray:
        """(N, N) bool: pairs with a response amplitude and a q value, responder != stimulated."""
        off = ~np.eye(len(self.names), dtype=bool)
        return off & (self.occ > 0) & np.isfinite(self.dff) & np.isfinite(self.q)

    @property
    def significant(self) -> np.ndarray:
        """(N, N) bool: measured pairs with q < 0.05 (functionally connected)."""
        with np.errstate(invalid="ignore"):
            return self.measured & (np.nan_to_num(self.q, nan=1.0) < SIGNIFICANCE_Q)

    @property
    def stimulated(self) -> np.ndarray:
        """Indices of the cells stimulated in at least one measured pair."""
        return np.flatnonzero(self.measured.any(axis=0))

    def summary(self) -> dict:
        m = self.measured
        return {"strain": self.strain, "pairs": int(m.sum()), "significant": int(self.significant.sum()),
                "stimulated": int(m.any(0).sum()), "responders": int(m.any(1).sum())}


def load_atlas(names, strain: str = "wt", path: str | Path | None = None) -> AtlasData:
    """The atlas's dFF, q and occ1 for ``names`` (in that order), strain "wt" or "unc31"."""
    import h5py
    if strain not in STRAINS:
        raise ValueError(f"unknown strain {strain!r}; choose from {', '.join(STRAINS)}")
    path = Path(path) if path is not None else atlas_path()
    with h5py.File(path, "r") as f:
        ids = [x.decode() if isinstance(x, bytes) else str(x) for x in f["neuron_ids"][:]]
        where = {n: i for i, n in enumerate(ids)}
        missing = [n for n in names if n not in where]
        if missing:
            raise ValueError(f"{len(missing)} cell(s) are not in the atlas's neuron_ids: "
                             f"{', '.join(missing[:8])}; the atlas names cells as WormBase does (AVAL, VB1)")
        idx = np.array([where[n] for n in names])
        sel = np.ix_(idx, idx)
        g = f[strain]
        return AtlasData(tuple(names), strain, np.asarray(g["dFF"][:], float)[sel],
                         np.asarray(g["q"][:], float)[sel], np.asarray(g["occ1"][:], np.int64)[sel])


# ---- the anatomical baseline -------------------------------------------------------------------------------
def anatomical_predictors(circuit) -> dict[str, np.ndarray]:
    """The wiring's direct connections as predictors of the response of i to stimulation of j, each
    (N, N) [responder, stimulated] (the atlas's orientation): chemical synapse count j -> i, gap
    junction count i -- j, their sum (the anatomical connectome Randi et al. 2023 compare the atlas
    with, Fig. 3), and the sum with the chemical term signed by the presynaptic cell (Dale's law, the
    rule the levels use)."""
    chem_in = np.asarray(circuit.chem, float).T          # chem[pre, post] -> [post, pre]
    gap = np.asarray(circuit.gap, float)
    sign = np.asarray(circuit.sign, float)
    return {"anatomy: chemical count": chem_in, "anatomy: gap count": gap,
            "anatomy: chemical + gap count": chem_in + gap,
            "anatomy: signed (Dale) chemical + gap": chem_in * sign[None, :] + gap}


# ---- the comparison ---------------------------------------------------------------------------------------
def _ranks(x: np.ndarray) -> np.ndarray:
    from scipy.stats import rankdata
    return rankdata(x, axis=-1)


def _pearson(x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
    x = x - x.mean(axis=axis, keepdims=True)
    y = y - y.mean(axis=axis, keepdims=True)
    den = np.sqrt((x * x).sum(axis=axis) * (y * y).sum(axis=axis))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, (x * y).sum(axis=axis) / np.where(den > 0, den, 1.0), np.nan)


def _spearman(x, y, axis=-1):
    return _pearson(_ranks(x), _ranks(y), axis)


def _auc(score, label, axis=-1):
    """ROC AUC of ``score`` for the boolean ``label`` (the Mann-Whitney form, ties counted half),
    vectorised over leading axes (bootstrap resamples); sklearn's roc_auc_score gives the same value
    for one sample (tests/test_atlas.py) but is not vectorised."""
    label = np.asarray(label, bool)
    r = _ranks(np.abs(score))
    n1 = label.sum(axis=axis)
    n0 = label.shape[axis] - n1
    with np.errstate(invalid="ignore", divide="ignore"):
        u = (r * label).sum(axis=axis) - n1 * (n1 + 1) / 2.0
        return np.where((n1 > 0) & (n0 > 0), u / np.maximum(n1 * n0, 1), np.nan)


def _sign_agreement(x, y, sig, axis=-1):
    """Fraction of significant pairs whose predicted sign matches the measured one, over the pairs
    where the prediction is not zero (a prediction of exactly 0 says nothing about the sign)."""
    sig = np.asarray(sig, bool)
    use = sig & (x != 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (use & (np.sign(x) == np.sign(y))).sum(axis=axis) / np.where(use.sum(axis=axis) > 0,
                                                                              use.sum(axis=axis), np.nan)


_STATS = {"r": lambda x, y, s, axis=-1: _pearson(x, y, axis),
          "rho": lambda x, y, s, axis=-1: _spearman(x, y, axis),
          "sign": _sign_agreement,
          "auc": lambda x, y, s, axis=-1: _auc(x, s, axis)}


def compare(prediction: np.ndarray, atlas: AtlasData, n_boot: int = 2000, seed: int = 0) -> dict:
    """Simulated (or anatomical) responses against the atlas over its measured pairs.

    prediction: (N, N) [responder, stimulated], NaN where not simulated (those pairs are left out).
    Returns {"pairs", "significant", "sign_pairs", "r", "rho", "sign", "auc"} and for each measure
    "<m>_ci": (low, high), the 95% percentile bootstrap interval over pairs (n_boot resamples)."""
    from scipy.stats import bootstrap
    prediction = np.asarray(prediction, float)
    if prediction.shape != atlas.dff.shape:
        raise ValueError(f"prediction has shape {prediction.shape}, the atlas {atlas.dff.shape}: build both "
                         "from the same circuit")
    m = atlas.measured & np.isfinite(prediction)
    x, y, s = prediction[m], atlas.dff[m], atlas.significant[m]
    out = {"pairs": int(m.sum()), "significant": int(s.sum()), "sign_pairs": int((s & (x != 0)).sum()),
           # the sign agreement of a predictor that calls every pair excitatory: the reference for "sign"
           "significant_positive": float(np.mean(y[s] > 0)) if s.any() else float("nan")}
    for name, fn in _STATS.items():
        out[name] = float(fn(x, y, s))
        out[f"{name}_ci"] = (float("nan"), float("nan"))
        if len(x) < 3 or not np.isfinite(out[name]) or n_boot < 1:
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")          # degenerate resamples (no significant pair): NaN
            res = bootstrap((x, y, s.astype(float)), lambda a, b, c, axis=-1: fn(a, b, c > 0.5, axis),
                            paired=True, vectorized=True, n_resamples=int(n_boot), method="percentile",
                            random_state=np.random.default_rng(seed))
        ci = res.confidence_interval
        out[f"{name}_ci"] = (float(ci.low), float(ci.high))
    return out


# ---- the in-silico stimulation ------------------------------------------------------------------------------
@dataclass(frozen=True)
class StimProtocol:
    """amplitude: the stimulation channel's value during the pulse, in the level's input units (times
    the level's default input gain: rate and spiking, a drive of 5 into a neuron whose threshold or
    sigmoid midpoint is ~1; conductance, 5 x input_scale_nS = 2.5 nS to E_exc, ~100 times the
    cell's leak conductance). settle_s: seconds before the pulse (the circuit settles from its reset
    state under the constant drive). pulse_s: the pulse, s (brief against the seconds-long responses
    the atlas measures). window_s: the response is averaged over this many seconds from the pulse
    onset. drive: (forward, backward) command drive channels, held constant (the set-up's own)."""
    amplitude: float = 5.0
    settle_s: float = 1.0
    pulse_s: float = 0.5
    window_s: float = 2.0
    drive: tuple[float, float] = (1.0, 0.0)

    def __post_init__(self):
        for k in ("settle_s", "pulse_s", "window_s"):
            if not getattr(self, k) > 0:
                raise ValueError(f"{k} must be > 0 s, got {getattr(self, k)}")
        if self.window_s < self.pulse_s:
            raise ValueError(f"window_s ({self.window_s} s) must cover the pulse ({self.pulse_s} s)")


@dataclass
class Responses:
    """amplitude: (N, N) [responder, stimulated], NaN in columns not stimulated (and on the diagonal).
    targets: stimulated cell indices (rows 1.. of the batch). activity: (T, 1 + len(targets), N) the
    recorded activity, row 0 the control. t: (T,) s at the end of each control step. onset_s: pulse
    onset. wall_s: seconds the simulation took."""
    amplitude: np.ndarray
    targets: np.ndarray
    activity: np.ndarray
    t: np.ndarray
    onset_s: float
    wall_s: float


def _stim_io(io, n: int, names):
    """The level's IOSpec with one stimulation channel per neuron appended (identity mask, starting
    gain 1 x the level's default): the stimulus enters through the level's own input path. The new
    mask entries come after the original ones in row-major order, so the original gains keep their
    places in the parameter vector (see _extend_params)."""
    from wormsim.realism_levels import IOSpec
    init = io.input_init if io.input_init is not None else io.input_mask.astype(float)
    return IOSpec(input_mask=np.vstack([io.input_mask, np.eye(n, dtype=bool)]), n_muscles=io.n_muscles,
                  control_dt=io.control_dt, channel_names=tuple(io.channel_names) + tuple(f"stim:{x}" for x in names),
                  input_init=np.vstack([init, np.eye(n)]))


def _extend_params(base, ext, theta: np.ndarray) -> np.ndarray:
    """A parameter vector of the brain ``base`` (its IOSpec) as one of ``ext`` (the same level with the
    stimulation channels): every parameter block copied; in the input-gain block (the parameter the
    level files under the "input" group) the original entries first, then ext's own starting gains
    for the stimulation channels."""
    theta = np.asarray(theta, np.float32).ravel()
    if theta.shape != (base.n_params,):
        raise ValueError(f"the parameter vector has {theta.size} entries, the {base.name} level on this "
                         f"circuit {base.n_params}: was it trained on another wiring, dataset or body?")
    groups = type(ext).param_groups
    default = ext.get_params()[0].cpu().numpy()
    out, start_b, start_e = [], 0, 0
    base_sizes = base.param_sizes()
    for name, size_e in ext.param_sizes().items():
        size_b = base_sizes[name]
        block = theta[start_b:start_b + size_b]
        if size_e != size_b:
            if groups.get(name) != "input":
                raise ValueError(f"the {ext.name} level's parameter {name!r} changes size with the input "
                                 "channels but is not in its 'input' group: cannot add stimulation channels")
            block = np.concatenate([block, default[start_e + size_b:start_e + size_e]])
        out.append(block)
        start_b += size_b
        start_e += size_e
    return np.concatenate(out)


def stimulate(level: str, circuit, layout, control_dt: float, params: np.ndarray | None = None,
              level_config=None, targets=None, protocol: StimProtocol = StimProtocol()) -> Responses:
    """Stimulate each cell in ``targets`` (indices; default every cell) once, all in one batch, and
    record every cell's response (see the module docstring).

    level: a registered level name. circuit: any wiring. layout, control_dt: the body task's observation
    layout and control step (they fix the level's input channels, hence the parameter vector).
    params: (n_params,) a parameter vector of the level on this circuit and layout (a trained run's
    policy), None for the level's initial parameters. level_config: the level's config (None: default).
    """
    import torch

    from wormsim.interface import Interface
    from wormsim.realism_levels import get_level
    from wormsim.train import torch_threads
    cls = get_level(level)
    cls.require("uses_wiring", "stimulating single neurons of the circuit (wormsim atlas)",
                "it has no neurons of the worm to stimulate")
    if cls.outputs_muscles:
        raise ValueError(f"the {level} level outputs muscles, not the circuit's neurons: stimulate the level "
                         "whose circuit it reads out instead")
    n = circuit.n
    targets = np.arange(n) if targets is None else np.asarray(targets, np.int64)
    if targets.size == 0 or targets.min() < 0 or targets.max() >= n:
        raise ValueError(f"targets must be cell indices in [0, {n}), got {targets.tolist()[:5]}")
    interface = Interface(circuit, layout, control_dt=control_dt, drive=tuple(protocol.drive))
    io = interface.io_spec()
    cfg = level_config if level_config is not None else cls.default_config()
    ext = cls(circuit, _stim_io(io, n, circuit.names), cfg, population=1)
    if params is not None:
        base = cls(circuit, io, cfg, population=1)
        ext.set_params(_extend_params(base, ext, params))
        del base

    dt = float(control_dt)
    t_on = int(round(protocol.settle_s / dt))
    t_pulse = max(1, int(round(protocol.pulse_s / dt)))
    t_win = max(t_pulse, int(round(protocol.window_s / dt)))
    T = t_on + t_win
    B = 1 + len(targets)
    C0 = io.n_inputs
    u = np.zeros((T, B, C0 + n), np.float32)
    drive_cols = [i for i, name in enumerate(io.channel_names) if name in ("drive_forward", "drive_backward")]
    u[:, :, drive_cols] = np.asarray(protocol.drive, np.float32)          # curvature: 0, body straight
    u[t_on:t_on + t_pulse, np.arange(1, B), C0 + targets] = protocol.amplitude
    start = time.perf_counter()
    # one torch thread: the batch is small (<= 82 rows of 81 cells), and more threads on a busy machine
    # only wait on each other (a 150-step rate run took 14 s with the default threads, 0.1 s with one)
    with torch.no_grad(), torch_threads(1):
        ext.reset(B)
        rec = ext.run_open_loop(torch.as_tensor(u), record=True)
    wall = time.perf_counter() - start
    act = np.asarray(rec["activity"], float)                               # (T, B, N)
    failed = ext.failed_rows()
    if failed is not None and np.any(failed):
        raise ValueError(f"the {level} simulation failed numerically in {int(np.sum(failed))} of {B} rows: "
                         "lower --amplitude or check the parameters")
    delta = act[t_on:t_on + t_win, 1:, :] - act[t_on:t_on + t_win, :1, :]   # (t_win, targets, N)
    amp = np.full((n, n), np.nan)
    amp[:, targets] = delta.mean(axis=0).T
    amp[np.arange(n), np.arange(n)] = np.nan                               # self-response: not compared
    return Responses(amp, targets, act.astype(np.float32), dt * np.arange(1, T + 1), t_on * dt, wall)


# ---- subjects: a level on a wiring with a parameter vector -----------------------------------------------
@dataclass
class Subject:
    """One simulated worm to compare: level, wiring (and its seed), trained or untrained; run: the run
    directory its parameters come from (None: the level's initial parameters)."""
    level: str
    wiring: str
    wiring_seed: int = 0
    trained: bool = False
    run: str | None = None
    dataset: str = "cook2019"
    env_kwargs: tuple = ()
    level_kwargs: tuple = ()
    drive: tuple = (1.0, 0.0)

    @property
    def label(self) -> str:
        return f"{self.level} / {self.wiring} s{self.wiring_seed} / {'trained' if self.trained else 'untrained'}"

    @property
    def group(self) -> tuple[str, str, str]:
        return (self.level, self.wiring, "trained" if self.trained else "untrained")


def subjects_from_run(run_dir: str | Path, untrained: bool = True) -> list[Subject]:
    """The trained subject of a run directory and (untrained) the same set-up with its initial
    parameters."""
    from wormsim.config import TrainConfig
    from wormsim.envs.tasks import get_task
    from wormsim.runs import Run
    run = Run.open(run_dir)
    config = TrainConfig.from_dict(run.config)
    spec = config.eval_spec()
    if not get_task(config.task).has_body:
        raise ValueError(f"{run.path} is a {config.task!r} run; the atlas comparison uses a body task's "
                         "circuit and drive (swim, navigate runs)")
    base = dict(level=spec.level, wiring=spec.wiring, wiring_seed=spec.wiring_seed, dataset=spec.dataset,
                env_kwargs=spec.env_kwargs, level_kwargs=spec.level_kwargs, drive=tuple(spec.drive))
    out = [Subject(trained=True, run=str(run.path), **base)]
    if untrained:
        out.append(Subject(trained=False, run=None, **base))
    return out


def _setup(subject: Subject):
    """(circuit, layout, control_dt, level config) of a subject."""
    import gymnasium as gym

    import wormsim  # noqa: F401  (registers the environments)
    from wormsim.rollout import EvalSpec, build_circuit, make_level_config, task_env_id
    spec = EvalSpec(level=subject.level, dataset=subject.dataset, wiring=subject.wiring,
                    wiring_seed=subject.wiring_seed, env_kwargs=subject.env_kwargs,
                    level_kwargs=subject.level_kwargs)
    circuit = build_circuit(spec)
    env = gym.make(task_env_id(spec.task), **dict(spec.env_kwargs))
    try:
        layout, control_dt = env.unwrapped.layout, float(env.unwrapped.control_dt)
    finally:
        env.close()
    return circuit, layout, control_dt, make_level_config(subject.level, dict(subject.level_kwargs))


def evaluate_subject(subject: Subject, atlases: dict[str, AtlasData] | None = None,
                     protocol: StimProtocol | None = None, n_boot: int = 2000) -> dict:
    """Stimulate a subject and compare it (and its wiring's anatomy) with each strain's atlas.
    Returns {"subject", "responses" (Responses), "circuit", "compare": {strain: {...}},
    "anatomy": {predictor: {strain: {...}}}, "wall_s"}."""
    from wormsim.runs import Run
    circuit, layout, control_dt, cfg = _setup(subject)
    atlases = atlases or {s: load_atlas(circuit.names, s) for s in STRAINS}
    for a in atlases.values():
        if tuple(a.names) != tuple(circuit.names):
            raise ValueError("the atlas was loaded for other cells than this circuit's")
    protocol = protocol or StimProtocol(drive=tuple(subject.drive))
    params = Run.open(subject.run).load_policy()[0] if subject.trained else None
    targets = np.unique(np.concatenate([a.stimulated for a in atlases.values()]))
    resp = stimulate(subject.level, circuit, layout, control_dt, params, cfg, targets, protocol)
    comp = {s: compare(resp.amplitude, a, n_boot=n_boot) for s, a in atlases.items()}
    anat = {k: {s: compare(v, a, n_boot=n_boot) for s, a in atlases.items()}
            for k, v in anatomical_predictors(circuit).items()}
    return {"subject": subject, "responses": resp, "circuit": circuit, "compare": comp, "anatomy": anat,
            "wall_s": resp.wall_s}


# ---- tables, figures, report ---------------------------------------------------------------------------------
MEASURES = (("r", "r"), ("rho", "rho"), ("sign", "sign agr."), ("auc", "AUC"))


def _fmt(v, spec=".2f") -> str:
    return "n/a" if v is None or not np.isfinite(v) else format(v, spec)


def _cell(d: dict, key: str) -> str:
    lo, hi = d.get(f"{key}_ci", (np.nan, np.nan))
    return f"{_fmt(d[key])} [{_fmt(lo)}, {_fmt(hi)}]" if np.isfinite(lo) else _fmt(d[key])


def group_rows(results: list[dict], strain: str) -> list[dict]:
    """One row per (level, wiring, trained) with the mean over its subjects (wiring seeds / runs), the
    min..max over them, and for a single subject its bootstrap interval."""
    groups: dict[tuple, list[dict]] = {}
    for r in results:
        groups.setdefault(r["subject"].group, []).append(r["compare"][strain])
    rows = []
    for key, comps in groups.items():
        row = {"level": key[0], "wiring": key[1], "params": key[2], "n": len(comps),
               "pairs": comps[0]["pairs"], "significant": comps[0]["significant"]}
        for m, _ in MEASURES:
            vals = np.array([c[m] for c in comps], float)
            row[m] = float(np.nanmean(vals)) if np.isfinite(vals).any() else float("nan")
            row[f"{m}_range"] = (float(np.nanmin(vals)), float(np.nanmax(vals))) if np.isfinite(vals).any() \
                else (float("nan"), float("nan"))
            row[f"{m}_ci"] = comps[0][f"{m}_ci"] if len(comps) == 1 else (float("nan"), float("nan"))
        rows.append(row)
    return rows


def anatomy_rows(results: list[dict], strain: str) -> list[dict]:
    """The anatomical predictors of each distinct wiring (connectome once; a null per wiring, mean
    over its seeds)."""
    seen: dict[tuple, dict] = {}
    for r in results:
        s = r["subject"]   # the connectome's anatomy does not depend on the seed: once
        seen.setdefault((s.wiring, 0 if s.wiring == "connectome" else s.wiring_seed), r["anatomy"])
    by_wiring: dict[str, list[dict]] = {}
    for (wiring, _), anat in seen.items():
        by_wiring.setdefault(wiring, []).append(anat)
    rows = []
    for wiring, anats in by_wiring.items():
        for pred in anats[0]:
            comps = [a[pred][strain] for a in anats]
            row = {"predictor": pred, "wiring": wiring, "n": len(comps)}
            for m, _ in MEASURES:
                vals = np.array([c[m] for c in comps], float)
                row[m] = float(np.nanmean(vals)) if np.isfinite(vals).any() else float("nan")
                row[f"{m}_ci"] = comps[0][f"{m}_ci"] if len(comps) == 1 else (float("nan"), float("nan"))
                row[f"{m}_range"] = (float(np.nanmin(vals)), float(np.nanmax(vals))) if np.isfinite(vals).any() \
                    else (float("nan"), float("nan"))
            rows.append(row)
    return rows


def _value(row: dict, m: str) -> str:
    if row["n"] == 1:
        return _cell(row, m)
    lo, hi = row[f"{m}_range"]
    return f"{_fmt(row[m])} ({_fmt(lo)}..{_fmt(hi)})"


def format_tables(results: list[dict], strains=STRAINS) -> str:
    """Markdown: per strain, the simulated subjects' table and the anatomical baseline's."""
    lines = []
    for strain in strains:
        if strain not in results[0]["compare"]:
            continue
        c0 = results[0]["compare"][strain]
        lines += [f"### {strain}: {c0['pairs']} measured pairs, {c0['significant']} significant (q < 0.05), "
                  f"{_fmt(100 * c0['significant_positive'], '.0f')}% of them excitatory (the sign agreement of "
                  "calling every pair excitatory)", "",
                  "| level | wiring | parameters | n | " + " | ".join(h for _, h in MEASURES) + " |",
                  "|---|---|---|---|" + "---|" * len(MEASURES)]
        for row in group_rows(results, strain):
            lines.append(f"| {row['level']} | {row['wiring']} | {row['params']} | {row['n']} | "
                         + " | ".join(_value(row, m) for m, _ in MEASURES) + " |")
        lines += ["", "| anatomical predictor | wiring | n | " + " | ".join(h for _, h in MEASURES) + " |",
                  "|---|---|---|" + "---|" * len(MEASURES)]
        for row in anatomy_rows(results, strain):
            lines.append(f"| {row['predictor'].removeprefix('anatomy: ')} | {row['wiring']} | {row['n']} | "
                         + " | ".join(_value(row, m) for m, _ in MEASURES) + " |")
        lines.append("")
    lines.append("r: Pearson, rho: Spearman (simulated vs measured amplitude); sign agr.: significant pairs whose "
                 "predicted sign matches (over those the prediction is not 0); AUC: |prediction| separating "
                 "significant pairs. n = 1: value [95% bootstrap CI over pairs]; n > 1: mean over wiring seeds or "
                 "runs (min..max). Chance: r = rho = 0, AUC = 0.5.")
    return "\n".join(lines)


def null_test(results: list[dict], strain: str, measure: str = "r") -> list[dict]:
    """For each level and parameters (trained/untrained): does the connectome differ from a null wiring?
    One connectome subject (untrained: the connectome has no seed): its value ranked among the null
    wiring's subjects (each seed one null wiring), p = (1 + #null >= connectome) / (1 + #null),
    one-sided. Several (trained runs of several seeds): the experiment's two-sided permutation test
    on the difference of means (wormsim.experiment.stats.permutation_p)."""
    from wormsim.experiment.stats import permutation_p
    out = []
    by: dict[tuple, dict[str, list[float]]] = {}
    for r in results:
        s = r["subject"]
        by.setdefault((s.level, "trained" if s.trained else "untrained"), {}).setdefault(s.wiring, []).append(
            r["compare"][strain][measure])
    for (level, params), wirings in by.items():
        if "connectome" not in wirings:
            continue
        conns = np.asarray(wirings["connectome"], float)
        conn = float(np.nanmean(conns))
        for wiring, vals in wirings.items():
            if wiring == "connectome":
                continue
            vals = np.asarray(vals, float)
            if len(conns) == 1:
                test, p = "rank, one-sided", (1 + int(np.sum(vals >= conn))) / (1 + len(vals))
            else:
                test, p = "permutation, two-sided", permutation_p(conns, vals)
            out.append({"level": level, "params": params, "null": wiring, "measure": measure, "strain": strain,
                        "connectome": conn, "n_connectome": len(conns), "null_mean": float(np.nanmean(vals)),
                        "n_null": len(vals), "test": test, "p": p})
    return out


def draw(result: dict, atlas: AtlasData, path: str | Path) -> Path:
    """Simulated against measured responses: a scatter over the measured pairs (significant ones
    filled) and the two pair matrices side by side (stimulated cells as columns, responders as rows)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    amp = result["responses"].amplitude
    m, sig = atlas.measured & np.isfinite(amp), atlas.significant
    cols = np.flatnonzero(m.any(0))
    rows = np.flatnonzero(m.any(1))
    names = np.array(atlas.names)
    fig, ax = plt.subplots(1, 3, figsize=(15, 4.8), gridspec_kw={"width_ratios": [1, 1.1, 1.1]})
    ax[0].scatter(amp[m & ~sig], atlas.dff[m & ~sig], s=14, facecolors="none", edgecolors="0.5",
                  label="q >= 0.05")
    ax[0].scatter(amp[m & sig], atlas.dff[m & sig], s=18, c="C3", label="q < 0.05")
    ax[0].axhline(0, c="0.8", lw=0.8)
    ax[0].axvline(0, c="0.8", lw=0.8)
    c = result["compare"][atlas.strain]
    ax[0].set(xlabel="simulated response (activity, control subtracted)", ylabel="measured dF/F",
              title=f"r = {_fmt(c['r'])}, AUC = {_fmt(c['auc'])}")
    ax[0].legend(fontsize=8)
    meas = np.where(m, atlas.dff, np.nan)[np.ix_(rows, cols)]
    sim = np.where(m, amp, np.nan)[np.ix_(rows, cols)]
    for a, mat, title in ((ax[1], meas, f"measured dF/F ({atlas.strain})"), (ax[2], sim, "simulated")):
        lim = np.nanmax(np.abs(mat)) if np.isfinite(mat).any() else 1.0
        im = a.imshow(mat, cmap="RdBu_r", vmin=-lim, vmax=lim, aspect="auto")
        a.set_xticks(range(len(cols)), names[cols], rotation=90, fontsize=7)
        a.set_yticks(range(len(rows)), names[rows], fontsize=7)
        a.set(xlabel="stimulated", ylabel="responding", title=title)
        fig.colorbar(im, ax=a, shrink=0.8)
    fig.suptitle(result["subject"].label)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def to_json(results: list[dict], protocol: StimProtocol, extra: dict | None = None) -> dict:
    """What a report needs, JSON-ready: the protocol, each subject with its comparisons and its
    response matrix over the circuit's cells."""
    def clean(x):
        if isinstance(x, dict):
            return {k: clean(v) for k, v in x.items()}
        if isinstance(x, (list, tuple)):
            return [clean(v) for v in x]
        if isinstance(x, float) and not np.isfinite(x):
            return None
        return x
    subjects = [clean({"subject": asdict(r["subject"]), "label": r["subject"].label, "compare": r["compare"],
                       "anatomy": r["anatomy"], "wall_s": r["wall_s"]}) for r in results]
    return clean({"protocol": asdict(protocol), "subjects": subjects, **(extra or {})})


def responses_npz(results: list[dict]) -> bytes:
    """The simulated response matrices, npz: labels (S,), names (N,), targets (K,) stimulated cells,
    amplitude (S, N, K) float32 [subject, responder, stimulated]."""
    import io
    targets = results[0]["responses"].targets
    amp = np.stack([r["responses"].amplitude[:, targets] for r in results]).astype(np.float32)
    buf = io.BytesIO()
    np.savez_compressed(buf, labels=np.array([r["subject"].label for r in results]),
                        names=np.array(results[0]["circuit"].names), targets=targets, amplitude=amp)
    return buf.getvalue()


def run_atlas(subjects: list[Subject], out: str | Path, protocol: StimProtocol | None = None,
              n_boot: int = 2000, strains=STRAINS, progress=print) -> dict:
    """Evaluate every subject, write OUT/atlas.json, OUT/table.md, OUT/responses.npz and one figure per (level, wiring,
    parameters) group (its first subject, wild type), and return {"results", "table", "tests"}."""
    from wormsim.runs import atomic_write_bytes, atomic_write_text
    out = Path(out)
    results, atlases = [], None
    start = time.perf_counter()
    drawn = set()
    for subject in subjects:
        t0 = time.perf_counter()
        circuit_names = None
        if atlases is None:
            circuit_names = _setup(subject)[0].names
            atlases = {s: load_atlas(circuit_names, s) for s in strains}
        r = evaluate_subject(subject, atlases, protocol or StimProtocol(drive=tuple(subject.drive)), n_boot)
        results.append(r)
        c = r["compare"][strains[0]]
        progress(f"{subject.label}: {strains[0]} r {_fmt(c['r'])}, AUC {_fmt(c['auc'])}, sign {_fmt(c['sign'])} "
                 f"({time.perf_counter() - t0:.1f} s, simulation {r['wall_s']:.1f} s)")
        if subject.group not in drawn:
            drawn.add(subject.group)
            draw(r, atlases[strains[0]], out / f"{'-'.join(subject.group)}.png")
    tests = [t for s in strains for m in ("r", "auc") for t in null_test(results, s, m)]
    from wormsim.experiment.stats import holm
    families: dict[tuple, list[dict]] = {}     # one claim per family: the connectome beats the null wirings
    for t in tests:
        families.setdefault((t["strain"], t["measure"], t["level"], t["params"]), []).append(t)
    for fam in families.values():
        for t, p in zip(fam, holm([t["p"] for t in fam])):
            t["p_holm"] = p
    table = format_tables(results, strains)
    proto = protocol or StimProtocol(drive=tuple(subjects[0].drive))
    data = to_json(results, proto, {"tests": tests, "atlas": {s: a.summary() for s, a in atlases.items()},
                                    "wall_s": time.perf_counter() - start})
    atomic_write_text(out / "atlas.json", json.dumps(data, separators=(",", ":")))
    atomic_write_text(out / "table.md", table + "\n\n" + (format_tests(tests) + "\n" if tests else ""))
    atomic_write_bytes(out / "responses.npz", responses_npz(results))
    return {"results": results, "table": table, "tests": tests, "wall_s": time.perf_counter() - start}


def format_tests(tests: list[dict]) -> str:
    lines = ["| strain | measure | level | parameters | null wiring | connectome (n) | null mean (n) | test | p | "
             "p Holm |", "|---|---|---|---|---|---|---|---|---|---|"]
    for t in tests:
        lines.append(f"| {t['strain']} | {t['measure']} | {t['level']} | {t['params']} | {t['null']} | "
                     f"{_fmt(t['connectome'])} ({t['n_connectome']}) | {_fmt(t['null_mean'])} ({t['n_null']}) | "
                     f"{t['test']} | {_fmt(t['p'], '.3f')} | {_fmt(t.get('p_holm', float('nan')), '.3f')} |")
    lines.append("")
    lines.append("rank, one-sided: the one connectome's value ranked among the null wirings' (each seed one null "
                 "wiring), p = (1 + #null >= connectome) / (1 + #null); permutation, two-sided: connectome runs "
                 "against null runs, difference of means. Holm within each family (strain, measure, level, parameters: "
                 "the connectome against every null wiring).")
    return "\n".join(lines)


# ---- the `wormsim atlas` subcommand (wired into wormsim/cli.py) ---------------------------------------------
def add_atlas(subparsers):
    """Add `atlas` to ``subparsers``; sets func=cmd_atlas."""
    from wormsim.realism_levels import level_names
    from wormsim.wiring import available_wirings as wiring_names
    p = subparsers.add_parser(
        "atlas", help="stimulate single neurons in silico and compare with the measured signal-propagation atlas",
        description="Stimulate each motor-circuit neuron the atlas of Randi et al. (2023, Nature) stimulated, "
        "with the body held still (no proprioceptive feedback), record every neuron's response, and compare "
        "with the measured responses (wild type and unc-31): correlation of amplitudes, sign agreement on "
        "significant pairs, ROC AUC for significance, with bootstrap intervals, beside the wiring's anatomy "
        "as a predictor. Takes trained runs (RUN directories of a body task; each also untrained) and/or "
        "untrained set-ups (--levels x --wirings x --seeds). Prints the table and writes OUT/table.md, "
        "OUT/atlas.json and a figure per set-up (simulated against measured: scatter and pair matrices).")
    p.add_argument("runs", nargs="*", metavar="RUN", help="run directories (trained; their untrained circuit too)")
    p.add_argument("--levels", nargs="+", default=None, choices=level_names(), metavar="LEVEL",
                   help=f"untrained set-ups of these levels ({', '.join(level_names())}); default: rate when "
                   "no RUN is given")
    p.add_argument("--wirings", nargs="+", default=["connectome"], choices=wiring_names(), metavar="WIRING",
                   help=f"wirings of the untrained set-ups ({', '.join(wiring_names())}; default: connectome)")
    p.add_argument("--seeds", type=int, default=1, help="wiring seeds 0..N-1 of each null wiring (default: 1; "
                   "the connectome has one)")
    p.add_argument("--dataset", default="cook2019", help="connectome dataset of the untrained set-ups")
    p.add_argument("--out", default="results/atlas", help="output directory (default: results/atlas)")
    p.add_argument("--boot", type=int, default=2000, help="bootstrap resamples over pairs (default: 2000)")
    p.add_argument("--amplitude", type=float, default=StimProtocol.amplitude,
                   help="stimulus, in the level's input units (default: %(default)s)")
    p.add_argument("--settle", type=float, default=StimProtocol.settle_s, help="seconds before the pulse")
    p.add_argument("--pulse", type=float, default=StimProtocol.pulse_s, help="pulse length, s")
    p.add_argument("--window", type=float, default=StimProtocol.window_s,
                   help="response averaged over this many seconds from the pulse onset")
    p.add_argument("--drive", nargs=2, type=float, default=None, metavar=("FORWARD", "BACKWARD"),
                   help="the command drive channels held during the experiment (default: the set-ups' own, "
                   "forward 1, backward 0; 0 0 leaves the command interneurons undriven)")
    p.add_argument("--no-untrained", dest="untrained", action="store_false",
                   help="skip the untrained circuit of each RUN")
    p.set_defaults(func=cmd_atlas)
    return p


def _untrained_subject(level: str, wiring: str, seed: int, dataset: str) -> Subject:
    """An untrained set-up exactly as `wormsim train` would build it (default body, drive, options)."""
    from wormsim.config import TrainConfig
    spec = TrainConfig(level=level, wiring=wiring, seed=seed, dataset=dataset).eval_spec()
    return Subject(level=spec.level, wiring=spec.wiring, wiring_seed=spec.wiring_seed, trained=False,
                   dataset=spec.dataset, env_kwargs=spec.env_kwargs, level_kwargs=spec.level_kwargs,
                   drive=tuple(spec.drive))


def cmd_atlas(args) -> int:
    import sys
    from wormsim.realism_levels import get_level
    if args.seeds < 1:
        raise ValueError(f"--seeds must be >= 1, got {args.seeds}")
    if args.boot < 0:
        raise ValueError(f"--boot must be >= 0, got {args.boot}")
    levels = args.levels if args.levels is not None else ([] if args.runs else ["rate"])
    for level in levels:  # before any simulation: a level without neurons is refused at once
        get_level(level).require("uses_wiring", "stimulating single neurons of the circuit (wormsim atlas)",
                                 "it has no neurons of the worm to stimulate")
    subjects: list[Subject] = []
    for run in args.runs:
        subjects += subjects_from_run(run, untrained=args.untrained)
    for level in levels:
        for wiring in args.wirings:
            for seed in range(1 if wiring == "connectome" else args.seeds):
                subjects.append(_untrained_subject(level, wiring, seed, args.dataset))
    unique, seen = [], set()
    for s in subjects:  # a run's untrained circuit and the same untrained set-up are one subject
        if s.wiring == "connectome" and not s.trained:
            s.wiring_seed = 0          # the connectome does not depend on the seed: one untrained subject
        # the body's options other than n_segments (medium, duration, oscillator) do not reach a body held still
        key = (s.level, s.wiring, s.wiring_seed, s.trained, s.run, s.dataset,
               dict(s.env_kwargs).get("n_segments"), s.level_kwargs)
        if key not in seen:
            seen.add(key)
            unique.append(s)
    drive = {tuple(s.drive) for s in unique} if args.drive is None else {tuple(args.drive)}
    if len(drive) > 1:
        raise ValueError(f"the set-ups have different command drives {sorted(drive)}: compare runs of one drive")
    protocol = StimProtocol(amplitude=args.amplitude, settle_s=args.settle, pulse_s=args.pulse,
                            window_s=args.window, drive=drive.pop())
    result = run_atlas(unique, args.out, protocol, n_boot=args.boot,
                       progress=lambda line: print(line, file=sys.stderr, flush=True))
    print(result["table"])
    if result["tests"]:
        print()
        print(format_tests(result["tests"]))
    print(f"\n{len(unique)} set-up(s) in {result['wall_s']:.0f} s; {args.out}/table.md, {args.out}/atlas.json, "
          f"figures {args.out}/*.png")
    return 0
