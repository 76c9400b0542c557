"""NCAP, the rate level on the connectome and the GRU (mlp) baseline, trained by ES to swim on two bodies:
wormsim's worm (task swim) and dm_control's swimmer (task dmc-swim); the forward speed after training
beside each body's references. Writes docs/ncap/results.{md,json}.

    nice -n 10 python benchmarks/ncap_swimmer.py [--budget 20] [--popsize 16] [--seeds 1]
        [--levels ncap rate mlp ncap-direct] [--out runs/ncap-bench] [--doc docs/ncap]

Every cell is one ordinary `wormsim train` run (printed, so a reader can rerun it), the same ES budget for
every level on a body; its number is the run's own held-out judgement (final_speed: the trained policy on
eval episodes with the oscillator's phase at random and a wider starting posture) beside the same level
untrained on the same episodes. Finished runs under --out are reused when their config is the one asked.

Bodies and why their settings:
- worm: wormsim's own body, 12 segments, water, head oscillator 2 Hz (the trainers' defaults; the
  animal swims at 1.76 Hz, Fang-Yen et al. 2010, PNAS, Table 1).
- dmc-swimmer6: dm_control's 6-link swimmer (the body of NCAP's main results), head oscillator 0.56 Hz:
  NCAP's own oscillator period, 60 control steps of 0.03 s (Bhattasali et al. 2022; nikhilxb/ncap's
  default). This body swims best at low frequency: an open-loop wave gets 0.12 BL/s at 0.5 Hz and 0.01
  at 2 Hz (docs/ncap/probe_dmc.py).
References per body, on held-out episodes like the runs': the passive body with the head oscillator
(every muscle at 0.5), the open-loop travelling wave (envs.waves.TravellingWave at the body's
oscillator frequency, 1.5 BL, full amplitude, head oscillator off) and, for the worm, the animal
(about 0.35 BL/s, Sznitman et al. 2010, Biophys. J.).
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

BODIES = {
    "worm": {"task": "swim", "n_segments": 12, "head_cpg": 2.0},
    "dmc-swimmer6": {"task": "dmc-swim", "n_segments": 6, "head_cpg": 0.56},
}


def reference_speeds(task: str, n_segments: int, head_cpg: float, duration: float, n: int = 8) -> dict:
    """Passive body with the head oscillator, and the open-loop wave, on n held-out episodes: mean BL/s."""
    import gymnasium as gym

    import wormsim  # noqa: F401  (registers the environments)
    from wormsim.envs.tasks import get_task
    from wormsim.envs.waves import TravellingWave
    spec = get_task(task)
    out = {}
    for name, cpg in (("passive body + head oscillator", head_cpg), ("open-loop wave", 0.0)):
        env = gym.make_vec(spec.env_id, num_envs=n, vectorization_mode="vector_entry_point",
                           n_segments=n_segments, duration=duration, head_cpg=cpg, **dict(spec.held_out))
        wave = TravellingWave(n_segments=n_segments, frequency=head_cpg)
        env.reset(seed=[5_000_000 + k for k in range(n)])
        m, speed = env.layout.n_muscles, np.zeros(n)
        for k in range(env.max_steps):
            act = np.full((n, m), 0.5, np.float32) if cpg else np.repeat(
                wave(np.array([k * env.control_dt])).astype(np.float32), n, axis=0)
            speed += env.step(act)[4]["speed"]
        env.close()
        out[name] = float(speed.mean() / env.max_steps)
    return out


def train(body: str, level: str, seed: int, args) -> dict:
    b = BODIES[body]
    out = Path(args.out) / f"{body}-{level}-s{seed}"
    cmd = ["wormsim", "train", "--level", level, "--task", b["task"], "--n-segments", str(b["n_segments"]),
           "--head-cpg", str(b["head_cpg"]), "--budget", str(args.budget), "--popsize", str(args.popsize),
           "--duration", str(args.duration), "--eval-episodes", str(args.eval_episodes), "--seed", str(seed),
           "--workers", str(args.workers), "--no-video", "--out", str(out)]
    summary = out / "summary.json"
    if summary.exists() and not args.fresh:
        done = json.loads(summary.read_text())
        cfg = json.loads((out / "config.json").read_text())
        if done.get("budget") == args.budget and cfg.get("popsize", args.popsize) == args.popsize:
            print("reusing", out, flush=True)
            return {**done, "command": " ".join(cmd), "reused": True}
    print(" ".join(cmd), flush=True)
    t0 = time.time()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    done = json.loads(summary.read_text())
    return {**done, "command": " ".join(cmd), "wall": time.time() - t0}


def table(rows: list[dict], refs: dict, args) -> str:
    lines = [f"| body | level | parameters | untrained (BL/s) | trained (BL/s) | seeds |",
             "|---|---|---|---|---|---|"]
    for body in BODIES:
        for level in args.levels:
            rs = [r for r in rows if r["body"] == body and r["level"] == level]
            if not rs:
                continue
            tr = np.array([r["final_speed"] for r in rs])
            un = np.array([r["untrained_speed"] for r in rs])
            lines.append(f"| {body} | {level} | {rs[0]['n_params']} | {un.mean():.3f} | {tr.mean():.3f}"
                         + (f" (sd {tr.std(ddof=1):.3f})" if len(tr) > 1 else "") + f" | {len(rs)} |")
        for name, v in refs[body].items():
            lines.append(f"| {body} | *{name}* | - | - | {v:.3f} | - |")
        if body == "worm":
            lines.append("| worm | *C. elegans swimming (Sznitman et al. 2010)* | - | - | 0.35 | - |")
    return "\n".join(lines)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--budget", type=int, default=20, help="ES generations per run")
    p.add_argument("--popsize", type=int, default=16)
    p.add_argument("--duration", type=float, default=5.0, help="seconds per training episode")
    p.add_argument("--eval-episodes", type=int, default=4)
    p.add_argument("--seeds", type=int, default=1)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--levels", nargs="+", default=["ncap", "rate", "mlp", "ncap-direct"])
    p.add_argument("--bodies", nargs="+", default=list(BODIES), choices=list(BODIES))
    p.add_argument("--out", default="runs/ncap-bench")
    p.add_argument("--doc", default="docs/ncap")
    p.add_argument("--fresh", action="store_true", help="retrain finished runs")
    args = p.parse_args(argv)
    t0 = time.time()
    refs = {body: reference_speeds(BODIES[body]["task"], BODIES[body]["n_segments"], BODIES[body]["head_cpg"],
                                   args.duration) for body in args.bodies}
    rows = []
    for body in args.bodies:
        for level in args.levels:
            for seed in range(args.seeds):
                r = train(body, level, seed, args)
                rows.append({"body": body, "level": level, "seed": seed, **{k: r.get(k) for k in (
                    "final_speed", "untrained_speed", "n_params", "generations", "wall_time", "command")}})
                print(f"  {body} {level} s{seed}: {r['untrained_speed']:.3f} -> {r['final_speed']:.3f} BL/s "
                      f"({r['n_params']} parameters)", flush=True)
    wall = time.time() - t0
    md = table(rows, refs, args)
    print(md)
    print(f"wall time {wall:.0f} s")
    from wormsim.runs import atomic_write_text
    doc = Path(args.doc)
    doc.mkdir(parents=True, exist_ok=True)
    atomic_write_text(doc / "results.json", json.dumps({"argv": sys.argv, "wall_time_s": wall, "rows": rows,
                                                        "references": refs}, indent=1))
    atomic_write_text(doc / "results.md", f"command: `{' '.join(['python'] + sys.argv)}`\n\n"
                      f"wall time: {wall:.0f} s\n\n{md}\n")


if __name__ == "__main__":
    main()
