"""Seconds per BPTT gradient step of the spiking level on the tasks without a body, before and after
issue 17's faster step, measured in one run.

    python benchmarks/spiking_bptt_speed.py [--tasks memory digits] [--repeats 7] [--num-envs 32]
                                            [--no-validation]

"old" is the step as it was up to commit baa1b3a (one ``snn.Leaky`` call per internal step, the
synaptic, gap and leak terms formed anew at every internal step, the output filter updated at every
internal step), kept verbatim below as ``OldSpikingBrain.step``; "new" is today's
``SpikingBrain.step``. Both run the BPTT trainer's own gradient step (wormsim.train.bptt: ``num_envs``
fresh episodes with the graph, backward, gradient clipping, Adam) on the Cook 2019 circuit, from the same
parameters and the same episode seeds, one thread (the trainer's setting). Old and new steps alternate,
so load from other processes (this machine runs the experiment grid) falls on both alike; the printed
ratio is old / new per pair, median over the pairs, and the ratio of the two best times, for wall time
and for this process's CPU time (the steady figure on a shared machine: other processes take turns on
the cores, which stretches wall time but not the CPU time a step needs). No absolute
time is asserted anywhere: tests/test_spiking_reference.py checks that the new step is the same model.

Also timed, the same way: one validation check of the plateau rule (its 4 fixed episodes without a
graph, through wormsim.rollout's Evaluator, the old step patched in for "old"), which the trainer runs
every --val-every (5) gradient steps.

Measured 2026-12-02 on the 2-core machine while the converged experiment grid ran on it (load about
4.7), ``nice -n 10 python benchmarks/spiking_bptt_speed.py --repeats 7``, old/new median of 7 pairs:

    task     gradient step (wall, CPU)   validation check (wall, CPU)
    memory   2.38x, 2.28x                3.43x, 3.31x
    digits   2.60x, 2.59x                3.45x, 3.55x

(CPU s per gradient step, old -> new: memory 0.375 -> 0.160, digits 1.108 -> 0.420; wall time under
that load is about 2.5x the CPU time.)

The first pair also prints the largest relative difference between the two paths' losses and
gradients (float rounding only: the new step sums the same terms in another order). Over a whole
digits episode rounding can put a potential on the other side of the threshold: in 32 episodes of 60
control steps, 2 episodes first differ by a spike at control step 13 and then follow their own
trajectory (356 of 155,520 neuron-steps differ), so the digits loss agrees to 6 digits and the
gradients to 2.5e-3; memory's 25 control steps agree to 2e-5, as in tests/test_spiking_reference.py.
"""
from __future__ import annotations

import argparse
import math
import statistics
import time
from types import SimpleNamespace

import torch
from torch import nn

from wormsim.config import TrainConfig
from wormsim.interface import Agent
from wormsim.realism_levels.spiking import SpikingBrain
from wormsim.train.bptt import BPTTConfig, _Setup, episode_returns


class OldSpikingBrain(SpikingBrain):
    """The spiking level with its step as of commit baa1b3a (verbatim)."""

    def step(self, inputs: torch.Tensor) -> torch.Tensor:
        if self.v is None:
            raise RuntimeError("call reset(batch) before step()")
        cfg = self.config
        batch, n, p = self.v.shape[0], self.circuit.n, self.population
        if inputs.shape != (batch, self.io.n_inputs):
            raise ValueError(f"inputs must have shape ({batch}, {self.io.n_inputs}), "
                             f"got {tuple(inputs.shape)}")
        e = batch // p
        w, lap, u = self._matrices()
        jump = 1.0 / (cfg.tau_syn * cfg.rate_scale)
        drive = torch.bmm(inputs.to(self.device, torch.float32).view(p, e, -1), u) + self.bias.unsqueeze(1)
        leak = 1.0 - torch.exp(-cfg.dt / self.tau()).unsqueeze(1)          # (P, 1, N)
        syn_decay = math.exp(-cfg.dt / cfg.tau_syn)
        rate_decay = math.exp(-cfg.dt / cfg.tau_rate)

        # spk: the previous internal step's spikes (kept across control steps, with their graph).
        v, i_syn, x, spk = (t.view(p, e, n) for t in (self.v, self.i_syn, self.x, self.spk))
        count = torch.zeros_like(v)
        for _ in range(self.n_substeps):
            i_syn = i_syn * syn_decay + torch.bmm(spk, w) * jump
            i_tot = torch.baddbmm(i_syn + drive, v, lap)
            spk, v = self.lif(leak * (i_tot - v), v)
            x = x * rate_decay + spk * (1.0 - rate_decay)
            count = count + spk
        self.v, self.i_syn, self.x, self.spk = (t.reshape(batch, n) for t in (v, i_syn, x, spk))
        a = torch.tanh(self.x / (cfg.dt * cfg.rate_scale))
        self._record(activity=a, spikes=count.reshape(batch, n), membrane=self.v)
        return a


def setups(task: str, num_envs: int) -> dict[str, SimpleNamespace]:
    """The trainer's set-up twice, sharing environment, task and start parameters: "new" is the
    trainer's own brain, "old" an OldSpikingBrain with the same parameters."""
    new = _Setup(TrainConfig(level="spiking", task=task, algo="bptt", seed=0), BPTTConfig(num_envs=num_envs))
    b = new.brain
    old_brain = OldSpikingBrain(b.circuit, b.io, b.config, population=1)
    old_brain.load_state_dict(b.state_dict())
    out = {}
    for name, brain in (("old", old_brain), ("new", b)):
        params = list(brain.parameters())
        out[name] = SimpleNamespace(env=new.env, task=new.task, agent=Agent(brain, new.interface),
                                    params=params, optimizer=torch.optim.Adam(params, lr=3e-2))
    return out


def gradient_step(s: SimpleNamespace, seed: int) -> tuple[tuple[float, float], float, list[torch.Tensor]]:
    """One BPTT iteration as wormsim.train.bptt._train runs it; returns ((wall s, CPU s), loss,
    gradients)."""
    t0, c0 = time.perf_counter(), time.process_time()
    returns, *_ = episode_returns(s, seed)
    loss = -returns.mean()
    s.optimizer.zero_grad()
    loss.backward()
    grads = [p.grad.clone() for p in s.params]
    nn.utils.clip_grad_norm_(s.params, 1.0)
    s.optimizer.step()
    return (time.perf_counter() - t0, time.process_time() - c0), loss.item(), grads


def validation_check(task: str, path: str, seed: int) -> tuple[float, float]:
    """One validation check of the plateau rule (wormsim.train.plateau.Validation.score: the trainer's
    ``val_episodes`` fixed episodes, no graph) with the ``path`` ("old" or "new") step; (wall s, CPU s)."""
    from wormsim.rollout import Evaluator

    config = TrainConfig(level="spiking", task=task, algo="bptt", seed=0)
    evaluator = Evaluator(config.eval_spec(episodes=config.val_episodes))
    x0 = evaluator.initial_params()
    new_step = SpikingBrain.step
    t0, c0 = time.perf_counter(), time.process_time()
    try:
        if path == "old":
            SpikingBrain.step = OldSpikingBrain.step
        evaluator.evaluate(x0[None], seed=seed)
    finally:
        SpikingBrain.step = new_step
    return time.perf_counter() - t0, time.process_time() - c0


def report(task: str, what: str, times: dict[str, list[tuple[float, float]]]) -> None:
    for i, clock in enumerate(("wall", "CPU")):
        old, new = ([t[i] for t in times[k]] for k in ("old", "new"))
        ratios = [o / n for o, n in zip(old, new)]
        print(f"{task}: {clock} s per {what}, old median {statistics.median(old):.3f} (best "
              f"{min(old):.3f}), new median {statistics.median(new):.3f} (best {min(new):.3f}); old/new: "
              f"median of pairs {statistics.median(ratios):.2f}x, best vs best {min(old) / min(new):.2f}x")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tasks", nargs="+", default=["memory", "digits"])
    ap.add_argument("--repeats", type=int, default=7, help="old/new pairs per task (after one warm-up pair)")
    ap.add_argument("--num-envs", type=int, default=32, help="episodes per gradient step (the trainer's 32)")
    ap.add_argument("--validation", action=argparse.BooleanOptionalAction, default=True,
                    help="also time a validation check (the plateau rule's, every --val-every steps)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    print(f"torch {torch.__version__}, 1 thread, {args.num_envs} episodes per gradient step")
    for task in args.tasks:
        s = setups(task, args.num_envs)
        times = {"old": [], "new": []}
        for r in range(args.repeats + 1):
            res = {name: gradient_step(s[name], seed=1000 + r) for name in (("old", "new") if r % 2 else ("new", "old"))}
            if r == 0:
                lo, ln = res["old"][1], res["new"][1]
                gd = max(float((go - gn).abs().max() / go.abs().max().clamp_min(1e-30))
                         for go, gn in zip(res["old"][2], res["new"][2]))
                print(f"{task}: loss old {lo:.6f} new {ln:.6f}; largest relative gradient difference {gd:.1e}")
                continue                                                # warm-up pair: not timed
            for name in res:
                times[name].append(res[name][0])
        report(task, "gradient step", times)
        if args.validation:
            checks = {"old": [], "new": []}
            for r in range(args.repeats + 1):
                for name in (("old", "new") if r % 2 else ("new", "old")):
                    t = validation_check(task, name, seed=7)
                    if r:
                        checks[name].append(t)
            report(task, "validation check", checks)
        s["new"].env.close()


if __name__ == "__main__":
    main()
