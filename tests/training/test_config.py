"""Fit settings: command-line options reach FitConfig, and bad values are refused."""

import pytest

from training.fitting.config import PRESETS, FitConfig
from training.options import build_parser, fit_config
from training.scoring.errors import OptionError


def test_score_part_and_scaling_options_reach_the_config():
    args = ["fit", "--data", "d.csv", "--model-dir", "m"]
    default = fit_config(build_parser().parse_args(args))
    assert default.log_columns == ("Amount",) and default.reconstruction_distance
    assert default.scaling == "auto"
    changed = fit_config(
        build_parser().parse_args(
            [*args, "--log-columns", "Amount, Fee", "--reconstruction-distance", "off"]
        )
    )
    assert changed.log_columns == ("Amount", "Fee") and not changed.reconstruction_distance
    none = fit_config(build_parser().parse_args([*args, "--log-columns", ""]))
    assert none.log_columns == ()


def test_reference_preset_keeps_the_tutorial_scaling_and_score():
    reference = PRESETS["reference"]
    assert reference.scaling == "standard" and reference.log_columns == ()
    assert not reference.code_distance and not reference.reconstruction_distance


def test_log_columns_must_be_names():
    with pytest.raises(OptionError, match="--log-columns must be a list of column names"):
        FitConfig(log_columns="Amount")  # a string would match its letters
    message = "--scaling must be one of auto, central, robust, standard"
    with pytest.raises(OptionError, match=message):
        FitConfig(scaling="minmax")


def test_veto_must_be_base_rate_or_none():
    assert FitConfig().veto == "base-rate" and FitConfig(veto="none").veto == "none"
    with pytest.raises(OptionError, match="--veto must be one of base-rate, none"):
        FitConfig(veto="off")
