"""How much can a circuit steer? Drive groups of its neurons and watch the body turn.

    python docs/navigate/steering_lever.py RUN [RUN ...] --out docs/navigate/steering_lever.md

For every run (rate level), its trained circuit swims 8 navigate episodes of 6 s (head oscillator 2 Hz at a
random phase, the attractant inputs as sensed) while a constant extra drive d is added to the bias of a
group of its neurons (the same as a constant input of d; the rate level's drive is in units of its
sigmoid's argument). Per probe: the mean turning rate of the head's heading over the last 5 s (rad/s,
signed, as docs/navigate/sense_response.py measures it) and the net speed of the centre of mass. The
success radius is made tiny, so that no episode ends at the target. Probes a circuit lacks (the head neurons on the default circuit) are skipped.

The question is the lever, not the policy: klinokinesis in this body needs about 1.4 rad/s of turning
while the concentration falls (sense_response.md, the open-loop wave with a ventral bias of 0.1).
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from sense_response import _turn_and_speed  # noqa: E402

# (label, neuron classes or names, drive d)
PROBES = (
    ("none", (), 0.0),
    ("AVA, AVD, AVE +4", ("AVA", "AVD", "AVE"), 4.0),
    ("AVB, PVC +4", ("AVB", "PVC"), 4.0),
    ("SMDV, RMDV +4", ("SMDVL", "SMDVR", "RMDVL", "RMDVR"), 4.0),
    ("SMDD, RMDD +4", ("SMDDL", "SMDDR", "RMDDL", "RMDDR"), 4.0),
    ("SMBV +4", ("SMBVL", "SMBVR"), 4.0),
    ("SMBD +4", ("SMBDL", "SMBDR"), 4.0),
    ("RIA +4", ("RIA",), 4.0),
    ("RIA -4", ("RIA",), -4.0),
    ("AIY +4", ("AIY",), 4.0),
    ("AIB +4", ("AIB",), 4.0),
)


def lever(run_dir: str, probes=PROBES, episodes: int = 8, duration: float = 6.0) -> list[dict]:
    from wormsim.config import TrainConfig
    from wormsim.rollout import Evaluator, run_episodes
    from wormsim.runs import Run
    run = Run.open(run_dir)
    params, _ = run.load_policy()
    cfg = TrainConfig.from_dict({**run.config, "task": "navigate", "duration": duration})
    spec = cfg.eval_spec(episodes=episodes, held_out=True)
    # no episode ends early at the target: every worm swims the whole 6 s
    spec = dataclasses.replace(spec, env_kwargs=spec.env_kwargs + (("success_radius", 1e-3),))
    ev = Evaluator(spec)
    ev.initial_params()
    sizes = ev.brain.param_sizes()
    start = 0
    for name, size in sizes.items():
        if name == "bias":
            break
        start += size
    c = ev.circuit
    J, dt = ev.interface.layout.n_joints, ev.interface.control_dt
    base = np.asarray(params, np.float32)
    if len(base) != ev.brain.n_params:     # a swimmer: navigate's attractant inputs start at 0
        from wormsim.train.warmstart import map_params
        src = Evaluator(TrainConfig.from_dict(run.config).eval_spec())
        src.initial_params()
        base = map_params(base.astype(np.float64), src.brain, src.interface.io_spec(), ev.brain,
                          ev.interface.io_spec()).astype(np.float32)
        src.close()
    rows = []
    for label, group, d in probes:
        idx = [i for i, (n, k) in enumerate(zip(c.names, c.cell_class)) if n in group or k in group]
        if group and not idx:
            continue
        p = base.copy()
        p[start + np.array(idx, int)] += d
        ev.brain.set_params(p[None])
        heads = []
        out = run_episodes(ev.brain, ev.interface, ev.env, list(range(episodes)),
                           observe=lambda o, i: heads.append(o.copy()), record=True)
        turn, speed = _turn_and_speed(np.array(heads), out.traces["com"], J, dt)
        rows.append({"probe": label, "turn": turn, "speed": speed})
    ev.close()
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+")
    ap.add_argument("--out", default="docs/navigate/steering_lever.md")
    args = ap.parse_args(argv)
    import wormsim  # noqa: F401
    results = {r: {x["probe"]: x for x in lever(r)} for r in args.runs}
    labels = [p[0] for p in PROBES]
    lines = ["| probe | " + " | ".join(Path(r).name for r in args.runs) + " |",
             "|---|" + "---|" * len(args.runs)]
    for lab in labels:
        cells = [f"{res[lab]['turn']:+.2f} rad/s, {res[lab]['speed']:.2f} BL/s" if lab in res else "n/a"
                 for res in results.values()]
        lines.append(f"| {lab} | " + " | ".join(cells) + " |")
    Path(args.out).write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
