#!/usr/bin/env bash
# Produce the tables behind the default's choice in docs/results.md: bench/default_choice.py on
# the real ULB slice (every protocol) and on cardio, thyroid, mammography and 50,000 synthetic
# rows. Runs from the repository root; the datasets are in ../shared/datasets (DATASETS to
# change). Each table lands in runs/default_choice/<set>.md (every measure in <set>.json);
# fitted score parts are cached in runs/default_choice/cache, so a second run only reports.
#
#   bench/default_choice.sh
set -euo pipefail
cd "$(dirname "$0")/.."
datasets="${DATASETS:-../shared/datasets}"
out=runs/default_choice
py=.venv/bin/python
mkdir -p "$out"
[ -f "$out/synthetic-50k.csv" ] ||
    $py -m training synth --rows 50000 --fraud-rate 0.005 --seed 0 --out "$out/synthetic-50k.csv"

choice() {  # NAME CSV [default_choice options...]
    local name="$1" csv="$2"
    shift 2
    $py bench/default_choice.py --data "$csv" --cache "$out/cache" --json "$out/$name.json" \
        --scores sum,error,error+code "$@" >"$out/$name.md" 2>"$out/$name.log"
    echo "$name done: $out/$name.md" >&2
}

ulb="$datasets/ulb-slice.csv"
choice ulb-production "$ulb" --protocol production --seeds 20
choice ulb-time "$ulb" --protocol time,time-thinned,natural --seeds 10
choice ulb-labelled "$ulb" --protocol labelled --seeds 10 --networks default
for name in cardio thyroid mammography; do
    choice "$name" "$datasets/$name.csv" --protocol natural,production --seeds 10
done
choice synthetic-50k "$out/synthetic-50k.csv" --protocol natural,production --seeds 5 \
    --networks default,central --versus isolation_forest
