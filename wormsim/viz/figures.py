"""Figure files: the one way wormsim gets pyplot (headless) and writes a figure (checked suffix, atomic).

    from wormsim.viz.figures import check_figure_path, pyplot, save_figure
    path = check_figure_path("out/curves.png")     # ValueError for a suffix that is not a figure format
    plt = pyplot()
    fig, ax = plt.subplots()
    save_figure(fig, path)                          # written atomically, figure closed

Every figure module (plots, circuit, the experiment's and the distillation's figures) imports these from
here, so none of them imports another for its file handling.
"""
from __future__ import annotations

from pathlib import Path

FIGURE_SUFFIXES = (".png", ".svg", ".pdf")


def pyplot():
    """matplotlib.pyplot on the non-interactive Agg backend (no display needed)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def check_figure_path(path: str | Path) -> Path:
    """``path`` as a Path if a figure can be written there (a known suffix); ValueError otherwise."""
    path = Path(path)
    if path.suffix.lower() not in FIGURE_SUFFIXES:
        raise ValueError(f"figure file must end in {', '.join(FIGURE_SUFFIXES)}, got {path.name!r}")
    return path


def save_figure(fig, path: str | Path, dpi: int = 120, **savefig_kwargs) -> Path:
    """Write ``fig`` atomically (rendered in memory, then a temporary file renamed onto ``path``; the
    format follows the suffix) and close it. Returns the path."""
    import io

    from wormsim.runs import atomic_write_bytes
    plt = pyplot()
    try:
        path = check_figure_path(path)
        buf = io.BytesIO()
        fig.savefig(buf, format=path.suffix.lower()[1:], dpi=dpi, **savefig_kwargs)
    finally:
        plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())
    return path
