"""Extending wormsim without touching it: a fifth level, a new task and a new null wiring, each defined
in this file alone and registered, then run through every trainer and study the shipped ones go
through (ES, PPO, BPTT, the reservoir, distillation, `wormsim plot`'s weights figure and
`wormsim experiment --quick`). If one of these needs an edit elsewhere, the registries or the level
contract have a hole.
"""
from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pytest
import torch

from wormsim.cli import main
from wormsim.envs.nonmotor import NonMotorEnv, NonMotorVectorEnv, RegressionTask
from wormsim.envs.tasks import TaskSpec, register_task, unregister_task
from wormsim.realism_levels import Brain, register_level, unregister_level
from wormsim.wiring import register_wiring, unregister_wiring


# ---- a toy level: a leaky linear-sigmoid network whose only weights are the wiring's chemical edges ----
@dataclass(frozen=True)
class ToyConfig:
    leak: float = 0.5


class ToyBrain(Brain):
    """a' = (1 - leak) a + leak * sigmoid(sum_e sign w_e a_pre + U u); parameters w (chemical edges), U."""

    name = "toy"
    state_names = ("a",)
    synaptic_params = ("w",)

    @classmethod
    def default_config(cls):
        return ToyConfig()

    def _build(self):
        edges = self.circuit.chem_edges
        self.add_param("w", np.full(len(edges), 0.5))
        self.add_param("u", self.io.initial_gains(1.0))
        self.pre, self.post = (torch.as_tensor(edges[:, k]) for k in (0, 1))
        self.sign = torch.as_tensor(self.circuit.sign[edges[:, 0]], dtype=torch.float32)
        self.ch, self.nrn = (torch.as_tensor(x) for x in np.nonzero(self.io.input_mask))
        self.a = None

    def reset(self, batch):
        self._episodes_per_member(batch)
        self.a = torch.zeros(batch, self.circuit.n)

    def step(self, inputs):
        p, n = self.population, self.circuit.n
        e = inputs.shape[0] // p
        w = torch.zeros(p, n, n)
        w[:, self.pre, self.post] = self.w.abs() * self.sign
        u = torch.zeros(p, self.io.n_inputs, n)
        u[:, self.ch, self.nrn] = self.u
        drive = torch.bmm(self.a.view(p, e, n), w) + torch.bmm(inputs.float().view(p, e, -1), u)
        leak = self.config.leak
        self.a = ((1 - leak) * self.a.view(p, e, n) + leak * torch.sigmoid(drive)).reshape(p * e, n)
        self._record(activity=self.a)
        return self.a

    def edge_weights(self):
        return {"chem": self.w[0].detach().abs().numpy(), "gap": np.zeros(len(self.circuit.gap_edges)),
                "chem_unit": "|w|", "gap_unit": "none"}

    def make_reservoir(self, scale, input_gains, input_scale=1.0):
        return {}


# ---- a toy task: echo the input of this step --------------------------------------------------------
class EchoTask(RegressionTask):
    task_names = ("x",)
    amplitude = 0.5

    def _setup(self):
        self.max_steps = 10
        self.scored = np.arange(11) < 10
        self.task_low, self.task_high = np.array([-0.5], np.float32), np.array([0.5], np.float32)
        self._alloc()

    def _reset_task(self, envs, rngs):
        self.targets[envs, :10] = np.stack([rng.uniform(-0.5, 0.5, 10) for rng in rngs])
        self._targets_ready(envs)

    def _task_inputs(self, t):
        return self.targets[self._rows, t][:, None]


class EchoEnv(NonMotorEnv):
    task_class = EchoTask


class EchoVectorEnv(NonMotorVectorEnv):
    task_class = EchoTask


# ---- a toy null wiring: every chemical edge reversed ------------------------------------------------
def reversed_edges(counts, directed, rng):
    pre, post = np.nonzero(counts)
    if not directed:
        return [(int(i), int(j)) for i, j in zip(pre, post) if i < j]
    return [(int(j), int(i)) for i, j in zip(pre, post) if i != j]


@pytest.fixture(autouse=True, scope="module")
def toys():
    register_level("toy", ToyBrain)
    register_task(TaskSpec("echo", "wormsim_test/Echo-v0", has_body=False, metric="final_return",
                           metric_label="echo R^2, unclipped", high=1.0, chance=0.0, score="final_score",
                           readout="regression"), entry_point=EchoEnv, vector_entry_point=EchoVectorEnv)
    register_wiring("reversed", reversed_edges)
    yield
    unregister_level("toy")
    unregister_task("echo")
    unregister_wiring("reversed")


def train(tmp_path, *args) -> dict:
    out = tmp_path / "run"
    assert main(["train", *args, "--workers", "1", "--no-video", "--out", str(out)]) == 0
    return json.loads((out / "summary.json").read_text())


SHORT = ["--budget", "2", "--popsize", "4", "--duration", "0.2", "--eval-episodes", "1"]


def test_toy_level_trains_by_es_on_swim_with_the_toy_wiring(tmp_path):
    s = train(tmp_path, "--level", "toy", "--wiring", "reversed", *SHORT)
    assert np.isfinite(s["final_speed"]) and s["n_params"] > 0


def test_toy_level_and_wiring_in_worker_processes(tmp_path):
    """Workers are fresh processes: they learn the parent's run-time registrations (wormsim.extensions)."""
    out = tmp_path / "run"
    assert main(["train", "--level", "toy", "--wiring", "reversed", *SHORT, "--workers", "2", "--no-video",
                 "--out", str(out)]) == 0
    assert np.isfinite(json.loads((out / "summary.json").read_text())["final_speed"])


def test_toy_level_by_ppo_and_bptt(tmp_path):
    s = train(tmp_path / "ppo", "--level", "toy", "--algo", "ppo", "--budget", "1", "--duration", "0.2",
              "--eval-episodes", "1")
    assert np.isfinite(s["final_speed"])
    s = train(tmp_path / "bptt", "--level", "toy", "--algo", "bptt", "--task", "memory", "--budget", "2")
    assert 0.0 <= s["final_score"] <= 1.0


def test_toy_task_by_every_trainer(tmp_path):
    for name, args in (("es", ["--budget", "2", "--popsize", "4"]), ("bptt", ["--algo", "bptt", "--budget", "3"]),
                       ("ridge", ["--train", "readout"])):
        s = train(tmp_path / name, "--task", "echo", "--wiring", "reversed", *args)
        assert 0.0 <= s["final_score"] <= 1.0, name


def test_toy_level_as_reservoir(tmp_path):
    s = train(tmp_path / "ridge", "--level", "toy", "--task", "echo", "--train", "readout")
    assert s["train"] == "readout" and s["reservoir_knob"] is None
    s = train(tmp_path / "swim", "--level", "toy", "--train", "readout", *SHORT)
    assert np.isfinite(s["final_speed"])


def test_what_the_toy_level_cannot_do_is_said():
    """The toy level declares no reservoir knob; asking the reservoir for one is refused by name."""
    from wormsim.reservoir import fit_readout
    with pytest.raises(ValueError, match="toy reservoir has no scale"):
        fit_readout("toy", "connectome", "echo", scale=0.5)


def test_toy_level_in_wormsim_plot(tmp_path):
    train(tmp_path, "--level", "toy", "--wiring", "reversed", *SHORT)
    assert main(["plot", str(tmp_path / "run"), "--out", str(tmp_path / "fig")]) == 0
    assert (tmp_path / "fig" / "weights.png").stat().st_size > 10_000


def test_toys_in_the_experiment(tmp_path):
    """The toy level, task and wiring in `wormsim experiment --quick`: cells, trainers, tables and the
    report come from the registries (the toy task has a readout; the toy level is differentiable, so it
    gets weights, readout and bptt cells; the toy level on swim is trained by ES above)."""
    out = tmp_path / "grid"
    assert main(["experiment", "--quick", "--levels", "toy", "--tasks", "echo", "--wirings", "connectome",
                 "reversed", "--train", "weights", "readout", "bptt", "--bptt-budget", "2", "--out", str(out)]) == 0
    report = (out / "report.md").read_text()
    assert "toy" in report and "echo" in report and "reversed" in report
    cells = (out / "cells.csv").read_text()
    for cell in ("toy", "echo", "reversed", "bptt", "readout"):
        assert cell in cells, cell


def test_toy_level_as_distillation_student_and_teacher(tmp_path):
    """The toy level learns a rate teacher on the toy wiring (its synapses perturbed for the plasticity
    test through its declared synaptic_params), and is itself a teacher for a rate student."""
    small = ["--epochs", "3", "--n-train", "1", "--n-test", "1", "--duration", "0.3", "--replays", "2",
             "--warmup", "0.1", "--data-sizes", "1", "--unseen-drives", "0.2,0.7", "--finetune-epochs", "1"]
    assert main(["distill", "--teacher-level", "rate", "--student", "toy", "--wiring", "reversed",
                 "--perturb", "0.2", *small, "--out", str(tmp_path / "student")]) == 0
    m = json.loads((tmp_path / "student" / "metrics.json").read_text())
    assert np.isfinite(m["heldout"]["muscle"]["pooled"])
    assert main(["distill", "--teacher-level", "toy", "--student", "rate", "--perturb", "0.2", *small,
                 "--out", str(tmp_path / "teacher")]) == 0
    assert (tmp_path / "teacher" / "report.md").is_file()
