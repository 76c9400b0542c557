"""envs/ and realism_levels/ install as wormsim.envs and wormsim.realism_levels."""
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_import_from_the_checkout():
    import wormsim.envs
    import wormsim.realism_levels
    assert Path(wormsim.envs.__file__).resolve().parent == ROOT / "envs"
    assert Path(wormsim.realism_levels.__file__).resolve().parent == ROOT / "realism_levels"


def test_the_wheel_holds_the_mapped_packages_and_imports_outside_the_checkout(tmp_path):
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                            "-w", str(tmp_path), str(ROOT)], capture_output=True, text=True)
    assert build.returncode == 0, build.stderr[-2000:]
    wheel = next(tmp_path.glob("wormsim-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    for needed in ("wormsim/envs/__init__.py", "wormsim/envs/layout.py",
                   "wormsim/realism_levels/__init__.py", "wormsim/realism_levels/base.py",
                   "wormsim/cli.py"):
        assert needed in names
    target = tmp_path / "site"
    inst = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--target",
                           str(target), str(wheel)], capture_output=True, text=True)
    assert inst.returncode == 0, inst.stderr[-2000:]
    code = ("import wormsim, wormsim.envs, wormsim.realism_levels; "
            "print(wormsim.__file__); print(wormsim.envs.__file__)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path,
                       env={"PYTHONPATH": str(target), "PATH": "/usr/bin:/bin"})
    assert r.returncode == 0, r.stderr[-2000:]
    assert all(line.startswith(str(target)) for line in r.stdout.split())


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    blocks = readme.split("```bash")[1:3]
    install, test = (b.split("```")[0].strip() for b in blocks)
    ci = (ROOT / ".ci" / "run").read_text()
    assert test in ci.splitlines()
    assert install.split("&& wormsim")[0].strip() in ci


def test_torch_is_a_range_and_this_machines_versions_are_constraints():
    """pyproject.toml declares the torch range wormsim supports (installable beside a user's CUDA build);
    the exact version CI and the README's install command use is pinned in constraints.txt."""
    import re
    import tomllib
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    torch = [d for d in deps if re.match(r"torch\b", d)]
    assert torch and "==" not in torch[0] and ">=" in torch[0], torch
    pins = dict(line.split("==") for line in (ROOT / "constraints.txt").read_text().splitlines()
                if line.strip() and not line.startswith("#"))
    assert pins["torch"] == "2.13.0"
    from importlib.metadata import version
    assert version("torch").split("+")[0] == pins["torch"]      # this venv was installed with them
    readme, ci = (ROOT / "README.md").read_text(), (ROOT / ".ci" / "run").read_text()
    assert '-c constraints.txt' in readme.split("```bash")[1] and '-c constraints.txt' in ci
