"""Load the C. elegans motor circuit from a published connectome, through cect (OpenWorm's toolbox).

    circuit = load_circuit("cook2019")        # Cook et al. 2019, adult hermaphrodite (default)
    circuit = load_circuit("openworm")        # with transmitters: signs from GABA, not the class rule

The motor circuit is the 71 ventral cord motor neurons (cect.Cells.VENTRAL_CORD_MOTORNEURONS) and the
command interneurons AVA, AVB, AVD, AVE and PVC (left and right), as far as a dataset has them. Head
motor neurons are out of scope for the swimmer.

    circuit = load_circuit("cook2019", circuit="motor+head")   # opt-in: the steering circuit too

``circuit="motor+head"`` (``CIRCUITS``) adds the head's steering circuit: the head motor neurons SMD, RMD,
SMB, RIV and the GABAergic RME, which bend the head and neck (Gray, Hill & Bargmann 2005, PNAS: SMD,
RMD, SMB, RIV set the amplitude and direction of head swings and turns; Kocabas et al. 2012, Nature:
RIA -> SMD/RMD steers the head in a gradient; McIntire et al. 1993: RME is GABAergic), and the
interneurons through which the amphid chemosensory neurons reach them: AIY and AIB (the main
postsynaptic partners of AWC and ASE; White et al. 1986; Chalasani et al. 2007, Nature), AIZ and RIA
(AIY -> AIZ -> RIA, AIY -> RIA; the klinotaxis pathway of Iino & Yoshida 2009, J. Neurosci., and
Kocabas et al. 2012). Their synapses, gap junctions and neuromuscular junctions are the dataset's,
as for the rest; the default, ``"motor"``, is the circuit as it always was.

What comes from where, recorded on the Circuit:
- synapse and gap junction counts: the dataset, read by cect from its bundled cache (never the network);
- signs (``sign_rule``): from transmitters where the dataset gives them (GABA-majority outgoing synapses
  make a neuron inhibitory), otherwise the class rule (DD, VD GABAergic and inhibitory; the rest
  cholinergic and excitatory; see McIntire et al. 1993);
- the neuromuscular map (``nmj_source``): the dataset's neuron-to-muscle synapses where it has them,
  otherwise the class rule (D* and AS -> dorsal, V* -> ventral, at the neuron's own position);
- soma positions (``position_source`` per neuron): c302's NeuroML network bundled with cect where it
  gives a location, otherwise the class order along the ventral cord (VB1 .. VB11 head to tail).

The extracted circuit is cached as npz in the user cache directory (``WORMSIM_CACHE_DIR`` overrides it),
keyed by dataset, cect version and the extraction format, so the second load skips cect entirely.
"""
from __future__ import annotations

import importlib
import os
import re
import tempfile
import warnings
from dataclasses import dataclass
from importlib.metadata import version as _pkg_version
from pathlib import Path

import numpy as np

from wormsim.circuit import Circuit

FORMAT_VERSION = 2  # bump when the extraction below changes what it produces


@dataclass(frozen=True)
class Dataset:
    reader: str        # module in cect.readers with get_instance(from_cache=...)
    description: str
    note: str = ""     # what a user must know about this dataset's motor circuit (goes into Circuit.notes)


DATASETS: dict[str, Dataset] = {
    "cook2019": Dataset("Cook2019HermReader", "Cook et al. 2019, adult hermaphrodite (chemical, gap, NMJ)"),
    "varshney": Dataset("VarshneyDataReader", "Varshney et al. 2011, hermaphrodite (chemical, gap)"),
    "white": Dataset("White_whole", "White et al. 1986, whole animal, in the reanalysis of Varshney et al. "
                     "2011 (cect's White_whole; chemical, gap)",
                     "white is White et al. 1986 as Varshney et al. 2011 reanalysed it: on the motor "
                     "circuit its matrices equal varshney's (White's own L4 and adult series in cect have "
                     "no ventral cord)"),
    "witvliet": Dataset("WitvlietDataReader8", "Witvliet et al. 2021, adult (dataset 8; nerve ring only)",
                        "witvliet covers the nerve ring only: it has the command interneurons but no "
                        "ventral cord motor neurons, hence no muscle map; it cannot drive the body"),
    "openworm": Dataset("OpenWormUnifiedReader", "OpenWorm unified hermaphrodite, with transmitters"),
    "wang2024": Dataset("Wang2024HermReader", "Wang et al. 2024 transmitters on Cook et al. 2019's "
                        "anatomy (binary connections, no gap junctions)",
                        "wang2024's connections are binary (1 where a transmitter-expressing cell "
                        "connects, not synapse counts) and it has no gap junctions"),
}

#: circuit name -> what it holds (load_circuit's ``circuit``)
CIRCUITS = {
    "motor": "the ventral cord motor neurons and the command interneurons (the default)",
    "motor+head": "the motor circuit plus the head's steering circuit: head motor neurons SMD, RMD, SMB, RIV, "
                  "RME and the interneurons AIY, AIB, AIZ, RIA that connect the amphid sensory neurons to them",
}
# The head's steering circuit (circuit="motor+head"). Head motor neurons: SMD, RMD, SMB and RIV bend the
# head and neck (Gray, Hill & Bargmann 2005, PNAS; Kocabas et al. 2012, Nature); RME, the GABAergic
# head motor neurons (McIntire et al. 1993), relax them. D and V in a name: the dorsal and ventral cells
# of a class (the side they innervate, ``head_side``); RMDL/R and RMEL/R are the lateral cells.
HEAD_MOTOR_NEURONS = ("SMDDL", "SMDDR", "SMDVL", "SMDVR", "RMDDL", "RMDDR", "RMDL", "RMDR", "RMDVL", "RMDVR",
                      "SMBDL", "SMBDR", "SMBVL", "SMBVR", "RIVL", "RIVR", "RMED", "RMEV", "RMEL", "RMER")
# Interneurons from the amphid chemosensory neurons to the head motor neurons: AIY and AIB receive most
# of AWC's and ASE's synapses (in Cook et al. 2019, AWC -> AIY 56, AIB 35; ASE -> AIY 100, AIB 65); AIY
# -> AIZ and RIA, AIZ -> RIA, SMB and the command interneurons, RIA -> SMD and RMD (736 synapses), AIB ->
# the command interneurons (Iino & Yoshida 2009; Kocabas et al. 2012).
HEAD_INTERNEURONS = ("AIYL", "AIYR", "AIBL", "AIBR", "AIZL", "AIZR", "RIAL", "RIAR")
# every head neuron's class is the first three letters of its name (SMDVL -> SMD, RMED -> RME)
HEAD_CLASS = {n: n[:3] for n in HEAD_MOTOR_NEURONS + HEAD_INTERNEURONS}

COMMAND_INTERNEURONS = ("AVAL", "AVAR", "AVBL", "AVBR", "AVDL", "AVDR", "AVEL", "AVER", "PVCL", "PVCR")
INHIBITORY_CLASSES = ("DD", "VD", "RME")   # GABAergic motor neurons (McIntire et al. 1993; RME: head)
DORSAL_CLASSES = ("DA", "DB", "DD", "AS", "PDA", "PDB")   # innervate dorsal muscles
VENTRAL_CLASSES = ("VA", "VB", "VD")
N_MUSCLE_ROWS = 24                          # body-wall muscles per quadrant, MDL01 .. MDL24

# c302 NeuroML coordinates (micrometres) along the anterior-posterior axis: the extremes of the
# worm's body as c302 lays it out (nose near -320, tail tip near +420).
Y_HEAD, Y_TAIL = -320.0, 420.0
# Command interneuron somata where c302 gives none: AVA/AVD/AVE in the head ganglia, PVC in the
# lumbar ganglia of the tail (White et al. 1986).
SOMA_REGION = {"AVA": -265.0, "AVD": -265.0, "AVE": -265.0, "AVB": -270.0, "PVC": 385.0}
# Head neurons where c302 gives no location: around the nerve ring (White et al. 1986).
HEAD_REGION = -270.0


def available_datasets() -> list[str]:
    return sorted(DATASETS)


def motor_circuit_neurons(circuit: str = "motor") -> list[str]:
    """The neurons of the motor circuit, motor neurons first, in cect's order; with
    circuit="motor+head", then the head motor neurons and the head interneurons."""
    from cect.Cells import VENTRAL_CORD_MOTORNEURONS
    check_circuit(circuit)
    out = list(VENTRAL_CORD_MOTORNEURONS) + list(COMMAND_INTERNEURONS)
    if circuit == "motor+head":
        out += list(HEAD_MOTOR_NEURONS) + list(HEAD_INTERNEURONS)
    return out


def check_circuit(circuit: str) -> None:
    """ValueError (one line) for a circuit name not in CIRCUITS."""
    if circuit not in CIRCUITS:
        raise ValueError(f"unknown circuit {circuit!r}; choose from {', '.join(CIRCUITS)}")


def cell_class(name: str) -> str:
    """DA3 -> DA, AS11 -> AS, PDA -> PDA, AVAL -> AVA; head neurons: SMDVL -> SMD, RMDL -> RMD,
    RMED -> RME, RIVL -> RIV, AIYL -> AIY."""
    if name in COMMAND_INTERNEURONS:
        return name[:-1]
    if name in HEAD_CLASS:
        return HEAD_CLASS[name]
    return re.sub(r"\d+$", "", name)


def role_of(name: str) -> str:
    """"command" (the command interneurons), "interneuron" (the head interneurons) or "motor"."""
    if name in COMMAND_INTERNEURONS:
        return "command"
    if name in HEAD_INTERNEURONS:
        return "interneuron"
    return "motor"


def head_side(name: str) -> int | None:
    """The side of the head a head motor neuron innervates by its name: DORSAL (0) for SMDD*, RMDD*,
    SMBD*, RMED; VENTRAL (1) for SMDV*, RMDV*, SMBV*, RMEV and RIV (RIV innervates ventral neck muscles:
    Gray, Hill & Bargmann 2005); None for the lateral RMDL/R and RMEL/R and for other neurons."""
    if name in ("RMED",) or (name[:3] in ("SMD", "RMD", "SMB") and name[3:4] == "D" and len(name) == 5):
        return 0
    if name in ("RMEV", "RIVL", "RIVR") or (name[:3] in ("SMD", "RMD", "SMB") and name[3:4] == "V"
                                           and len(name) == 5):
        return 1
    return None


def cache_dir() -> Path:
    env = os.environ.get("WORMSIM_CACHE_DIR")
    if env:
        return Path(env)
    import platformdirs
    return Path(platformdirs.user_cache_dir("wormsim"))


def _cache_path(dataset: str, sign_rule: str, circuit: str = "motor") -> Path:
    scope = "" if circuit == "motor" else "-" + circuit.replace("+", "-")   # the default's name as it was
    return cache_dir() / f"circuit-{dataset}{scope}-{sign_rule}-cect{_pkg_version('cect')}-f{FORMAT_VERSION}.npz"


def load_circuit(dataset: str = "cook2019", sign_rule: str = "auto", use_cache: bool = True,
                 circuit: str = "motor") -> Circuit:
    """The motor circuit of a connectome dataset.

    dataset: one of available_datasets().
    sign_rule: "auto" (transmitters where the dataset has them, else the class rule), "class" or
        "transmitter" (an error for a dataset without transmitters).
    use_cache: read and write the extracted circuit in the user cache directory.
    circuit: which neurons (CIRCUITS): "motor" (the default) or "motor+head" (with the head's
        steering circuit; see the module docstring).
    """
    if dataset not in DATASETS:
        raise ValueError(f"unknown dataset {dataset!r}; choose from {', '.join(available_datasets())}")
    if sign_rule not in ("auto", "class", "transmitter"):
        raise ValueError(f"unknown sign_rule {sign_rule!r}; choose from auto, class, transmitter")
    check_circuit(circuit)
    path = _cache_path(dataset, sign_rule, circuit)
    if use_cache and path.is_file():
        try:
            circuit = _read_npz(path)
            _warn_missing(circuit)
            return circuit
        except Exception as exc:  # a corrupt or foreign cache file is rebuilt, never fatal
            warnings.warn(f"ignoring unreadable circuit cache {path} ({exc}); rebuilding it")
    extracted = _extract(dataset, sign_rule, circuit)
    if use_cache:
        _write_npz(path, extracted)
    _warn_missing(extracted)
    return extracted


def _warn_missing(circuit: Circuit) -> None:
    if circuit.missing:
        warnings.warn(f"{circuit.dataset} lacks {len(circuit.missing)} of the motor circuit's "
                      f"{len(circuit.missing) + circuit.n} neurons: {', '.join(circuit.missing)}; "
                      f"the circuit holds the {circuit.n} it has", stacklevel=3)


# ---- extraction ------------------------------------------------------------------------------------
def _reader(dataset: str):
    module = importlib.import_module(f"cect.readers.{DATASETS[dataset].reader}")
    return module.get_instance(from_cache=True)


def _extract(dataset: str, sign_rule: str, circuit: str = "motor") -> Circuit:
    inst = _reader(dataset)
    nodes = list(inst.nodes)
    where = {n: i for i, n in enumerate(nodes)}
    wanted = motor_circuit_neurons(circuit)
    names = [n for n in wanted if n in where]
    missing = tuple(n for n in wanted if n not in where)
    if not names:
        raise ValueError(f"dataset {dataset!r} has none of the motor circuit's neurons")
    idx = np.array([where[n] for n in names])

    synclasses = [s for s in inst.connections if s != "Generic_GJ"]
    chem = sum(np.asarray(inst.connections[s], float)[np.ix_(idx, idx)] for s in synclasses)
    if "Generic_GJ" in inst.connections:
        g = np.asarray(inst.connections["Generic_GJ"], float)[np.ix_(idx, idx)]
        gap = np.maximum(g, g.T)
        np.fill_diagonal(gap, 0.0)
    else:
        gap = np.zeros_like(chem)

    classes = tuple(cell_class(n) for n in names)
    transmitters = "GABA" in inst.connections
    if sign_rule == "transmitter" and not transmitters:
        raise ValueError(f"dataset {dataset!r} gives no transmitters; use sign_rule='class' or a "
                         f"dataset with transmitters (openworm, wang2024)")
    class_sign = np.array([-1 if c in INHIBITORY_CLASSES else 1 for c in classes], np.int8)
    if transmitters and sign_rule in ("auto", "transmitter"):
        # outgoing synapses onto every cell of the dataset, not just the circuit: the transmitter is
        # a property of the presynaptic neuron
        out_gaba = np.asarray(inst.connections["GABA"], float)[idx].sum(1)
        out_all = sum(np.asarray(inst.connections[s], float)[idx].sum(1) for s in synclasses)
        sign = np.where(out_all > 0, np.where(out_gaba > out_all / 2, -1, 1), class_sign).astype(np.int8)
        rule = "transmitter (GABA majority of outgoing synapses; class rule where a neuron has none)"
    else:
        sign = class_sign
        rule = ("class (DD, VD, RME inhibitory; all others excitatory)" if "RME" in classes else
                "class (DD, VD inhibitory; all others excitatory)")

    position, pos_source = _positions(names, classes)
    nmj, nmj_source = _nmj(inst, nodes, where, idx, names, classes, position)
    muscle_position = (np.arange(N_MUSCLE_ROWS) + 0.5) / N_MUSCLE_ROWS
    notes = [DATASETS[dataset].note] if DATASETS[dataset].note else []
    if not gap.any() and "gap junctions" not in " ".join(notes):
        notes.append("no gap junctions in this dataset")
    if circuit != "motor":
        notes.append(f"circuit {circuit}: {CIRCUITS[circuit]}")
    return Circuit(names=tuple(names), cell_class=classes, role=tuple(role_of(n) for n in names),
                   position=position, chem=chem, gap=gap, sign=sign, nmj=nmj,
                   muscle_position=muscle_position, dataset=dataset, sign_rule=rule,
                   nmj_source=nmj_source, position_source=tuple(pos_source), missing=missing,
                   notes=tuple(notes))


def _neuroml_positions() -> dict[str, float]:
    """Soma y coordinates (micrometres) from c302's network file bundled with cect."""
    import cect
    path = Path(cect.__file__).parent / "data" / "NeuroML" / "c302_C2_FW.net.nml"
    if not path.is_file():
        return {}
    text = path.read_text()
    found = re.findall(r'<population id="(\w+)".*?<location x="[-\d.eE]+" y="([-\d.eE]+)"', text, re.S)
    return {name: float(y) for name, y in found}


def _positions(names, classes) -> tuple[np.ndarray, list[str]]:
    """Body position 0 (head) .. 1 (tail) of every neuron, and where each came from."""
    known = _neuroml_positions()
    ys = np.array([known[n] for n in names if n in known and cell_class(n) not in SOMA_REGION
                   and n not in HEAD_CLASS])
    # the ventral cord's extent, from the motor neurons c302 does place
    cord = (ys.min(), ys.max()) if len(ys) >= 2 else (-230.0, 410.0)
    members: dict[str, list[str]] = {}
    for n, c in zip(names, classes):
        members.setdefault(c, []).append(n)
    pos, src = [], []
    for n, c in zip(names, classes):
        if n in known:
            y, s = known[n], "c302 NeuroML location"
        elif c in SOMA_REGION:
            y, s = SOMA_REGION[c], "ganglion of the class (White et al. 1986)"
        elif n in HEAD_CLASS:
            y, s = HEAD_REGION, "the nerve ring (White et al. 1986)"
        else:
            # evenly along the cord by the neuron's number within its class (PDA, PDB sit at the end)
            k = members[c].index(n)
            y = cord[0] + (k + 0.5) / len(members[c]) * (cord[1] - cord[0])
            if c in ("PDA", "PDB"):
                y = cord[1]
            s = "class order along the ventral cord"
        pos.append((y - Y_HEAD) / (Y_TAIL - Y_HEAD))
        src.append(s)
    return np.clip(np.array(pos), 0.0, 1.0), src


def _nmj(inst, nodes, where, idx, names, classes, position) -> tuple[np.ndarray, str]:
    """(N, 2, 24) synapse counts onto dorsal and ventral muscle rows; left and right pooled."""
    nmj = np.zeros((len(names), 2, N_MUSCLE_ROWS))
    synclasses = [s for s in inst.connections if s != "Generic_GJ"]
    muscles = [(m, re.match(r"^M([DV])[LR]0*(\d+)$", m)) for m in nodes]
    muscles = [(where[m], 0 if g.group(1) == "D" else 1, int(g.group(2)) - 1)
               for m, g in muscles if g and 1 <= int(g.group(2)) <= N_MUSCLE_ROWS]
    if muscles:
        cols = np.array([c for c, _, _ in muscles])
        conn = sum(np.asarray(inst.connections[s], float)[np.ix_(idx, cols)] for s in synclasses)
        for k, (_, side, row) in enumerate(muscles):
            nmj[:, side, row] += conn[:, k]
    if nmj.sum() > 0:
        return nmj, "dataset (neuron-to-muscle synapses)"
    # class rule: one unit synapse onto the muscle row at the neuron's own position
    rows = np.minimum((position * N_MUSCLE_ROWS).astype(int), N_MUSCLE_ROWS - 1)
    for i, c in enumerate(classes):
        side = 0 if c in DORSAL_CLASSES else 1 if c in VENTRAL_CLASSES else head_side(names[i])
        if side is not None:
            nmj[i, side, rows[i]] = 1.0
    if nmj.sum() == 0:
        return nmj, "none (no motor neurons in this dataset, no neuron reaches a muscle)"
    head = any(head_side(n) is not None for n in names)
    return nmj, ("class rule (D* and AS -> dorsal, V* -> ventral, at the neuron's position" +
                 ("; head motor neurons by the D or V of their names" if head else "") + ")")


# ---- the npz cache ---------------------------------------------------------------------------------
_ARRAYS = ("position", "chem", "gap", "sign", "nmj", "muscle_position")
_TEXTS = ("names", "cell_class", "role", "position_source", "missing", "notes")
_SCALARS = ("dataset", "sign_rule", "nmj_source")


def _write_npz(path: Path, circuit: Circuit) -> None:
    """Atomic: a temporary file in the same folder, then a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {k: np.asarray(getattr(circuit, k)) for k in _ARRAYS}
    payload.update({k: np.array(getattr(circuit, k), dtype=str) for k in _TEXTS})
    payload.update({k: np.array(getattr(circuit, k)) for k in _SCALARS})
    payload["format"] = np.array(FORMAT_VERSION)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".npz.tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **payload)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _read_npz(path: Path) -> Circuit:
    with np.load(path, allow_pickle=False) as z:
        if int(z["format"]) != FORMAT_VERSION:
            raise ValueError(f"format {int(z['format'])} != {FORMAT_VERSION}")
        kw = {k: np.array(z[k]) for k in _ARRAYS}
        kw.update({k: tuple(str(x) for x in z[k]) for k in _TEXTS})
        kw.update({k: str(z[k]) for k in _SCALARS})
    kw["sign"] = kw["sign"].astype(np.int8)
    return Circuit(**kw)
