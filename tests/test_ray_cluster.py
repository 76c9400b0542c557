"""The grid on a Ray cluster of several nodes: every cell's run lands under the driver's --out, whichever node
trained it (a node trains in its own staging directory: it need not share the driver's disk)."""
import csv
import json

import pytest

import wormsim.experiment as ex


@pytest.mark.slow                       # starts a three-node Ray cluster (about a minute on 2 cores)
def test_a_grid_on_a_multi_node_cluster_lands_under_the_drivers_out(tmp_path):
    ray = pytest.importorskip("ray", reason="the ray extra is not installed")
    from ray.cluster_utils import Cluster
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0})   # the head runs no cell
    workers = [cluster.add_node(num_cpus=1) for _ in range(2)]
    cluster.wait_for_nodes()
    cfg = ex.ExperimentConfig(levels=["rate"], wirings=["connectome", "shuffled"], tasks=["memory"],
                              trains=["weights"], seeds=2, budget=1, popsize=4, nonmotor_episodes=1,
                              eval_episodes=1, val_episodes=1, stop="budget", tune=False, nonmotor_gradient=False,
                              probes=False, backend="ray", ray_address=cluster.address, workers=2,
                              out=str(tmp_path / "out"))
    try:
        ex.run_experiment(cfg, progress=False)
    finally:
        ray.shutdown()
        cluster.shutdown()
    worker_ids = {n.node_id for n in workers}
    cells = list(ex.cells(cfg))
    assert len(cells) == 4
    for cell in cells:
        path = ex.cell_dir(cfg, *cell)
        for name in ("config.json", "metrics.jsonl", "summary.json", "policy.npz", "circuit.json"):
            assert (path / name).is_file(), (path, name)
        assert not (path / "checkpoint.pkl").exists()          # checkpoints stay where the cell ran
        summary = json.loads((path / "summary.json").read_text())
        assert summary["trained_on"] in worker_ids
        assert summary["policy"] == str((path / "policy.npz").resolve())   # its paths moved to --out
        assert json.loads((path / "config.json").read_text())["config"]["out"] == str(path.resolve())
        assert ex.cell_state(cfg, cell) == "done"               # the driver sees a finished cell
    with open(tmp_path / "out" / "cells.csv") as f:
        assert [r["status"] for r in csv.DictReader(f)] == ["done"] * 4


def test_a_cell_shipped_back_from_a_node_lands_under_out_with_its_paths_moved(tmp_path):
    """What the driver does with a Ray task's result (no Ray needed): the files go under --out, the paths
    the node wrote in them point there, the node is recorded."""
    from wormsim.experiment.grid import ship_back
    cfg = ex.ExperimentConfig(levels=["rate"], wirings=["connectome"], tasks=["memory"], out=str(tmp_path / "out"))
    cell = ("memory", "rate", "connectome", "weights", 0)
    staged = "/node/tmp/wormsim-ray/abc/runs/memory/rate-connectome-s0"
    files = {"summary.json": json.dumps({"policy": f"{staged}/policy.npz", "final_return": 0.5}).encode(),
             "config.json": json.dumps({"config": {"out": staged}}).encode(),
             "metrics.jsonl": b'{"iteration": 0}\n', "policy.npz": b"\x00\x01binary"}
    summary = ship_back(cfg, cell, files, "node-7", staged)
    path = ex.cell_dir(cfg, *cell)
    assert summary["trained_on"] == "node-7" and summary["final_return"] == 0.5
    assert summary["policy"] == str(path.resolve() / "policy.npz")
    assert json.loads((path / "config.json").read_text())["config"]["out"] == str(path.resolve())
    assert (path / "policy.npz").read_bytes() == b"\x00\x01binary"
    assert json.loads((path / "summary.json").read_text())["trained_on"] == "node-7"
