#!/usr/bin/env bash
# Produce every figure of docs/results.md: compare on the real ULB slice (both protocols) and on
# cardio, thyroid, mammography and 50,000 synthetic rows. Runs from the repository root; the
# datasets are in ../shared/datasets (DATASETS to change). Each set's table lands in
# runs/results/<set>/summary.md (and results.json); the real sets run side by side.
#
#   bench/quality_results.sh [SEEDS]      # 5 seeds by default
set -euo pipefail
cd "$(dirname "$0")/.."
seeds="${1:-5}"
datasets="${DATASETS:-../shared/datasets}"
out=runs/results
py=.venv/bin/python
mkdir -p "$out"
[ -f "$out/synthetic-50k.csv" ] ||
    $py -m training synth --rows 50000 --fraud-rate 0.005 --seed 0 --out "$out/synthetic-50k.csv"

compare() {  # NAME CSV [compare options...]
    local name="$1" csv="$2"
    shift 2
    $py -m training compare --data "$csv" --seeds "$seeds" --report-dir "$out/$name" "$@" \
        >"$out/$name.md" 2>"$out/$name.log"
    echo "$name done: $out/$name/summary.md" >&2
}

both=(--protocol unsupervised,production)
compare ulb-slice "$datasets/ulb-slice.csv" "${both[@]}" &
compare cardio "$datasets/cardio.csv" "${both[@]}" &
compare thyroid "$datasets/thyroid.csv" "${both[@]}" &
compare mammography "$datasets/mammography.csv" "${both[@]}" &
wait
compare synthetic-50k "$out/synthetic-50k.csv" "${both[@]}" --methods autoencoder,isolation_forest,pca
