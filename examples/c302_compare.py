"""The comparison table of docs/c302/README.md: each stored c302 scenario replayed in wormsim's conductance
level under each parameter set (and c302-C1 with one mechanism left out), errors against c302's NEURON run.

Needs only the default install (the references are in realism_levels/golden/c302/):

    nice -n 10 python examples/c302_compare.py [--dt-ms 0.1] [--scenario quiet avb_drive motor_drive]
"""
from __future__ import annotations

import argparse
import time

VARIANTS = {
    "c302-C1": ("c302-C1", {}),
    "c302-C1 without Ca inactivation": ("c302-C1", {"ca_inactivation": False}),
    "c302-C1 without synaptic gating": ("c302-C1", {"synaptic_gating": False}),
    "wormsim (default set)": ("wormsim", {}),
}


def main() -> None:
    from wormsim.connectome import load_circuit
    from wormsim.reference import c302 as ref_c302

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dt-ms", type=float, default=0.1)
    ap.add_argument("--scenario", nargs="*", default=ref_c302.scenarios(), choices=ref_c302.scenarios())
    args = ap.parse_args()
    circuit = load_circuit("cook2019")
    print(f"dt = {args.dt_ms} ms (c302: NEURON at 0.005 ms); errors in mV; cell statistics after 100 ms\n")
    print("| scenario | parameter set | max abs dV | median abs dV | cell mean: max / median err | "
          "cell std: max err | oscillating cells | cycles: max err | range: max err | replay s |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for sc in args.scenario:
        ref = ref_c302.load_scenario(sc)
        for label, (pset, kw) in VARIANTS.items():
            t0 = time.perf_counter()
            v = ref_c302.replay(ref, pset, dt_ms=args.dt_ms, circuit=circuit, **kw)
            wall = time.perf_counter() - t0
            c = ref_c302.compare(ref, v)
            print(f"| {sc} | {label} | {c.max_abs:.3g} | {c.median_abs:.2g} | {c.mean_err_max:.3g} / "
                  f"{c.mean_err_median:.2g} | {c.std_err_max:.3g} | {len(c.oscillating)} | "
                  f"{c.osc_peaks_err_max} | {c.osc_range_err_max:.3g} | {wall:.1f} |", flush=True)


if __name__ == "__main__":
    main()
