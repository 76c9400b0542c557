#!/usr/bin/env bash
# Issue 21: more navigators on the steering circuit (--circuit motor+head), run from the checkout's root with its
# venv active. Streams for a 2-core machine, each resumable (a finished run is skipped, an interrupted one resumed):
#     bash docs/navigate/head/levels_and_seeds.sh spiking      # the spiking level, connectome and shuffle, seed 0
#     bash docs/navigate/head/levels_and_seeds.sh rate S       # the rate level, connectome and shuffle, seed S
#     bash docs/navigate/head/levels_and_seeds.sh mlp          # the GRU baseline (no wiring: one run), seed 0
#     bash docs/navigate/head/levels_and_seeds.sh conductance  # the conductance level, seed 0, on both cores
# Every navigator starts from a swimmer of its own level, wiring and seed (wormsim train --init), trained with the
# pilot's swim set-up at the level's ES step chosen by the converged grid's tuning on swim (rate 0.4, spiking 0.1,
# GRU 0.2, conductance 0.2; docs/experiment/converged/tuning.json; the GRU's budget is the grid's cap, 600);
# navigation uses half that step (rate: 0.2, as the seed-0 runs did). The conductance level (Brian2, ~70 ms per
# simulated worm-second on one core) evaluates on WORKERS=2 processes, which gives the same numbers as one.
# WIRINGS (default: connectome and shuffled) chooses the wirings, e.g. WIRINGS=connectome.
# Then: python docs/navigate/evaluate.py OUT/nav-* --episodes 64 --out docs/navigate/head
# PATIENCE (default 100) is the plateau rule's patience of the navigators; the first tables used 50, which stopped
# one of three rate seeds that goes on to navigate (docs/navigate/levels/README.md).
set -euo pipefail
out=${OUT:-results/nav21}; patience=${PATIENCE:-100}
level=$1; seed=${2:-0}
read -r -a wirings <<< "${WIRINGS:-connectome shuffled}"; budget=300; workers=${WORKERS:-1}
case $level in
    rate) swim_sigma=0.4; nav_sigma=0.2; extra=(--implicit-gaps) ;;
    spiking) swim_sigma=0.1; nav_sigma=0.05; extra=() ;;
    mlp) swim_sigma=0.2; nav_sigma=0.1; extra=(); wirings=(connectome); budget=600 ;;
    conductance) swim_sigma=0.2; nav_sigma=0.1; extra=(); workers=${WORKERS:-2} ;;
    *) echo "levels_and_seeds.sh: level must be rate, spiking, mlp or conductance, not '$level'" >&2; exit 2 ;;
esac
train() {   # train --out DIR ARGS...: skip a finished run, resume an interrupted one, else start it
    local dir=$1; shift
    if [ -f "$dir/summary.json" ]; then echo "done: $dir"
    elif [ -d "$dir" ]; then wormsim resume "$dir"
    else wormsim train "$@" --out "$dir"; fi
}
for wiring in "${wirings[@]}"; do
    name=$level-$wiring-head-s$seed
    train "$out/swim-$name" --task swim --level "$level" --wiring $wiring --circuit motor+head "${extra[@]}" \
        --seed "$seed" --sigma $swim_sigma --popsize 24 --episodes 1 --duration 3 --budget $budget --stop plateau \
        --eval-episodes 8 --workers $workers --no-video --no-tensorboard
    train "$out/nav-$name" --task navigate --level "$level" --wiring $wiring --circuit motor+head "${extra[@]}" \
        --seed "$seed" --init "$out/swim-$name" --duration 10 --episodes 8 --popsize 24 --sigma $nav_sigma \
        --val-episodes 64 --patience $patience --eval-episodes 32 --budget $budget --stop plateau --workers $workers --no-video \
        --no-tensorboard
done
