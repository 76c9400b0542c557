#!/usr/bin/env bash
# Copy a grid's finished runs into docs/ so that a session's finished cells are committed and the next session
# carries on: every file of a finished run (summary, metrics, config, circuit, the policy of a few KB, the cached
# probes and atlas results) but its checkpoint and its TensorBoard event files; and the tuning trials' record,
# merged into the one already there (a chunk's own tuning.json holds only that chunk's levels).
#     docs/experiment/collect.sh results/converged docs/experiment/converged
#     git add -f docs/experiment/converged          # -f: runs/ is in .gitignore
# The report of a chunk (SRC/report.md, cells.csv, experiment.json) covers that chunk only and is not copied:
# write the whole grid's interim report with `wormsim experiment --report-only --out SRC` and copy that.
# To carry on in a fresh work tree, copy it back (cp -r docs/experiment/converged/. results/converged/) and run
# the same `wormsim experiment` command: the finished cells count as done.
set -e
src=$1; mkdir -p "$2"; dst=$(cd "$2" && pwd)
cd "$src"
find . -name summary.json | while read -r f; do
    d=$(dirname "$f"); mkdir -p "$dst/$d"
    find "$d" -maxdepth 1 -type f ! -name 'checkpoint*' ! -name 'events.out.tfevents*' -exec cp {} "$dst/$d/" \;
done
if [ -f tuning.json ]; then
    python3 - tuning.json "$dst/tuning.json" <<'PY'
import json, os, sys
new = json.load(open(sys.argv[1]))
old = json.load(open(sys.argv[2])) if os.path.exists(sys.argv[2]) else {"trials": [], "choice": {}}
keep = {(t["trial"], t["key"]) for t in new["trials"]}
merged = {"trials": [t for t in old["trials"] if (t["trial"], t["key"]) not in keep] + new["trials"],
          "choice": {**old["choice"], **new["choice"]}}
tmp = sys.argv[2] + ".tmp"
with open(tmp, "w") as f:
    json.dump(merged, f, indent=2)
os.replace(tmp, sys.argv[2])
PY
fi
