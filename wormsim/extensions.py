"""What a process registered at run time (levels, tasks, null wirings beyond the shipped ones), as one
picklable value, so that the worker processes that evaluate its populations or run its experiment cells
register the same before they work. Classes and functions travel by reference (module and name): they
must be importable in the worker, as anything pickled is (a module on the path; not ``__main__`` of an
interactive session).

    snapshot = extensions.snapshot()          # in the parent
    extensions.restore(snapshot)              # in a worker, before the first evaluation
"""
from __future__ import annotations


def snapshot() -> dict:
    """{"levels": {name: class}, "tasks": {name: (TaskSpec, entry, vector entry)},
    "wirings": {name: (generator, uniform_weights)}} of this process's run-time registrations."""
    from wormsim.envs import tasks
    from wormsim import realism_levels, wiring
    return {"levels": dict(realism_levels.ADDED), "tasks": dict(tasks.ADDED), "wirings": dict(wiring.ADDED)}


def restore(snap: dict | None) -> None:
    """Register everything in ``snap`` (a snapshot()) in this process; what is there already is replaced."""
    if not snap:
        return
    from wormsim.envs.tasks import register_task
    from wormsim.realism_levels import register_level
    from wormsim.wiring import register_wiring
    for name, cls in snap.get("levels", {}).items():
        register_level(name, cls, replace=True)
    for spec, entry, vector_entry in snap.get("tasks", {}).values():
        register_task(spec, entry, vector_entry, replace=True)
    for name, (generator, uniform) in snap.get("wirings", {}).items():
        register_wiring(name, generator, uniform_weights=uniform, replace=True)
