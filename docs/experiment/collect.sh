#!/usr/bin/env bash
# Copy a grid's finished runs (summary, metrics, config, circuit; no checkpoints, policies or event files) into docs/,
# so that a session's finished cells are committed and the next session carries on:
#     docs/experiment/collect.sh results/converged docs/experiment/converged
#     git add -f docs/experiment/converged          # -f: runs/ is in .gitignore
src=$1; mkdir -p "$2"; dst=$(cd "$2" && pwd)
cd "$src" && find . -name summary.json | while read f; do d=$(dirname "$f"); mkdir -p "$dst/$d"; cp "$d"/summary.json "$d"/metrics.jsonl "$d"/config.json "$d"/circuit.json "$dst/$d/" 2>/dev/null; done
for f in tuning.json experiment.json cells.csv; do [ -f "$f" ] && cp "$f" "$dst/"; done; true
