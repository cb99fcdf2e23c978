import json
import sys
from dataclasses import replace

import numpy as np
import pytest
from stage_helpers import fit_test_stage, labelled_rows, small_detector

from training.scoring.bundle import (
    MANIFEST,
    STAGE_FILE,
    load_scorer,
    save_bundle,
    stage_entry,
    write_stage,
)
from training.scoring.decision import Decision
from training.scoring.detector import is_alert
from training.scoring.errors import BundleError
from training.scoring.scorer import Scored, Scorer

pytest.importorskip("lightgbm")


@pytest.fixture(scope="module")
def fitted():
    rng = np.random.default_rng(11)
    x, y = labelled_rows(rng, rows=900, frauds=50)
    detector = small_detector(rng)
    detector = replace(detector, threshold=float(np.quantile(detector.score(x), 0.95)))
    stage = fit_test_stage(detector, x, y, np.arange(0, 900, 2), np.arange(1, 900, 2), seed=1)
    decision = Decision(0.4, detector.threshold)
    return detector, stage, decision, x


def test_without_a_stage_the_scorer_is_the_autoencoder_alone(fitted):
    detector, _, _, x = fitted
    scored = Scorer(detector).score(x)
    assert scored.probability is None
    np.testing.assert_array_equal(scored.score, detector.score(x))
    np.testing.assert_array_equal(scored.alerts, is_alert(detector.score(x), detector.threshold))
    assert {tuple(r) for r in scored.reasons} <= {(), ("autoencoder",)}


def test_with_a_stage_alerts_and_reasons_follow_the_decision(fitted):
    detector, stage, decision, x = fitted
    scored = Scorer(detector, stage, decision).score(x)
    p = stage.probability(detector, x)
    np.testing.assert_array_equal(scored.probability, p)
    np.testing.assert_array_equal(scored.alerts, decision.alerts(p, detector.score(x)))
    assert scored.reasons == decision.reasons(p, detector.score(x))
    assert any(r == ["supervised"] for r in scored.reasons)


def test_a_stage_on_the_score_parts_shares_the_autoencoders_forward_pass(fitted, monkeypatch):
    detector, _, decision, x = fitted
    y = (np.arange(len(x)) % 9 == 0).astype(int)
    stage = fit_test_stage(detector, x, y, np.arange(0, 900, 2), np.arange(1, 900, 2), "parts", 1)
    expected = stage.probability(detector, x)  # the stage's own pass for its parts
    contributions = detector.contributions(x)
    passes = []
    forward = type(detector.networks[0]).forward
    monkeypatch.setattr(
        type(detector.networks[0]), "forward", lambda n, v: passes.append(1) or forward(n, v)
    )
    scored = Scorer(detector, stage, decision).score(x)
    assert len(passes) == len(detector.networks)  # one pass per network, not two
    np.testing.assert_array_equal(scored.probability, expected)
    np.testing.assert_array_equal(scored.contributions, contributions)


def test_a_stage_and_its_decision_come_together(fitted):
    detector, stage, _, _ = fitted
    with pytest.raises(ValueError, match="come together"):
        Scorer(detector, stage, None)


def _save(tmp_path, fitted, name="bundle"):
    detector, stage, decision, _ = fitted
    target = tmp_path / name
    fields = {"supervised": stage_entry(stage, decision, detector.feature_names)}
    save_bundle(target, detector, fields, lambda staging: write_stage(staging, stage))
    return target


def test_a_bundle_with_a_stage_loads_and_scores_as_it_was_saved(tmp_path, fitted):
    detector, stage, decision, x = fitted
    _, scorer = load_scorer(_save(tmp_path, fitted))
    expected = Scorer(detector, stage, decision).score(x)
    loaded = scorer.score(x)
    np.testing.assert_array_equal(loaded.probability, expected.probability)
    np.testing.assert_array_equal(loaded.alerts, expected.alerts)
    assert scorer.decision == decision


def _edit(path, change):
    manifest = json.loads((path / MANIFEST).read_text())
    change(manifest["supervised"])
    (path / MANIFEST).write_text(json.dumps(manifest))


@pytest.mark.parametrize(
    ("breakage", "message"),
    [
        (lambda p: (p / STAGE_FILE).unlink(), "supervised.txt: missing"),
        (lambda p: (p / STAGE_FILE).write_text("tree\nend of trees\n"), "sha256"),
        (lambda p: _edit(p, lambda e: e.pop("decision")), "needs a 'decision'"),
        (
            lambda p: _edit(p, lambda e: e["decision"].update(score_threshold=9.0)),
            "differs from threshold.value",
        ),
        (
            lambda p: _edit(p, lambda e: e["decision"].update(probability_threshold=-1)),
            "out of range",
        ),
        (
            lambda p: _edit(p, lambda e: e["decision"].update(probability_floor="low")),
            "probability_floor must be a number",
        ),
        (
            lambda p: _edit(p, lambda e: e["decision"].update(probability_floor=1.5)),
            r"probability_floor must be in \[0, 1\]",
        ),
        (lambda p: _edit(p, lambda e: e.update(format="skops")), "unknown stage format"),
        (lambda p: _edit(p, lambda e: e.update(model_file="../x.txt")), "model_file"),
    ],
)
def test_a_broken_stage_fails_to_load_naming_the_file_and_problem(
    tmp_path, fitted, breakage, message
):
    path = _save(tmp_path, fitted)
    breakage(path)
    with pytest.raises(BundleError, match=message):
        load_scorer(path)


def test_a_bundle_written_before_the_floor_loads_with_no_veto(tmp_path, fitted):
    path = _save(tmp_path, fitted)
    _edit(path, lambda e: e["decision"].pop("probability_floor"))
    _, scorer = load_scorer(path)
    assert scorer.decision is not None and scorer.decision.probability_floor == 0.0


def test_the_floor_survives_the_bundle(tmp_path, fitted):
    detector, stage, decision, x = fitted
    floored = (stage, replace(decision, probability_floor=0.05))
    _, scorer = load_scorer(_save(tmp_path, (detector, *floored, x)))
    assert scorer.decision == floored[1]


def test_without_lightgbm_an_autoencoder_bundle_scores_and_a_stage_bundle_says_what_to_install(
    tmp_path, fitted, monkeypatch
):
    detector, _, _, x = fitted
    plain = tmp_path / "plain"
    save_bundle(plain, detector, {})
    with_stage = _save(tmp_path, fitted)
    monkeypatch.setitem(sys.modules, "lightgbm", None)  # import lightgbm now fails
    _, scorer = load_scorer(plain)
    np.testing.assert_array_equal(scorer.score(x).score, detector.score(x))
    with pytest.raises(BundleError, match=r"needs LightGBM: pip install 'fraudstream\[stage\]'"):
        load_scorer(with_stage)


def test_a_stage_whose_trees_rank_frauds_below_normal_rows_is_dropped():
    """A stage with a negative calibration slope is refused: its bundle could not load."""
    from types import SimpleNamespace

    from training.fitting.stage import check_ranking
    from training.scoring.stage import Calibration, StageError

    backwards = SimpleNamespace(calibration=Calibration(slope=-0.5, intercept=0.0))
    with pytest.raises(StageError, match="calibration slope -0.5"):
        check_ranking(backwards)


def test_one_rows_reasons_are_that_rows_part_of_all_reasons():
    scored = Scored(
        np.zeros((3, 2)),
        np.array([0.9, 0.1, 0.9]),
        {"supervised": np.array([True, False, True]), "autoencoder": np.array([False, True, True])},
    )
    assert scored.alerts.tolist() == [True, True, True]
    assert [scored.reasons_at(row) for row in range(3)] == scored.reasons
    assert scored.reasons == [["supervised"], ["autoencoder"], ["supervised", "autoencoder"]]
