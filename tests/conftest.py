"""Shared test set-up: an isolated circuit cache, headless rendering, and the real circuit."""
import os

os.environ.setdefault("MUJOCO_GL", "egl")  # headless rendering on this CPU (osmesa fails here)

import pytest  # noqa: E402


@pytest.fixture(scope="session", autouse=True)
def _isolated_cache(tmp_path_factory):
    """Every test session extracts circuits afresh into its own cache, not the user's."""
    old = os.environ.get("WORMSIM_CACHE_DIR")
    os.environ["WORMSIM_CACHE_DIR"] = str(tmp_path_factory.mktemp("wormsim-cache"))
    yield
    if old is None:
        os.environ.pop("WORMSIM_CACHE_DIR", None)
    else:
        os.environ["WORMSIM_CACHE_DIR"] = old


@pytest.fixture(scope="session")
def circuit():
    """The Cook 2019 motor circuit (the default dataset)."""
    from wormsim.connectome import load_circuit
    return load_circuit("cook2019")
