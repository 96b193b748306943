"""Config validation: the schema names the offending key, semantic checks name theirs. ~5 s."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from conftest import REPO, TINY_CONFIG, run_snakemake
from snakemake.exceptions import WorkflowError

from emocue.config import ConfigError, load_config

DEFAULT_CONFIG = REPO / "config.yaml"


def write_config(tmp_path: Path, mutate) -> Path:
    config = yaml.safe_load(DEFAULT_CONFIG.read_text())
    mutate(config)
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.mark.parametrize("path", [DEFAULT_CONFIG, TINY_CONFIG], ids=["default", "tiny"])
def test_shipped_configs_are_valid(path):
    config = load_config(path)
    assert config["features"]["num_mel_bins"] == 23  # defaults are filled in
    assert config["features"]["normalisation"] in ("speaker", "utterance", "none")
    assert config["on_bad_input"] == "fail"


def test_default_label_map_is_iem4():
    corpus = load_config(DEFAULT_CONFIG)["corpus"]
    assert corpus["label_map"] == {"neu": "neutral", "hap": "happy", "exc": "happy", "ang": "angry", "sad": "sad"}


SCHEMA_ERRORS = {
    "typo top-level key": (lambda c: c.update(featurs={"num_mel_bins": 23}), "'featurs' was unexpected"),
    "typo nested key": (lambda c: c["corpus"].update(typ="demo"), "'typ' was unexpected"),
    "wrong type": (lambda c: c["features"].update(num_mel_bins="23"), "num_mel_bins"),
    "bad enum": (lambda c: c["features"].update(normalisation="global"), "normalisation"),
    "bad on_bad_input": (lambda c: c.update(on_bad_input="ignore"), "on_bad_input"),
    "missing required": (lambda c: c["corpus"].pop("root"), "'root' is a required property"),
}


@pytest.mark.parametrize("name", SCHEMA_ERRORS)
def test_schema_error_names_the_key(tmp_path, name):
    mutate, expected = SCHEMA_ERRORS[name]
    with pytest.raises(WorkflowError, match=expected):
        load_config(write_config(tmp_path, mutate))


def test_semantic_error_names_the_key(tmp_path):
    path = write_config(tmp_path, lambda c: c["corpus"]["label_map"].update(fru="frustrated"))
    with pytest.raises(ConfigError, match=r"corpus.label_map.*frustrated"):
        load_config(path)
    path = write_config(tmp_path, lambda c: c["corpus"].update(type="manifest"))
    with pytest.raises(ConfigError, match="corpus.manifest"):
        load_config(path)


def test_snakemake_refuses_a_bad_config_before_any_job(tmp_path):
    bad = write_config(tmp_path, lambda c: c["features"].update(frame_shift_ms="10 ms"))
    proc = run_snakemake(tmp_path / "work", "-n", configfile=bad, check=False)
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "frame_shift_ms" in output and "is not of type 'number'" in output
    assert not (tmp_path / "work" / "results").exists()
