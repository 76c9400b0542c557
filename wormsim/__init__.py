"""wormsim: the C. elegans motor circuit from the real connectome, at graded biophysical realism,
driving a simulated swimming worm.

    from wormsim.connectome import load_circuit
    from wormsim.wiring import rewire
    circuit = rewire(load_circuit("cook2019"), "shuffled", seed=3)

Importing wormsim registers the Gymnasium environments under the ``wormsim/`` namespace.
"""
from __future__ import annotations

import importlib.abc
import importlib.util
import os
import sys
from pathlib import Path

# Headless rendering: without a display MuJoCo's default OpenGL backend (GLFW) cannot open a context,
# so choose EGL (Mesa renders on the CPU; OSMesa fails on such machines). A user's own MUJOCO_GL wins.
if "MUJOCO_GL" not in os.environ and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
    os.environ["MUJOCO_GL"] = "egl"

__version__ = "0.1.0"

# envs/ and realism_levels/ sit beside wormsim/ in the source tree and install as wormsim.envs and
# wormsim.realism_levels (package-dir mapping in pyproject.toml). An installed wheel or an editable
# install resolves them; when Python imports wormsim straight from a checkout (the checkout's folder
# first on sys.path, as pytest and `python -c` do there), nothing applies that mapping, so this
# finder does, for exactly those two names.
_SIBLINGS = {f"{__name__}.envs": "envs", f"{__name__}.realism_levels": "realism_levels"}


class _CheckoutFinder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path=None, target=None):
        top = next((k for k in _SIBLINGS if fullname == k or fullname.startswith(k + ".")), None)
        if top is None:
            return None
        folder = Path(__file__).resolve().parent.parent / _SIBLINGS[top]
        rest = fullname[len(top):].lstrip(".").split(".") if fullname != top else []
        base = folder.joinpath(*rest)
        if (base / "__init__.py").is_file():
            return importlib.util.spec_from_file_location(
                fullname, base / "__init__.py", submodule_search_locations=[str(base)])
        if base.with_suffix(".py").is_file():
            return importlib.util.spec_from_file_location(fullname, base.with_suffix(".py"))
        return None


if not any(isinstance(f, _CheckoutFinder) for f in sys.meta_path):
    sys.meta_path.append(_CheckoutFinder())

from wormsim import envs as _envs  # noqa: E402,F401  (registers wormsim/Swim-v0 and friends)
