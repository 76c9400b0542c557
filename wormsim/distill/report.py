"""The distillation's outputs, each written atomically into ``out``: dataset.npz, metrics.json, PNG figures
and report.md (tables, then findings whose words follow the numbers)."""
from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np

from wormsim.distill.analyses import CONTROLLERS
from wormsim.distill.config import MIN_STD

# the gait measures of the report's tables and figure: (key, words, unit, decimals)
REPORT_GAIT = (("speed", "speed", "BL/s", 3), ("frequency", "frequency", "Hz", 2),
               ("phase_lag", "phase lag", "cycles", 3), ("amplitude", "amplitude", "rad/BL", 3))
DATASET_KEYS = ("u", "activity", "muscles", "trial_activity", "trial_muscles", "curvature", "bend_rate",
                "head_velocity", "drives", "seeds")


def _fmt(x, nd=3) -> str:
    return "n/a" if x is None or (isinstance(x, float) and not np.isfinite(x)) else f"{x:.{nd}f}"


def _nan(v):
    return np.nan if v is None else v


def write_outputs(out: Path, m: dict, train, test, pred, heldout, names, command, losses) -> None:
    """dataset.npz, metrics.json, the figures and report.md into ``out``."""
    from wormsim.runs import atomic_write_bytes, atomic_write_text
    out.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    np.savez_compressed(buf, **{f"{split}_{k}": (d[k].astype(np.float32) if d[k].dtype == np.float64 else d[k])
                                for split, d in (("train", train), ("test", test)) for k in DATASET_KEYS},
                        test_student_activity=pred["activity"], test_student_muscles=pred["muscles"],
                        neuron_names=np.array(names), warmup_steps=m["data"]["warmup_steps"])
    atomic_write_bytes(out / "dataset.npz", buf.getvalue())
    atomic_write_text(out / "metrics.json", json.dumps(m, indent=2))
    figs = []
    if heldout["neuron"] is not None:
        figs.append(_fig_r2_per_neuron(out, m, heldout, names))
    figs.append(_fig_data_efficiency(out, m, heldout["neuron"] is not None))
    if m["generalisation"]:
        figs.append(_fig_gait(out, m["generalisation"]))
    if heldout["neuron"] is not None:
        figs.append(_fig_traces(out, m, test, pred, names))
    figs.append(_fig_loss(out, losses))
    atomic_write_text(out / "report.md", report_markdown(m, figs, command))


# ---- figures ---------------------------------------------------------------------------------------------
def _save(fig, out: Path, name: str) -> str:
    from wormsim.viz.plots import save_figure
    save_figure(fig, out / name, dpi=110, bbox_inches="tight")
    return name


def _plt():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def _fig_r2_per_neuron(out: Path, m: dict, heldout: dict, names) -> str:
    r2 = heldout["neuron"]["per_unit"]
    fig, ax = _plt().subplots(figsize=(max(8, len(names) * 0.16), 3.2))
    x = np.arange(len(names))
    ax.bar(x, np.clip(np.nan_to_num(r2, nan=0.0), -1, 1),
           color=["tab:blue" if np.isfinite(v) else "lightgrey" for v in r2])
    if heldout.get("reliability"):
        from matplotlib.patches import Patch
        line, = ax.plot(x, np.clip(heldout["reliability"]["neuron"]["per_unit"], -1, 1), "k_", ms=6)
        ax.legend([Patch(color="tab:blue"), line], ["student", "target reliability"], fontsize=7,
                  loc="lower right")
    ax.set_xticks(x)
    ax.set_xticklabels(names, rotation=90, fontsize=5)
    ax.set_ylim(-1, 1)
    ax.axhline(0, color="k", lw=0.5)
    ax.set_ylabel("held-out R$^2$ (clipped at -1)")
    ax.set_title(f"{m['student']['level']} student of the {m['teacher']['level']} teacher: R$^2$ per neuron "
                 "(grey: flat target)")
    return _save(fig, out, "r2_per_neuron.png")


def _fig_data_efficiency(out: Path, m: dict, neurons: bool) -> str:
    fig, ax = _plt().subplots(figsize=(4.8, 3.2))
    c = m["data_efficiency"]
    xs = [r["n_sequences"] for r in c]
    if neurons:
        ax.plot(xs, [_nan(r["neuron_pooled"]) for r in c], "o-", label="student, neurons")
        ax.plot(xs, [_nan(r["ridge_neuron_pooled"]) for r in c], "o:", color="tab:blue", alpha=0.6,
                label="ridge, neurons")
    ax.plot(xs, [_nan(r["muscle_pooled"]) for r in c], "s--", color="tab:orange", label="student, muscles")
    ax.plot(xs, [_nan(r["ridge_muscle_pooled"]) for r in c], "s:", color="tab:orange", alpha=0.6,
            label="ridge, muscles")
    ax.set_xscale("log", base=2)
    ax.set_xlabel(f"teacher sequences ({m['data']['duration_s']} s each)")
    ax.set_ylabel("held-out pooled R$^2$")
    ax.legend(fontsize=7)
    ax.set_title("data efficiency")
    return _save(fig, out, "data_efficiency.png")


def _fig_gait(out: Path, g: list[dict]) -> str:
    fig, axes = _plt().subplots(len(REPORT_GAIT), 1, figsize=(max(8, len(g) * 0.9), 2.2 * len(REPORT_GAIT)),
                                sharex=True)
    x = np.arange(len(g))
    for ax, (key, words, unit, _) in zip(axes, REPORT_GAIT):
        for j, name in enumerate(CONTROLLERS):
            ax.bar(x + (j - 1.5) * 0.2, [_nan(r[name][key]) for r in g], 0.2, label=name)
        ax.set_ylabel(f"{words} ({unit})", fontsize=8)
    axes[0].legend(fontsize=7, ncol=4)
    axes[-1].set_xticks(x)
    axes[-1].set_xticklabels([f"{r['medium']} ({r['drive_forward']:g},{r['drive_backward']:g})\n"
                              f"head {r['head_cpg']:g} Hz" for r in g], fontsize=6)
    fig.suptitle("zero-shot gait, closed loop (medium, drive forward/backward, head oscillator)")
    return _save(fig, out, "gait_comparison.png")


def _fig_traces(out: Path, m: dict, test: dict, pred: dict, names) -> str:
    w, dt = m["data"]["warmup_steps"], m["data"]["control_dt"]
    order = np.argsort(-np.nan_to_num(test["activity"][w:].std((0, 1))))[:6]
    fig, axes = _plt().subplots(len(order), 1, figsize=(7, 1.2 * len(order)), sharex=True)
    axes = np.atleast_1d(axes)
    tt = np.arange(test["activity"].shape[0]) * dt
    for ax, i in zip(axes, order):
        ax.plot(tt, test["trial_activity"][:, 0, i], color="0.7", lw=0.8, label="teacher, one trial")
        ax.plot(tt, test["activity"][:, 0, i], "k", lw=1, label="target")
        ax.plot(tt, pred["activity"][:, 0, i], "r--", lw=1, label="student")
        ax.axvspan(0, w * dt, color="0.9", lw=0)
        ax.set_ylabel(names[i], fontsize=7)
    axes[0].legend(fontsize=6, loc="upper right", ncol=3)
    axes[-1].set_xlabel("time (s), held-out sequence 0 (shaded: warm-up, not scored)")
    return _save(fig, out, "traces.png")


def _fig_loss(out: Path, losses) -> str:
    fig, ax = _plt().subplots(figsize=(4.5, 3))
    ax.semilogy(losses)
    ax.set_xlabel("epoch")
    ax.set_ylabel("training loss")
    return _save(fig, out, "loss.png")


# ---- report.md ---------------------------------------------------------------------------------------------
def report_markdown(m: dict, figs: list[str], command: str | None) -> str:
    L = _header(m, command) + _heldout_section(m) + _efficiency_section(m) + _gait_section(m)
    L += _plasticity_section(m) + _decoding_section(m)
    L += ["", "## Findings", ""] + findings(m) + [""]
    L += ["## Figures", ""] + [f"![{f}]({f})" for f in figs] + [""]
    return "\n".join(L)


def _header(m: dict, command: str | None) -> list[str]:
    d, tr = m["data"], m["training"]
    target = (f"the teacher's trial mean (mean of {d['n_replays']} open-loop replays of each sequence on "
              f"its own inputs plus noise of std {d['replay_noise']:g})" if d["n_replays"]
              else "the teacher's recorded single trial")
    return [f"# Functional distillation: {m['student']['level']} student ({m['student']['wiring']}) "
            f"of a {m['teacher']['level']} teacher", "",
            "Command:", "", "```", command or "(called from Python: wormsim.distill.distill)", "```", "",
            f"Teacher: {m['teacher']['description']}, head oscillator {m['teacher']['head_cpg']:g} Hz. "
            f"Student: {m['student']['level']} on the {m['student']['wiring']} wiring, "
            f"{m['student']['n_params']} parameters, trained by BPTT (Adam, lr {tr['lr']}, {tr['epochs']} "
            f"full-batch epochs, {tr['wall_time_s']} s) to reproduce {target} from the teacher's input "
            "channels (teacher forcing on inputs, free-running state).", "",
            f"Data: {d['n_train']} training and {d['n_test']} held-out closed-loop sequences of "
            f"{d['duration_s']} s ({d['steps_per_sequence']} steps of {d['control_dt']} s), "
            f"{d['n_inputs']} input channels, {d['n_neurons']} neurons, {d['n_muscles']} muscles; drives "
            f"forward U{tuple(d['drive_range'][0])}, backward U{tuple(d['drive_range'][1])}, input noise "
            f"std {d['input_noise']}, initial joint angles +-{d['reset_noise_rad']} rad; held-out "
            f"sequences have unseen seeds and drives. The first {d['warmup_s']:g} s ({d['warmup_steps']} "
            "steps) of every sequence, the teacher's start from rest, are left out of the loss and of "
            "every score below.", ""]


def _row(label: str, pair: dict) -> str:
    return (f"| {label} | {_fmt(pair.get('neuron_pooled'))} | {_fmt(pair.get('neuron_median'))} | "
            f"{_fmt(pair.get('muscle_pooled'))} | {_fmt(pair.get('muscle_median'))} |")


def _as_pair(f: dict) -> dict:
    """{neuron,muscle}_{pooled,median} of a {"neuron": fit or None, "muscle": fit} dict."""
    n = f["neuron"] or {}
    return {"neuron_pooled": n.get("pooled"), "neuron_median": n.get("median"),
            "muscle_pooled": f["muscle"]["pooled"], "muscle_median": f["muscle"]["median"]}


def ceiling(rel: dict) -> dict:
    """The expected R^2 of a perfect model of the infinite-replay average against a target of n
    replays whose reliability (R^2 between two such targets) is r: (1 + r) / 2 (the target's
    replay noise counts once against the model, twice between two targets)."""
    return {k: None if v is None else (1 + v) / 2 for k, v in rel.items()}


def _heldout_section(m: dict) -> list[str]:
    h, d = m["heldout"], m["data"]
    L = ["## Held-out fit", "", "R^2 against the target on held-out sequences; pooled = all units at "
         "once (variance-weighted); median over the units whose target varies (std >= "
         f"{MIN_STD:g}).", "", "| model | neurons pooled | neurons median | muscles pooled | muscles median |",
         "|---|---|---|---|---|",
         _row("trained student", _as_pair(h)), _row("trained student, on its training data", h["train_fit"])]
    if "untrained" in h["baselines"]:
        L.append(_row("untrained student", h["baselines"]["untrained"]))
    L.append(_row("constant (training mean)", h["baselines"]["constant"]))
    L.append(_row(f"ridge on the last {h['ridge']['history_steps']} input steps", h["ridge"]))
    if h.get("reliability"):
        rel = _as_pair(h["reliability"])
        L.append(_row("target reliability r (R^2 of a second, independent trial mean)", rel))
        L.append(_row("ceiling (1 + r) / 2: a perfect model of the trial average", ceiling(rel)))
    L.append(_row("student vs the single recorded trial", h["single_trial"]["student"]))
    if d["n_replays"]:
        L.append(_row("ceiling: the trial mean vs the single trial", h["single_trial"]["ceiling"]))
    if h["neuron"] is not None:
        L += ["", f"Scored neurons: {h['neuron']['n_scored']} ({h['neuron']['n_flat']} with a flat target)."]
        if h.get("reliable_neurons"):
            rn = h["reliable_neurons"]
            L.append(f"Reliable neurons (target reliability >= {rn['threshold']:g}): {rn['n']}; the student's "
                     f"median R^2 on them {_fmt(rn['student_median'])} (their median reliability "
                     f"{_fmt(rn['reliability_median'])}).")
    tr = m["training"]
    return L + ["", f"Training loss {tr['loss_first']:.4g} -> {tr['loss_last']:.4g}.", ""]


def _efficiency_section(m: dict) -> list[str]:
    L = ["## Data efficiency", "", "| teacher sequences | scored steps | student neurons pooled | student "
         "neurons median | student muscles pooled | ridge neurons pooled | ridge muscles pooled |",
         "|---|---|---|---|---|---|---|"]
    for r in m["data_efficiency"]:
        cells = [r["n_sequences"], r["steps"]] + [_fmt(r[k]) for k in (
            "neuron_pooled", "neuron_median", "muscle_pooled", "ridge_neuron_pooled", "ridge_muscle_pooled")]
        L.append("| " + " | ".join(map(str, cells)) + " |")
    return L


def _gait_section(m: dict) -> list[str]:
    heads = " | ".join(f"{words} ({unit})" for _, words, unit, _ in REPORT_GAIT)
    L = ["", "## Zero-shot gait (closed loop, no input noise)", "",
         "Each cell: teacher / trained student / untrained student / constant-mean student. Measured by "
         "wormsim.analysis.gait (the numbers `wormsim rollout` prints for the same episode) on the curvature "
         "kymograph after the episode's first quarter. Speed: forward speed of the centre of mass; "
         "frequency: spectral peak of the mid-body curvature; phase lag: cycles by which the last joint "
         "lags the first at that frequency (positive: a wave travelling head to tail, near 0: a standing "
         "wave; wavelength and wave speed are in metrics.json); amplitude: of the mid-body curvature (n/a: "
         "no undulation). Open-loop R^2: the student on the teacher's own inputs in that condition, against "
         "the teacher's trial mean (pooled).", "",
         f"| head osc. | medium | drive (f, b) | drive in training range | {heads} | "
         "open-loop R^2 neurons / muscles |", "|---|---|---|---|" + "---|" * len(REPORT_GAIT) + "---|"]
    for r in m["generalisation"]:
        cells = [" / ".join(_fmt(r[c][k], nd) for c in CONTROLLERS) for k, _, _, nd in REPORT_GAIT]
        L.append(f"| {r['head_cpg']:g} Hz | {r['medium']} | ({r['drive_forward']:g}, {r['drive_backward']:g}) | "
                 f"{'yes' if r['seen_drive_range'] else 'no'} | " + " | ".join(cells) +
                 f" | {_fmt(r['open_loop_neuron_r2'])} / {_fmt(r['open_loop_muscle_r2'])} |")
    L += ["", "Mean absolute difference from the teacher over the conditions above:", "",
          f"| head osc. | controller | {heads} |", "|---|---|" + "---|" * len(REPORT_GAIT)]
    for head, ctrl, diffs in gait_errors(m["generalisation"]):
        cells = [_fmt(diffs[k], nd) for k, _, _, nd in REPORT_GAIT]
        L.append(f"| {head:g} Hz | {ctrl} | " + " | ".join(cells) + " |")
    return L


def _plasticity_section(m: dict) -> list[str]:
    L = ["", "## Robustness to plasticity", "",
         "Teacher synaptic conductances (chemical and gap) scaled by independent factors uniform in "
         "[1-p, 1+p]; held-out seeds and drives; pooled R^2 against the perturbed teacher's target. "
         "Zero-shot: the student trained on the unperturbed teacher, not retrained. Fine-tuned: that "
         "student trained further on the perturbed teacher's own training sequences. Unperturbed "
         "teacher: the original teacher used as a model of the perturbed one.", "",
         "| p | zero-shot neurons / muscles | fine-tuned neurons / muscles | "
         "unperturbed teacher neurons / muscles |",
         "|---|---|---|---|"]
    for r in m["plasticity"]:
        cells = [("n/a" if r[k] is None else f"{_fmt(r[k]['neuron_pooled'])} / {_fmt(r[k]['muscle_pooled'])}")
                 for k in ("zero_shot", "finetuned", "unperturbed_teacher")]
        L.append(f"| {r['fraction']:g} | " + " | ".join(cells) + " |")
    return L


def _decoding_section(m: dict) -> list[str]:
    dc = m["decoding"]
    L = ["", f"## Decoding the {dc['target']} (ridge, fit on training, scored on held-out; R^2)", "",
         f"Features: the last {dc['history_steps']} steps of the input channels (joint angles and drives, "
         f"not velocities: alone they give R^2 {_fmt(dc['inputs_only'])}), with or without a source's activity "
         "at the step; the teacher's activity is its trial mean, the student and the baselines run open loop "
         "on the teacher's recorded inputs. Gain: R^2 with the activity minus R^2 of the inputs alone. "
         "Transfer: a decoder fitted on the teacher's activity alone, applied to the source's activity.", "",
         "| source | inputs + activity | gain over inputs | activity alone | transfer of the teacher's decoder |",
         "|---|---|---|---|---|"]
    for name, s in dc["sources"].items():
        L.append(f"| {name} | {_fmt(s['with_inputs'])} | {_fmt(s['gain'])} | {_fmt(s['alone'])} | "
                 f"{_fmt(s['transfer'])} |")
    return L


# ---- findings: sentences that follow the numbers -----------------------------------------------------------
def gait_errors(gen: list[dict]):
    """(head, controller, mean |x - teacher's x| per gait measure) over the conditions; a measure that is
    n/a for one of the two (no undulation) is left out of that mean."""
    out = []
    for head in sorted({r["head_cpg"] for r in gen}, reverse=True):
        rows = [r for r in gen if r["head_cpg"] == head]
        for ctrl in CONTROLLERS[1:]:
            diffs = {}
            for k, *_ in REPORT_GAIT:
                v = [abs(r[ctrl][k] - r["teacher"][k]) for r in rows
                     if r[ctrl][k] is not None and r["teacher"][k] is not None]
                diffs[k] = float(np.mean(v)) if v else None
            out.append((head, ctrl, diffs))
    return out


def _and(words: list[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def _span(values) -> str:
    """'a-b' (or 'a', or 'n/a') of the finite values."""
    values = list(values)
    v = [x for x in values if x is not None]
    if not v:
        return "n/a"
    lo, hi = min(v), max(v)
    text = f"{lo:.2f}" if abs(hi - lo) < 5e-3 else f"{lo:.2f} to {hi:.2f}"
    return text + (f" (n/a in {len(values) - len(v)} of {len(values)})" if len(v) < len(values) else "")


def findings(m: dict) -> list[str]:
    """The report's findings, each a sentence whose words (above / below, closer / not) follow the numbers."""
    return _fit_findings(m) + _gait_findings(m) + _plasticity_findings(m) + _decoding_findings(m) + (
        [f"- Warning: {m['teacher']['failed_sequences']} teacher sequences failed numerically."]
        if m["teacher"]["failed_sequences"] else [])


def _fit_findings(m: dict) -> list[str]:
    h, d = m["heldout"], m["data"]
    out = []
    if h["neuron"] is not None and h["neuron"]["pooled"] is not None:
        out += _neuron_findings(h, d)
    mu = h["muscle"]
    if mu["pooled"] is not None:
        out.append(f"- Muscles: pooled R^2 {mu['pooled']:.2f} (median {_fmt(mu['median'], 2)}; ridge "
                   f"{_fmt(h['ridge']['muscle_pooled'], 2)}).")
    k = "neuron_pooled" if h["neuron"] else "muscle_pooled"
    c = [r for r in m["data_efficiency"] if r[k] is not None]
    if len(c) > 1:
        out.append(f"- Data efficiency: pooled R^2 goes from {c[0][k]:.2f} with {c[0]['n_sequences']} "
                   f"sequence(s) to {c[-1][k]:.2f} with {c[-1]['n_sequences']} (ridge: "
                   f"{_fmt(c[0]['ridge_' + k], 2)} to {_fmt(c[-1]['ridge_' + k], 2)}).")
    return out


def _neuron_findings(h: dict, d: dict) -> list[str]:
    n, rel = h["neuron"], h.get("reliability")
    what = "trial-averaged activity" if d["n_replays"] else "recorded activity"
    sent = (f"- On held-out seeds and drives the student explains {100 * max(n['pooled'], 0):.0f}% of the "
            f"variance of the teacher's {what} (pooled R^2 {n['pooled']:.2f})")
    if rel and rel["neuron"]["pooled"] is not None:
        sent += (f"; a perfect model of the trial average would score about "
                 f"{(1 + rel['neuron']['pooled']) / 2:.2f} against this {d['n_replays']}-replay target")
    rg = h["ridge"]["neuron_pooled"]
    if rg is not None:
        side = "above" if n["pooled"] > rg + 0.02 else "below" if n["pooled"] < rg - 0.02 else "level with"
        sent += (f"; ridge regression on the input history reaches {rg:.2f}, so the student is {side} that "
                 "linear benchmark")
    out = [sent + "."]
    sent = f"- The median R^2 over the {n['n_scored']} neurons whose target varies is {n['median']:.2f}"
    if h.get("reliable_neurons"):
        rn = h["reliable_neurons"]
        sent += (f"; {rn['n']} of them have a reproducible target (reliability >= {rn['threshold']:g})"
                 + (f", and on those the student's median R^2 is {rn['student_median']:.2f}" if rn["n"] else ""))
    out.append(sent + ".")
    tf = h["train_fit"]["neuron_pooled"]
    if tf is not None:
        gap = tf - n["pooled"]
        out.append(f"- On its own training data it reaches pooled R^2 {tf:.2f}: "
                   + ("what it misses held-out it also misses in training (a limit of fitting, not "
                      "overfitting)." if gap < 0.05 else f"a generalisation gap of {gap:.2f}."))
    st = h["single_trial"]
    if d["n_replays"] and st["ceiling"]["neuron_pooled"] is not None:
        out.append(f"- Against the single recorded trial the student reaches pooled R^2 "
                   f"{_fmt(st['student']['neuron_pooled'], 2)}; the trial mean itself, about the best any "
                   f"model of the inputs can do there, reaches {_fmt(st['ceiling']['neuron_pooled'], 2)} "
                   f"(median over neurons {_fmt(st['ceiling']['neuron_median'], 2)}).")
    return out


def _gait_findings(m: dict) -> list[str]:
    out, words = [], {k: w for k, w, *_ in REPORT_GAIT}
    errs = gait_errors(m["generalisation"])
    for head in sorted({e[0] for e in errs}, reverse=True):
        by = {ctrl: diffs for hh, ctrl, diffs in errs if hh == head}
        keys = [k for k, *_ in REPORT_GAIT if by["student"][k] is not None]
        closer = [words[k] for k in keys
                  if all(by[c][k] is None or by["student"][k] < by[c][k] for c in ("untrained", "constant"))]
        rest = [words[k] for k in keys if words[k] not in closer]
        out.append(f"- Closed loop, head oscillator {'off' if head == 0 else f'at {head:g} Hz'}: the trained "
                   "student is closer to the teacher than both the untrained and the constant-mean student in "
                   + (_and(closer) if closer else "none of the gait measures")
                   + (f", not in {_and(rest)}" if rest and closer else "")
                   + " (mean absolute differences in the table above).")
    return out + _rhythm_findings(m)


def _rhythm_findings(m: dict) -> list[str]:
    out, h = [], m["heldout"]
    gen, head0 = m["generalisation"], m["teacher"]["head_cpg"]

    def span(rows, c, k):
        return _span([r[c][k] for r in rows])
    off = [r for r in gen if r["head_cpg"] == 0]
    if off and head0 > 0:
        on = [r for r in gen if r["head_cpg"] == head0]
        out.append(f"- Head oscillator off, the circuit must make the rhythm: the teacher's amplitude is "
                   f"{span(off, 'teacher', 'amplitude')} rad/BL (with the oscillator "
                   f"{span(on, 'teacher', 'amplitude')}), its frequency {span(off, 'teacher', 'frequency')} Hz, "
                   f"its speed {span(off, 'teacher', 'speed')} "
                   f"BL/s; the student's amplitude is {span(off, 'student', 'amplitude')} rad/BL at "
                   f"{span(off, 'student', 'frequency')} Hz.")
    agar = [r for r in gen if r["medium"] == "agar" and r["head_cpg"] == head0]
    if agar:
        inside = [r for r in agar if r["seen_drive_range"]]
        key = "open_loop_neuron_r2" if h["neuron"] else "open_loop_muscle_r2"

        def listed(rows):
            return ", ".join(f"{_fmt(r[key], 2)} at ({r['drive_forward']:g}, {r['drive_backward']:g})"
                             for r in rows)
        water = [r for r in gen if r["medium"] == "water" and r["head_cpg"] == head0]
        out.append(f"- Agar is a medium the student never saw (it was trained on water); {len(inside)} of the "
                   f"{len(agar)} drives tried there {'lies' if len(inside) == 1 else 'lie'} inside the training "
                   f"drive range. Open-loop pooled R^2 of the {'neurons' if h['neuron'] else 'muscles'} in agar: "
                   + listed(agar) + (f"; in water at unseen drives: {listed(water)}" if water else "") + ".")
    return out


def _plasticity_findings(m: dict) -> list[str]:
    out, h = [], m["heldout"]
    key = "neuron_pooled" if h["neuron"] else "muscle_pooled"
    own = _fmt(h["neuron" if h["neuron"] else "muscle"]["pooled"], 2)
    for r in m["plasticity"]:
        zs, ref, ft = r["zero_shot"][key], r["unperturbed_teacher"][key], (r["finetuned"] or {}).get(key)
        if zs is None:
            continue
        sent = (f"- Teacher synapses perturbed by up to {100 * r['fraction']:.0f}%: the student, not retrained, "
                f"scores pooled R^2 {zs:.2f} against the perturbed teacher (against the unperturbed one: "
                f"{own}; the unperturbed teacher as a model of the perturbed one: {_fmt(ref, 2)})")
        if ft is not None:
            sent += f"; fine-tuned for {r['finetune_epochs']} epochs on the perturbed teacher it scores {ft:.2f}"
        out.append(sent + ".")
    return out


def _transfers(src: dict) -> bool:
    """Whether the teacher's decoder scores at least half as well on the student's activity as on the
    teacher's own held-out activity."""
    t, st = src["teacher"]["transfer"], src.get("student", {}).get("transfer")
    return t is not None and st is not None and t > 0 and st >= 0.5 * t


def _decoding_findings(m: dict) -> list[str]:
    dc = m["decoding"]
    src = dc["sources"]
    out = [f"- Decoding the {dc['target']}: the input history alone gives R^2 {_fmt(dc['inputs_only'], 2)}; "
           "adding activity gains " + ", ".join(f"{_fmt(v['gain'], 2)} ({k})" for k, v in src.items())
           + "; the teacher's decoder applied to the activity scores "
           + ", ".join(f"{_fmt(v['transfer'], 2)} ({k})" for k, v in src.items() if k != "teacher")
           + f" (on the teacher's own held-out activity: {_fmt(src['teacher']['transfer'], 2)})."]
    g_s, g_u = (src.get(k, {}).get("gain") for k in ("student", "untrained"))
    if g_s is not None and g_u is not None and g_s > 0.05:
        out.append("- " + ("The untrained student's activity gains about as much as the trained one's, so that "
                           "gain measures a nonlinear expansion of the input history, not the teacher's "
                           "computation; " if g_u >= 0.8 * g_s
                           else "The trained student's activity gains clearly more than the untrained one's; ")
                   + ("the teacher's decoder transfers to the student's activity."
                      if _transfers(src) else "the teacher's own decoder does not transfer to the student's "
                      "activity (it scores below half of what it scores on the teacher's)."))
    return out
