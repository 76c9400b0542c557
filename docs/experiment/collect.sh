#!/usr/bin/env bash
# Copy a grid's finished runs into docs/ so that a session's finished cells are committed and the next session
# carries on: every file of a finished run (summary, metrics, config, circuit, the policy of a few KB, the cached
# probes and atlas results) but its checkpoint and its TensorBoard event files.
#     docs/experiment/collect.sh results/converged docs/experiment/converged
#     git add -f docs/experiment/converged          # -f: runs/ is in .gitignore
# To carry on in a fresh work tree, copy it back (cp -r docs/experiment/converged/. results/converged/) and run
# the same `wormsim experiment` command: the finished cells count as done.
set -e
src=$1; mkdir -p "$2"; dst=$(cd "$2" && pwd)
cd "$src"
find . -name summary.json | while read -r f; do
    d=$(dirname "$f"); mkdir -p "$dst/$d"
    find "$d" -maxdepth 1 -type f ! -name 'checkpoint*' ! -name 'events.out.tfevents*' -exec cp {} "$dst/$d/" \;
done
for f in tuning.json experiment.json cells.csv report.md; do [ -f "$f" ] && cp "$f" "$dst/"; done; true
