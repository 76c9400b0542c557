"""Replay a run in water at other control steps (the interval at which the body and the brain exchange
curvature and muscle activity; 20 ms in training): does the rhythm's frequency follow the loop's latency?

    python docs/body/replay_control_dt.py RUN 0.01 0.04      # 1 episode of 5 s per control step
"""
import dataclasses
import sys

from wormsim.config import TrainConfig
from wormsim.gait import measure, spec_at
from wormsim.runs import Run


def main(argv: list[str]) -> None:
    run = Run.open(argv[0])
    cfg = TrainConfig.from_dict(run.config)
    params, _ = run.load_policy()
    base = cfg.eval_spec(episodes=1)
    for cdt in (float(x) for x in argv[1:]):
        spec = spec_at(base, "water", 1.0, 5.0, 0.0)
        spec = dataclasses.replace(spec, env_kwargs=tuple(dict(spec.env_kwargs, control_dt=cdt).items()))
        m = measure(spec, params)
        print(f"control_dt {cdt * 1e3:g} ms: speed {m['speed']:.3f} freq {m['frequency']:.2f} Hz "
              f"wl {m['wavelength']:.2f} amp {m['amplitude']:.2f} {m['direction']}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
