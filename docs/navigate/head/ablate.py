"""Where does the attractant enter a trained circuit? Its learned input gains, and the held-out success
with the attractant inputs to one group of neurons set to 0.

    python docs/navigate/head/ablate.py RUN [--episodes 64]

Same held-out episodes as docs/navigate/evaluate.py (seeds 7_000_000 ..)."""
from __future__ import annotations

import argparse
import sys

import numpy as np

SEED = 7_000_000


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run")
    ap.add_argument("--episodes", type=int, default=64)
    args = ap.parse_args(argv)
    import wormsim  # noqa: F401
    from wormsim.config import TrainConfig
    from wormsim.rollout import Evaluator
    from wormsim.runs import Run
    run = Run.open(args.run)
    params, _ = run.load_policy()
    cfg = TrainConfig.from_dict(run.config)
    ev = Evaluator(cfg.eval_spec(episodes=args.episodes, held_out=True))
    ev.initial_params()
    io, c = ev.interface.io_spec(), ev.circuit
    start = 0
    for name, size in ev.brain.param_sizes().items():
        if name == "gain":
            break
        start += size
    mask = np.asarray(io.input_mask, bool)
    entries = list(zip(*np.nonzero(mask)))                  # (channel, neuron), the gains' order
    base = np.asarray(params, np.float32)
    print("learned attractant gains (channel: neuron gain):")
    for ch in ("task:concentration", "task:concentration_change"):
        k = io.channel_names.index(ch)
        g = {c.names[n]: float(base[start + e]) for e, (cc, n) in enumerate(entries) if cc == k}
        print(f"  {ch}: " + ", ".join(f"{n} {v:+.2f}" for n, v in g.items()))
    groups = {"none": (), "command interneurons": ("AVA", "AVB", "AVD", "AVE", "PVC"), "AIY, AIB": ("AIY", "AIB"),
              "all": ("AVA", "AVB", "AVD", "AVE", "PVC", "AIY", "AIB")}
    tasks = [k for k, ch in enumerate(io.channel_names) if ch.startswith("task:")]
    members = []
    for label, classes in groups.items():
        p = base.copy()
        for e, (cc, n) in enumerate(entries):
            if cc in tasks and c.cell_class[n] in classes:
                p[start + e] = 0.0
        members.append(p)
    res = ev.evaluate(np.stack(members), seed=SEED)
    print(f"held-out success ({args.episodes} episodes) with the attractant inputs to a group set to 0:")
    for i, label in enumerate(groups):
        s = np.asarray(res.episodes["score"][i], float)
        ci = np.asarray(res.episodes["score_chemotaxis"][i], float)
        print(f"  {label:22s} success {s.mean():.2f}  chemotaxis index {ci.mean():+.2f}")
    ev.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
