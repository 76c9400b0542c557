"""Shared test set-up: an isolated circuit cache, headless rendering, the real circuit, and the docs' scripts."""
import importlib.util
import os
import sys
from pathlib import Path

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


@pytest.fixture
def docs_body():
    """A loader of docs/body's measurement scripts by name (``docs_body("animal_power")``): they are not a
    package, and they import each other by bare name, so their folder goes on sys.path."""
    folder = Path(__file__).resolve().parents[1] / "docs" / "body"
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))

    def load(name: str):
        spec = importlib.util.spec_from_file_location(name, folder / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    return load


def pytest_sessionfinish(session, exitstatus):
    """No worker process outlives the tests. multiprocessing joins its children when the interpreter
    exits, so one left waiting for work holds the session open after its last test (stop 37's CI hung
    so until its 90 minutes ran out). A child still alive 10 s after the last test is named, ended, and
    fails the session: a leak is a bug, and a user's `wormsim` would hang on it the same way."""
    import multiprocessing
    import time
    deadline = time.monotonic() + 10
    for child in multiprocessing.active_children():
        child.join(timeout=max(0.0, deadline - time.monotonic()))
    left = [child for child in multiprocessing.active_children() if child.is_alive()]
    for child in left:
        child.terminate()
        child.join(timeout=5)
        if child.is_alive():
            child.kill()
            child.join(timeout=5)
    if left:
        names = ", ".join(f"{child.name} (pid {child.pid})" for child in left)
        print(f"\nconftest: {len(left)} worker process(es) outlived the tests and were ended: {names}",
              file=sys.stderr)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
