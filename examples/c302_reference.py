"""Reference voltage traces from OpenWorm's own model: c302 level C1 of wormsim's 81-cell motor circuit,
run in NEURON, saved as small npz files that tests/test_c302_reference.py replays in wormsim's Brian2
conductance level (parameter set "c302-C1").

Not part of the default install. Install the extra and run (about 1-2 min per scenario on one core):

    pip install -e ".[c302]"          # c302 0.12.1, pyneuroml, neuron; jNeuroML needs Java on PATH
    nice -n 10 python examples/c302_reference.py [--out realism_levels/golden/c302] [--scenario quiet]

What it does, per scenario (``SCENARIOS`` below):
1. c302.generate() builds the network at level C1 (c302/parameters_C1.py: level C's single-compartment
   cells with k_slow, k_fast and ca_boyle channels and a Ca pool, graded synapses, gap junctions) from
   cect's Cook et al. 2019 hermaphrodite reader, restricted to wormsim's 81 cells
   (wormsim.connectome.load_circuit("cook2019").names), no muscles;
2. pyNeuroML's jNeuroML exports it to NEURON and runs it at dt = 0.005 ms (c302's NEURON export of the
   active regime diverges to NaN at dt >= 0.01 ms; see docs/c302/README.md);
3. the voltages of every cell, sampled every ``SAMPLE_MS`` (packed as 1 uV steps,
   wormsim.reference.c302.pack_voltage), and the synapse and gap-junction weights
   c302 wrote into its network file (so the test can check both sides wired the same circuit) go to
   ``<out>/<scenario>.npz``.

Two things had to be worked around in c302 0.12.1 with cect 0.3.5 (docs/c302/README.md has minimal
reproductions):
- c302 calls the reader's ``read_data(include_nonconnected_cells=True)``; cect 0.3.5's
  Cook2019DataReader.read_data() takes no argument (TypeError). A shim reader forwards the call.
- cect's Cook 2019 reader labels every chemical synapse "Generic_CS" (no transmitters), and c302 makes a
  synapse inhibitory only if "GABA" is in its class, so every synapse would be excitatory. The shim
  labels the synapses of wormsim's inhibitory cells (Circuit.sign < 0: DD and VD, the class rule of
  wormsim.connectome) "GABA", so both models use the same sign rule.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
import types
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "realism_levels" / "golden" / "c302"
SAMPLE_MS = 1.0          # saved sampling interval of the voltages (NEURON integrates at DT_MS)
DT_MS = 0.005            # NEURON step: the active regime diverges to NaN at >= 0.01 ms
SHIM = "cect_c302_shim"  # c302 imports a reader module by name and needs "cect" in that name

# name -> (cells stimulated, amplitude pA, delay ms, duration ms, simulated ms, what it probes).
# c302 stimulates with its one "unphysiological_offset_current" pulse, the same into every listed cell.
SCENARIOS: dict[str, tuple[tuple[str, ...], float, float, float, float, str]] = {
    "quiet": (("AVBL", "AVBR"), 2.0, 200.0, 500.0, 1000.0,
              "2 pA into AVBL/AVBR: every cell stays below the release midpoint; membrane and gap "
              "junctions only"),
    "avb_drive": (("AVBL", "AVBR"), 15.0, 100.0, 600.0, 1000.0,
                  "15 pA into AVBL/AVBR: the command cells depolarise past c302's release midpoint "
                  "and drive the B-type motor neurons through graded synapses and gap junctions"),
    "motor_drive": (("DB1", "DB2", "DB3", "DB4", "DB5", "DB6", "DB7", "VB1", "VB2", "VB3", "VB4",
                     "VB5", "VB6", "VB7", "VB8", "VB9", "VB10", "VB11", "DA1", "DA2", "DA3", "DA4",
                     "DA5", "VA1", "VA2", "VA3", "VA4", "VA5"), 8.0, 100.0, 600.0, 1000.0,
                    "8 pA into the B- and anterior A-type motor neurons: excitatory and GABAergic "
                    "(DD/VD) synapses active across the cord, Ca current and inactivation engaged"),
}


def install_shim(inhibitory: set[str]) -> None:
    """Register a reader module c302 can import by name (see the module docstring for why)."""
    from cect.readers import Cook2019HermReader

    class Reader:
        def __init__(self):
            self._inner = Cook2019HermReader.get_instance()   # from cect's bundled spreadsheet

        def read_data(self, include_nonconnected_cells: bool = True):  # c302 passes this; cect does not take it
            cells, conns = self._inner.read_data()
            for c in conns:
                if c.synclass == "Generic_CS" and c.pre_cell in inhibitory:
                    c.synclass = "GABA"
            return cells, conns

        def __getattr__(self, name):
            return getattr(self._inner, name)

    mod = types.ModuleType(SHIM)
    mod.get_instance = Reader
    sys.modules[SHIM] = mod


def read_weights(nml_file: Path, names: list[str]) -> dict[str, np.ndarray]:
    """The chemical and gap weights (synapse counts) c302 wrote, as (N, N) matrices in wormsim's cell
    order: chem[pre, post]; gap[a, b] summed over the junctions listed either way."""
    import neuroml.loaders as loaders
    doc = loaders.read_neuroml2_file(str(nml_file))
    net = doc.networks[0]
    idx = {n: i for i, n in enumerate(names)}
    chem = np.zeros((len(names), len(names)))
    inh = np.zeros_like(chem)
    gap = np.zeros_like(chem)
    for p in net.continuous_projections:
        for c in p.continuous_connection_instance_ws:
            a, b = idx[p.presynaptic_population], idx[p.postsynaptic_population]
            chem[a, b] += float(c.weight)
            if "inh" in c.post_component:
                inh[a, b] += float(c.weight)
    for p in net.electrical_projections:
        for c in p.electrical_connection_instance_ws:
            a, b = idx[p.presynaptic_population], idx[p.postsynaptic_population]
            gap[a, b] += float(c.weight)
    return {"c302_chem": chem, "c302_chem_inh": inh, "c302_gap": gap}


def generate_and_run(name: str, names: list[str], workdir: Path) -> dict[str, np.ndarray]:
    import c302
    from c302.parameters_C1 import ParameterisedModel
    from pyneuroml import pynml

    cells, amp, delay, dur, sim_ms, about = SCENARIOS[name]
    params = ParameterisedModel()
    net_id = f"c302_C1_wormsim_{name}"
    overrides = {"unphysiological_offset_current": f"{amp}pA",
                 "unphysiological_offset_current_del": f"{delay}ms",
                 "unphysiological_offset_current_dur": f"{dur}ms"}
    c302.generate(net_id, params, data_reader=SHIM, cells=list(names), cells_to_plot=list(names),
                  cells_to_stimulate=list(cells), muscles_to_include=[], duration=sim_ms, dt=DT_MS,
                  param_overrides=overrides, target_directory=str(workdir), verbose=False)
    lems = workdir / f"LEMS_{net_id}.xml"
    t0 = time.time()
    traces = pynml.run_lems_with_jneuroml_neuron(str(lems), nogui=True, load_saved_data=True,
                                                 exec_in_dir=str(workdir), max_memory="2G",
                                                 verbose=False)
    wall = time.time() - t0
    t_ms = np.asarray(traces["t"]) * 1e3
    grid = np.arange(0.0, sim_ms + 1e-9, SAMPLE_MS)
    v = np.zeros((len(grid), len(names)), np.float32)
    for k, cell in enumerate(names):
        key = next(key for key in traces if key.startswith(f"{cell}/0/"))
        v[:, k] = np.interp(grid, t_ms, np.asarray(traces[key]) * 1e3)
    if not np.isfinite(v).all():
        raise SystemExit(f"{name}: c302's NEURON run diverged (NaN) at dt = {DT_MS} ms; lower DT_MS")
    from wormsim.reference.c302 import pack_voltage
    out = {"t_ms": grid.astype(np.float32), "voltage_uV_steps": pack_voltage(v), "names": np.array(names),
           "stim_cells": np.array(cells), "stim_pA": np.float64(amp), "stim_delay_ms": np.float64(delay),
           "stim_duration_ms": np.float64(dur), "dt_ms": np.float64(DT_MS),
           "about": np.array(about), "c302_version": np.array(c302.__version__),
           "simulator": np.array("NEURON via jNeuroML (pyNeuroML %s)" % __import__("pyneuroml").__version__),
           "wall_s": np.float64(wall)}
    out.update({k: w.astype(np.int16) for k, w in read_weights(workdir / f"{net_id}.net.nml", names).items()})
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--scenario", nargs="*", default=list(SCENARIOS), choices=list(SCENARIOS))
    ap.add_argument("--keep", action="store_true", help="keep the generated NeuroML/NEURON files")
    args = ap.parse_args()
    try:
        import c302  # noqa: F401
        import neuron  # noqa: F401
        import pyneuroml  # noqa: F401
    except ImportError as exc:
        raise SystemExit(f"{exc.name} is missing: pip install -e \".[c302]\" installs c302, pyneuroml "
                         f"and neuron") from None
    if shutil.which("java") is None:
        raise SystemExit("jNeuroML needs Java: install a JRE (e.g. apt-get install default-jre)")

    # jNeuroML finds NEURON through NEURON_HOME (the prefix whose bin/ holds nrnivmodl); pip's neuron
    # puts nrnivmodl next to this Python
    nrnivmodl = shutil.which("nrnivmodl") or str(Path(sys.executable).parent / "nrnivmodl")
    os.environ.setdefault("NEURON_HOME", str(Path(nrnivmodl).resolve().parent.parent))

    from wormsim.connectome import load_circuit
    from wormsim.reference.c302 import unpack_voltage
    from wormsim.runs import atomic_write_bytes
    circuit = load_circuit("cook2019")
    names = list(circuit.names)
    install_shim({n for n, s in zip(names, circuit.sign) if s < 0})
    args.out.mkdir(parents=True, exist_ok=True)
    for name in args.scenario:
        work = Path(tempfile.mkdtemp(prefix=f"c302_{name}_"))
        try:
            cwd = os.getcwd()
            os.chdir(work)   # c302 and jNeuroML write some files into the working directory
            try:
                data = generate_and_run(name, names, work)
            finally:
                os.chdir(cwd)
            import io
            buf = io.BytesIO()
            np.savez_compressed(buf, **data)
            atomic_write_bytes(args.out / f"{name}.npz", buf.getvalue())
            v = unpack_voltage(data["voltage_uV_steps"])
            print(f"{name}: {v.shape[1]} cells, {float(data['t_ms'][-1]):.0f} ms, NEURON wall "
                  f"{float(data['wall_s']):.1f} s, V in [{v.min():.2f}, {v.max():.2f}] mV "
                  f"-> {args.out / (name + '.npz')} ({len(buf.getvalue()) / 1e3:.0f} kB)")
        finally:
            if args.keep:
                print(f"kept {work}")
            else:
                shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
