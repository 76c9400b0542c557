"""The figure of docs/body/self-rhythm.md: frequency, wavelength, amplitude and speed against load for the
self-rhythm circuits (water and agar rows of their gait_vs_load.py tables in docs/body/self-rhythm-tables/),
beside the animal's two ends (Fang-Yen et al. 2010: water 1.76 Hz, 1.54 BL; agar 0.30 Hz, 0.65 BL).

    python docs/body/plot_self_rhythm.py [--out docs/body/self-rhythm.png]
"""
from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

HERE = Path(__file__).resolve().parent
TABLES = HERE / "self-rhythm-tables"
RUNS = [("sr-b", "trained in water (sr-b)", "C3"), ("al-scratch", "trained at 1x + 1000x (al-scratch)", "C0"),
        ("al-b", "1x + 1000x from sr-b (al-b)", "C1"), ("al-b-s1", "al-b-s1", "C2"), ("al-b-s2", "al-b-s2", "C4"),
        ("al-scratch-s1", "al-scratch-s1 (seed 1)", "C5"), ("al-spk", "spiking, 1x + 1000x (al-spk)", "k")]
MIN_AMPLITUDE = 1.0     # rad/BL: below this a "rhythm" is a stalled body's wobble, not drawn


def read(name: str) -> dict[str, list[tuple]]:
    """medium -> [(load, speed, frequency, wavelength, amplitude, direction)] from a gait table."""
    out: dict[str, list[tuple]] = {"water": [], "agar": []}
    for line in (TABLES / f"gait-{name}.md").read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 9 or cells[0] not in out:
            continue
        num = lambda x: float(x) if x not in ("-", "") else float("nan")  # noqa: E731
        out[cells[0]].append((float(cells[1]), float(cells[3].split()[0]), num(cells[4]), num(cells[5]),
                              float(cells[6]), cells[7]))
    return out


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default=str(HERE / "self-rhythm.png"))
    a = p.parse_args(argv)
    fig, axes = plt.subplots(2, 2, figsize=(10, 7), sharex=True)
    panels = [(axes[0, 0], 2, "frequency (Hz)"), (axes[0, 1], 3, "wavelength (BL)"),
              (axes[1, 0], 4, "mid-body amplitude (rad/BL)"), (axes[1, 1], 1, "speed (BL/s)")]
    for name, label, color in RUNS:
        rows = read(name)
        for medium, style in (("water", "-o"), ("agar", "--s")):
            pts = sorted(rows[medium])
            for ax, k, _ in panels:
                keep = [r for r in pts if k in (1, 4) or (r[4] >= MIN_AMPLITUDE and r[5] == "head-to-tail")]
                if k == 1:
                    keep = [r for r in keep if r[1] > 0]
                ax.plot([r[0] for r in keep], [r[k] for r in keep], style, color=color, ms=3, lw=1,
                        label=f"{label}, {medium}" if ax is axes[1, 1] else None)
    for ax, k, ylabel in panels:
        ax.set_xscale("log")
        ax.set_ylabel(ylabel)
        if k == 1:
            ax.set_yscale("log")
    for ax, water, agar in ((axes[0, 0], 1.76, 0.30), (axes[0, 1], 1.54, 0.65)):
        ax.axhline(water, color="k", lw=0.8, ls=":")
        ax.axhline(agar, color="0.5", lw=0.8, ls=":")
        ax.text(1.05, water, "animal, water", fontsize=7, va="bottom")
        ax.text(1.05, agar, "animal, agar", fontsize=7, va="bottom", color="0.4")
    for ax in axes[1]:
        ax.set_xlabel("load (viscosity / water's); agar rows: drag ratio 10 at that load")
    axes[0, 1].set_ylim(0, 2)
    axes[1, 1].legend(fontsize=6, ncol=1, loc="lower left")
    fig.suptitle("Rate and spiking levels, connectome, head oscillator off: the circuit's own rhythm against load "
                 f"(replayed without retraining; frequency and wavelength drawn where the\nwave travels head to tail "
                 f"with a mid-body amplitude >= {MIN_AMPLITUDE:g} rad/BL; speed where positive)", fontsize=8)
    fig.tight_layout()
    fig.savefig(a.out, dpi=110)
    print(a.out)


if __name__ == "__main__":
    main()
