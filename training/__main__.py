"""Command line: python -m training {synth,fit,score,evaluate,compare} ..."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

from training.options import build_parser, fit_config, names, variant_configs
from training.scoring.errors import OptionError, TrainingError


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit code."""
    args = build_parser().parse_args(argv)
    try:
        return _HANDLERS[args.command](args)
    except TrainingError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def _synth(args) -> int:
    from training.datasets.synth import synthesize

    frame = synthesize(args.rows, args.fraud_rate, args.seed)
    _write_csv_atomically(frame, args.out)
    print(f"wrote {len(frame)} rows ({int(frame['Class'].sum())} frauds) to {args.out}")
    return 0


def _fit(args) -> int:
    from training.commands import run_fit

    config = fit_config(args)
    manifest = run_fit(args.data, args.model_dir, config)
    print(f"wrote bundle {manifest['model_version']} to {args.model_dir}")
    return 0


def _score(args) -> int:
    import pandas as pd

    from training.commands import run_score
    from training.scoring.scorer import score_columns

    scored = run_score(args.model_dir, args.data)
    frame = pd.DataFrame(score_columns(scored))
    _write_csv_atomically(frame, args.out)
    print(f"scored {len(frame)} rows, {int(scored.alerts.sum())} alerts, to {args.out}")
    return 0


def _evaluate(args) -> int:
    from training.commands import run_evaluate

    if not 0 < args.prevalence < 1:
        raise OptionError(f"--prevalence must be in (0, 1), got {args.prevalence}")
    m = run_evaluate(args.model_dir, args.data, args.report_dir, args.prevalence)
    print(
        f"ROC AUC {m['roc_auc']:.4f}  average precision {m['average_precision']:.4f}  "
        f"precision {m['precision']:.3f}  recall {m['recall']:.3f} at threshold "
        f"{m['threshold']:.4g}; report in {args.report_dir}"
        if m["roc_auc"] is not None
        else f"the labels hold one class only; report in {args.report_dir}"
    )
    production = m.get("at_prevalence")
    if production:
        print(
            f"at a production fraud rate of {production['prevalence']:g}: average precision "
            f"{production['average_precision']:.4f}  precision {production['precision']:.3f}  "
            f"recall {production['recall']:.3f}  alert rate {production['alert_rate']:.4f}"
        )
    for stage in ("supervised", "both"):
        if stage in m and m[stage]["roc_auc"] is not None:
            s = m[stage]
            at = s.get("at_prevalence") or {}
            print(
                f"{stage}: ROC AUC {s['roc_auc']:.4f}  average precision "
                f"{s['average_precision']:.4f}  precision {s['precision']:.3f}  "
                f"recall {s['recall']:.3f}"
                + (f"  AP at production rate {at['average_precision']:.4f}" if at else "")
            )
    return 0


def _compare(args) -> int:
    from training.commands import run_compare, run_new_fraud_compare
    from training.comparison.compare import (
        LABELLED_METHODS,
        METHODS,
        NEW_FRAUD,
        PROTOCOLS,
        autoencoder_method,
    )

    if args.seeds < 1:
        raise OptionError(f"--seeds must be at least 1, got {args.seeds}")
    if not 0 < args.prevalence < 1:
        raise OptionError(f"--prevalence must be in (0, 1), got {args.prevalence}")
    chosen = names(args.methods)
    known = METHODS | LABELLED_METHODS
    unknown = [m for m in chosen if m not in known]
    if unknown or not chosen:
        raise OptionError(f"unknown method(s) {unknown}; choose from {', '.join(known)}")
    protocols = PROTOCOLS if args.protocol == "all" else names(args.protocol)
    bad = [p for p in protocols if p not in (*PROTOCOLS, NEW_FRAUD)]
    if bad or not protocols:
        raise OptionError(
            f"unknown protocol(s) {bad}; choose from {', '.join(PROTOCOLS)}, {NEW_FRAUD} or all"
        )
    variants = variant_configs(args.variant, tuple(known))
    methods = {m: known[m] for m in chosen} | {
        label: autoencoder_method(config) for label, config in variants.items()
    }
    if NEW_FRAUD in protocols:
        print(
            run_new_fraud_compare(
                args.data, args.seeds, args.prevalence, args.label_column, names(args.drop_columns)
            )
            + "\n"
        )
        protocols = tuple(p for p in protocols if p != NEW_FRAUD)
        if not protocols:
            return 0
    table = run_compare(
        args.data,
        methods,
        seeds=args.seeds,
        protocols=protocols,
        prevalence=args.prevalence,
        label_column=args.label_column,
        drop_columns=names(args.drop_columns),
        report_dir=args.report_dir,
    )
    print(table)
    if args.report_dir:
        print(f"\nreport in {args.report_dir}")
    return 0


def _write_csv_atomically(frame, path: Path, **options) -> None:
    if path.is_dir():
        raise OptionError(f"{path}: is a directory; --out needs a file path")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", newline="") as handle:
            frame.to_csv(handle, index=False, **options)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


_HANDLERS = {
    "synth": _synth,
    "fit": _fit,
    "score": _score,
    "evaluate": _evaluate,
    "compare": _compare,
}


if __name__ == "__main__":
    sys.exit(main())
