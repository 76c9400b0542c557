#!/usr/bin/env bash
# The converged default grid (issue 17) in the chunks it runs in on a 2-core machine, resumable across sessions:
#     docs/experiment/run_converged.sh            # from the checkout's root, its venv active
# It first copies back the finished cells committed under docs/experiment/converged (a fresh work tree has no
# results/), then runs the chunks in order: every chunk skips its finished cells and resumes its interrupted ones.
# After (or between) runs, commit what finished:
#     docs/experiment/collect.sh results/converged docs/experiment/converged && git add -f docs/experiment/converged
# The last command is the default grid itself: with every cell done it only tunes nothing, trains nothing and
# writes the report. Why these chunks and what each costs: docs/experiment/converged/README.md.
set -euo pipefail
out=${OUT:-results/converged}
mkdir -p "$out"
if [ -d docs/experiment/converged ]; then cp -rn docs/experiment/converged/. "$out"/; fi
wormsim experiment --levels spiking rate mlp ncap --tasks swim --out "$out"      # swim, the cheap levels
wormsim experiment --levels conductance --tasks swim --out "$out"                # swim, conductance: hours
wormsim experiment --tasks memory digits --out "$out"                            # the tasks without a body
wormsim experiment --out "$out"                                                  # the whole grid: its report
