"""Start a run from another run's trained circuit (``wormsim train --init RUN``): a curriculum.

The animal navigates with the locomotor circuit it swims with: klinokinesis and klinotaxis modulate
a wave that is already there (Pierce-Shimomura, Morse & Lockery 1999, J. Neurosci.; Iino & Yoshida
2009, J. Neurosci.). Training navigation from the connectome-derived start asks ES to invent the swim
and the steering at once, and the swim alone takes this trainer a hundred generations and more
(docs/experiment/pilot-plateau). ``--init`` starts instead from a circuit trained on another task
(a swimmer), on the same circuit: same level, dataset, wiring and wiring seed, body segments.

Parameters are carried over by name. Every parameter of the same shape is copied. The input gains
(the parameter a level names in ``Brain.input_gains``: ``gain`` for rate and spiking, ``input_gain`` for
conductance) are carried over by (input channel, neuron): channels both tasks have (proprioception, the
command drives) keep the source's gains; an entry only the new set-up has (navigate's attractant inputs,
or a wider ``--anterior-field``) starts at 0, silent, so that the run starts from the source's behaviour
exactly and training recruits the new input. An entry of the source that the new set-up lacks is
refused: dropping it would change the behaviour the run starts from. A level without per-neuron input
gains (the GRU baseline) declares the parameters whose rows are the input channels
(``Brain.input_rows``, e.g. the GRU's input weights); they are carried over by channel name the same
way, the new channels' rows at 0. Any other difference of shape is refused.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

# the fields of a source run that must match: they decide the circuit and the parameter layout
MATCH = ("level", "dataset", "wiring", "n_segments", "share_weights", "train")


def initial_params_from_run(config, evaluator) -> np.ndarray:
    """The starting parameter vector of ``config`` (a TrainConfig with ``init``) from the trained policy
    of the run ``config.init``, laid out for ``evaluator`` (an Evaluator of ``config``'s set-up).
    ValueError (one line) where the run cannot seed this set-up."""
    from wormsim.config import TrainConfig
    from wormsim.rollout import Evaluator
    from wormsim.runs import Run, RunError
    path = Path(config.init)
    try:
        run = Run.open(path)
        params, _ = run.load_policy()
    except RunError as exc:
        raise ValueError(f"--init {path}: {exc}") from None
    source = TrainConfig.from_dict(run.config)
    differ = [f"{k} {getattr(source, k)!r} != {getattr(config, k)!r}" for k in MATCH
              if getattr(source, k) != getattr(config, k)]
    if config.wiring != "connectome" and source.seed != config.seed:
        differ.append(f"seed {source.seed} != {config.seed} (the seed of the {config.wiring} wiring)")
    if differ:
        raise ValueError(f"--init {path}: that run is another circuit ({'; '.join(differ)})")
    src = Evaluator(source.eval_spec())
    src.initial_params()                       # builds its brain and interface
    evaluator.initial_params()                 # likewise for this set-up
    out = map_params(np.asarray(params, np.float64), src.brain, src.interface.io_spec(),
                     evaluator.brain, evaluator.interface.io_spec())
    src.close()
    return out.astype(np.float32)


def map_params(params: np.ndarray, src_brain, src_io, dst_brain, dst_io) -> np.ndarray:
    """``params`` of ``src_brain`` laid out as ``dst_brain``'s flat vector (see the module docstring);
    the destination's own initial values are used nowhere but for shapes."""
    if len(params) != src_brain.n_params:
        raise ValueError(f"--init: the run's policy has {len(params)} parameters, its level {src_brain.n_params}")
    src_sizes, dst_sizes = src_brain.param_sizes(), dst_brain.param_sizes()
    if list(src_sizes) != list(dst_sizes):
        raise ValueError(f"--init: parameter groups differ ({list(src_sizes)} != {list(dst_sizes)})")
    pieces, start = {}, 0
    for name, size in src_sizes.items():
        pieces[name] = params[start:start + size]
        start += size
    out = []
    rows, gains = set(dst_brain.input_rows), dst_brain.input_gains
    for name, size in dst_sizes.items():
        if src_sizes[name] == size and name != gains:
            out.append(pieces[name])
        elif name == gains:
            out.append(_map_gains(pieces[name], src_io, dst_io))
        elif name in rows:
            shape = tuple(getattr(dst_brain, name).shape[1:])
            out.append(_map_rows(pieces[name], name, shape, src_io, dst_io))
        else:
            raise ValueError(f"--init: parameter {name!r} has {src_sizes[name]} values in the run, "
                             f"{size} here")
    return np.concatenate(out)


def _map_gains(gains: np.ndarray, src_io, dst_io) -> np.ndarray:
    """Input gains (one per True entry of the input mask, row-major) carried over by (channel name,
    neuron); entries of channels the source lacks start at 0."""
    src_mask, dst_mask = np.asarray(src_io.input_mask, bool), np.asarray(dst_io.input_mask, bool)
    if src_mask.shape[1] != dst_mask.shape[1]:
        raise ValueError(f"--init: {src_mask.shape[1]} neurons in the run, {dst_mask.shape[1]} here")
    src_index = {(src_io.channel_names[c], n): k for k, (c, n) in enumerate(zip(*np.nonzero(src_mask)))}
    dst_entries = {(dst_io.channel_names[c], n) for c, n in zip(*np.nonzero(dst_mask))}
    dropped = [key for key in src_index if key not in dst_entries]
    if dropped:
        name, n = dropped[0]
        raise ValueError(f"--init: input {name} reaches neuron {n} in the run, not here: its gain cannot be "
                         f"carried over (a wider --anterior-field may add entries, not move them)")
    out = np.zeros(int(dst_mask.sum()))
    for k, (c, n) in enumerate(zip(*np.nonzero(dst_mask))):
        j = src_index.get((dst_io.channel_names[c], n))
        if j is not None:
            out[k] = gains[j]
    return out


def _map_rows(values: np.ndarray, name: str, shape: tuple, src_io, dst_io) -> np.ndarray:
    """A parameter whose rows are the input channels (shape (channels, ...)) carried over by channel name;
    rows of channels the source lacks start at 0. A source channel the destination lacks is refused (its
    weights would be dropped and the start would not be the source's behaviour)."""
    src_names, dst_names = list(src_io.channel_names), list(dst_io.channel_names)
    rest = int(np.prod(shape[1:]))
    if shape[0] != len(dst_names) or len(values) != len(src_names) * rest:
        raise ValueError(f"--init: parameter {name!r} is not laid out by input channel ({len(values)} values "
                         f"for {len(src_names)} channels in the run, {shape} here)")
    dropped = [c for c in src_names if c not in dst_names]
    if dropped:
        raise ValueError(f"--init: the run's input {dropped[0]} does not exist here; its weights in "
                         f"{name!r} cannot be carried over")
    src = values.reshape(len(src_names), rest)
    out = np.zeros((len(dst_names), rest))
    for i, c in enumerate(dst_names):
        if c in src_names:
            out[i] = src[src_names.index(c)]
    return out.ravel()
