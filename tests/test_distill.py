"""Functional distillation (wormsim.distill): a tiny rate teacher, short sequences, few epochs."""
import json

import numpy as np
import pytest
import torch

from wormsim.distill import (Bodies, _make_setup, closed_loop, distill, open_loop, r2_per_unit,
                             train_student, undulation)

TINY = dict(teacher_level="rate", teacher_perturb=0.3, n_train=2, n_test=1, duration=0.4, epochs=25,
            data_sizes=(1, 2), perturb=(0.2,), unseen_drives=((0.0, 1.0),), seed=0)


@pytest.fixture(scope="module")
def distilled(tmp_path_factory):
    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("distill") / "report"
    metrics = distill(None, student="rate", wiring="connectome", out=out, command="wormsim distill test",
                      **TINY)
    return out, metrics


def test_dataset_shapes_and_loss_decreases(circuit):
    torch.set_num_threads(1)
    bodies = Bodies(n_segments=12, duration=0.2, reset_noise=0.3)
    try:
        env = bodies.get(2, "water")
        teacher = _make_setup("rate", circuit, env.layout, 0.02, {})
        rng = np.random.default_rng(0)
        data = closed_loop(teacher, env, np.array([[1.0, 0.0], [0.5, 0.3]]), [1, 2], 0.05, rng)
        t = 10
        assert data["u"].shape == (t, 2, 13)
        assert data["activity"].shape == (t, 2, circuit.n)
        assert data["muscles"].shape == (t, 2, 22)
        assert data["curvature"].shape == (t, 2, 11)
        assert np.all((data["activity"] >= 0) & (data["activity"] <= 1))
        # the drive channels carry each row's drive (plus noise)
        assert abs(data["u"][:, 0, 11].mean() - 1.0) < 0.1 and abs(data["u"][:, 1, 12].mean() - 0.3) < 0.1
        # open loop on the recorded inputs reproduces the closed-loop activity exactly (same brain)
        again = open_loop(teacher, data["u"])
        np.testing.assert_allclose(again["activity"], data["activity"], atol=1e-5)
        np.testing.assert_allclose(again["muscles"], data["muscles"], atol=1e-5)
        # a student with other biases learns to reproduce it
        with torch.no_grad():
            teacher.brain.bias.add_(1.0)
        data = closed_loop(teacher, env, np.array([[1.0, 0.0], [0.5, 0.3]]), [1, 2], 0.05, rng)
        student = _make_setup("rate", circuit, env.layout, 0.02, {})
        losses = train_student(student, data, epochs=15, lr=0.05, muscle_weight=1.0, seed=0, data_init=False)
        assert losses[-1] < 0.5 * losses[0]
    finally:
        bodies.close()


def test_r2_and_undulation():
    rng = np.random.default_rng(0)
    y = rng.normal(size=(50, 2, 3))
    y[..., 2] = 0.5                                           # a flat unit: undefined
    r2 = r2_per_unit(y, y + 0.1 * rng.normal(size=y.shape))
    assert r2[0] > 0.95 and r2[1] > 0.95 and np.isnan(r2[2])
    t = np.arange(200) * 0.02
    curv = np.zeros((200, 1, 11))
    curv[:, 0, 5] = 3 * np.sin(2 * np.pi * 0.8 * t)
    freq, amp = undulation(curv, 0.02)
    assert abs(freq[0] - 0.8) < 0.1 and abs(amp[0] - 3) < 0.3


def test_distill_rate_teacher_reaches_high_r2(distilled):
    out, m = distilled
    h = m["heldout"]
    assert h["neuron_r2"]["median"] > 0.8
    assert h["muscle_r2"]["median"] > 0.8
    assert m["training"]["loss_last"] < m["training"]["loss_first"]
    assert h["neuron_r2"]["median"] > h["untrained_student_neuron_r2"]["median"]
    assert [r["n_sequences"] for r in m["data_efficiency"]] == [1, 2]
    assert {r["medium"] for r in m["generalisation"]} == {"water", "agar"}
    assert len(m["plasticity"]) == 1 and m["plasticity"][0]["student_neuron_r2"] is not None
    assert m["decoding"]["teacher_r2"] is not None and m["decoding"]["student_r2"] is not None
    assert len(h["neuron_r2_per_neuron"]) == m["data"]["n_neurons"]


def test_report_and_figures_written(distilled):
    out, m = distilled
    for name in ("report.md", "metrics.json", "dataset.npz", "r2_per_neuron.png", "data_efficiency.png",
                 "gait_comparison.png"):
        assert (out / name).is_file() and (out / name).stat().st_size > 0, name
    assert (out / "r2_per_neuron.png").read_bytes()[:4] == b"\x89PNG"
    text = (out / "report.md").read_text()
    assert "wormsim distill test" in text and "Data efficiency" in text and "agar" in text
    assert json.loads((out / "metrics.json").read_text())["heldout"]["neuron_r2"] == m["heldout"]["neuron_r2"]
    assert not list(out.glob("*.tmp*"))
    with np.load(out / "dataset.npz") as z:
        assert z["train_u"].shape[:2] == (20, 2) and z["test_activity"].shape[1] == 1


def test_deterministic(distilled, tmp_path):
    _, m = distilled
    again = distill(None, student="rate", out=tmp_path / "again", **{**TINY, "data_sizes": (2,), "perturb": (),
                                                                      "unseen_drives": ()})
    assert again["heldout"]["neuron_r2"] == m["heldout"]["neuron_r2"]
    assert again["training"]["losses"] == m["training"]["losses"]


@pytest.mark.parametrize("kwargs, message", [
    (dict(teacher_run="/nonexistent/run"), "does not exist"),
    (dict(teacher_run=None, student="conductance"), "conductance is not differentiable; choose rate, spiking or mlp"),
    (dict(teacher_run=None, student="lstm"), "unknown student level"),
    (dict(teacher_run=None, wiring="nonsense"), "unknown wiring"),
    (dict(teacher_run=None, teacher_level="nonsense"), "unknown teacher level"),
    (dict(teacher_run=None, n_train=0), "n_train"),
])
def test_bad_inputs(tmp_path, kwargs, message):
    with pytest.raises(ValueError, match=message):
        distill(out=tmp_path / "x", **kwargs)


def test_not_a_run(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="not a wormsim run"):
        distill(tmp_path / "empty", out=tmp_path / "x")


def test_distill_from_the_command_line(tmp_path, capsys):
    from wormsim.cli import main
    out = tmp_path / "d"
    assert main(["distill", "--teacher-level", "rate", "--epochs", "3", "--n-train", "1", "--n-test", "1",
                 "--duration", "0.3", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "held-out median R^2" in printed and (out / "report.md").is_file()
    assert main(["distill", "--teacher", str(tmp_path / "missing"), "--out", str(out)]) == 2
