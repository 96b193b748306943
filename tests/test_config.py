"""Config validation: every schema problem at once, one line each naming the key path, the value
and what is allowed; semantic checks name their key; session numbers; overlays. ~15 s."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml
from conftest import REPO, TINY_CONFIG, run_snakemake

from emocue.config import ConfigError, fold_names, load_config, section_defaults, validate_config

DEFAULT_CONFIG = REPO / "config.yaml"


def default_config() -> dict:
    return yaml.safe_load(DEFAULT_CONFIG.read_text())


def write_config(tmp_path: Path, mutate) -> Path:
    config = default_config()
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
    assert config["corpus"]["subset"] == "all"


def test_default_label_map_is_iem4():
    corpus = load_config(DEFAULT_CONFIG)["corpus"]
    assert corpus["label_map"] == {"neu": "neutral", "hap": "happy", "exc": "happy", "ang": "angry", "sad": "sad"}


def test_defaults_are_copies():
    first, second = default_config(), default_config()
    validate_config(first)
    validate_config(second)
    first["align"]["mfa"]["extra_args"].append("--x")
    assert second["align"]["mfa"]["extra_args"] == []


def test_settings_defaults_are_the_schema_defaults(monkeypatch):
    """The settings dataclasses hold no defaults of their own: a default changed in the schema is
    the default of the dataclass (config.schema.yaml is their one place), nested sections too."""
    from emocue import config as config_module
    from emocue.augment import SpecAugmentSettings
    from emocue.scoring import EvaluationSettings
    from emocue.split import SplitSettings

    assert section_defaults("augment") == {"speed_factors": [], "spec_augment": {
        "time_masks": 0, "time_mask_width": 20, "freq_masks": 0, "freq_mask_width": 4}}
    schema = copy.deepcopy(config_module.load_schema())
    schema["properties"]["split"]["properties"]["validation_fraction"]["default"] = 0.25
    spec_augment = schema["properties"]["augment"]["properties"]["spec_augment"]["properties"]
    spec_augment["time_masks"]["default"] = 3
    schema["properties"]["evaluation"]["properties"]["bootstrap"]["default"] = 123
    monkeypatch.setattr(config_module, "load_schema", lambda: schema)
    assert SplitSettings.defaults().validation_fraction == 0.25
    assert SplitSettings.defaults(scheme="loso").scheme == "loso"
    assert SpecAugmentSettings.defaults().time_masks == 3
    assert EvaluationSettings.defaults().bootstrap == 123
    assert EvaluationSettings.defaults(seed=4).seed == 4


SCHEMA_ERRORS = {
    "typo top-level key": (lambda c: c.update(featurs={"num_mel_bins": 23}),
                           "featurs: unknown key (allowed here: align, "),
    "typo nested key": (lambda c: c["corpus"].update(typ="demo"), "corpus.typ: unknown key"),
    "wrong type": (lambda c: c["features"].update(num_mel_bins="23"),
                   "features.num_mel_bins = '23': must be an integer"),
    "bad enum": (lambda c: c["features"].update(normalisation="global"),
                 "features.normalisation = 'global': must be one of 'speaker', 'utterance', 'none'"),
    "bad on_bad_input": (lambda c: c.update(on_bad_input="ignore"),
                         "on_bad_input = 'ignore': must be one of 'fail', 'skip'"),
    "missing required": (lambda c: c["corpus"].pop("root"), "corpus.root: required key is missing"),
    "list item": (lambda c: c["corpus"]["sessions"].append("Session 6"),
                  "corpus.sessions[5] = 'Session 6': must be text matching"),
    "one of": (lambda c: c["fusion"].update(context=5), "fusion.context = 5: must be one of 'best' or an integer >= 11"),
}


@pytest.mark.parametrize("name", SCHEMA_ERRORS)
def test_schema_error_names_key_value_and_what_is_allowed(tmp_path, name):
    mutate, expected = SCHEMA_ERRORS[name]
    with pytest.raises(ConfigError) as error:
        load_config(write_config(tmp_path, mutate))
    assert expected in str(error.value)


def test_every_schema_error_is_reported_at_once_without_a_schema_dump(tmp_path):
    def break_everything(config):
        for mutate, _ in SCHEMA_ERRORS.values():
            mutate(config)

    with pytest.raises(ConfigError) as error:
        load_config(write_config(tmp_path, break_everything))
    message = str(error.value)
    for _, expected in SCHEMA_ERRORS.values():
        assert expected in message
    lines = message.splitlines()
    assert len(lines) == 1 + len(SCHEMA_ERRORS)  # a header, then one line per problem
    assert "did you mean 'features'?" in message
    assert "$ref" not in message and "additionalProperties" not in message


def test_semantic_error_names_the_key(tmp_path):
    path = write_config(tmp_path, lambda c: c["corpus"]["label_map"].update(fru="frustrated"))
    with pytest.raises(ConfigError, match=r"corpus.label_map.*frustrated"):
        load_config(path)
    path = write_config(tmp_path, lambda c: c["corpus"].update(type="manifest"))
    with pytest.raises(ConfigError, match="corpus.manifest"):
        load_config(path)


def test_numeric_sessions_are_compared_as_text():
    config = default_config()
    config["corpus"].update(type="manifest", manifest="m.tsv", sessions=[1, 2, 3, 4, 5])
    config["split"]["test_session"] = 5
    config["align"]["backend"] = "none"  # the demo's TextGrids are not this corpus's (issue 11.14)
    validate_config(config)
    assert config["corpus"]["sessions"] == ["1", "2", "3", "4", "5"]
    assert config["split"]["test_session"] == "5"
    config["split"]["scheme"] = "loso"
    assert fold_names(config) == ["1", "2", "3", "4", "5"]


def test_emodb_speaker_numbers_keep_two_digits():
    config = default_config()
    config["corpus"].update(type="emodb", root="download", sessions=[3, "08", 9, 10],
                            label_map={"N": "neutral", "F": "happy", "W": "angry", "T": "sad"})
    config["split"]["test_session"] = 3
    config["align"]["backend"] = "emodb"
    validate_config(config)
    assert config["corpus"]["sessions"] == ["03", "08", "09", "10"]
    assert config["split"]["test_session"] == "03"
    config["corpus"]["sessions"] = ["Session1", "08"]
    with pytest.raises(ConfigError, match=r"corpus.sessions: EmoDB .*'Session1'"):
        validate_config(config)


def test_subset_needs_iemocap_dialog_names():
    config = default_config()
    config["corpus"].update(type="manifest", manifest="m.tsv", subset="improvised")
    with pytest.raises(ConfigError, match="corpus.subset: 'improvised' needs IEMOCAP dialog names"):
        validate_config(config)


def test_label_map_entries_merged_from_config_yaml_are_named_with_the_fix():
    config = default_config()
    config["corpus"]["classes"] = ["neutral", "angry"]
    overlay = {"corpus": {"label_map": {"neu": "neutral", "ang": "angry"}, "classes": ["neutral", "angry"]}}
    with pytest.raises(ConfigError) as error:
        validate_config(config, overlay)
    message = str(error.value)
    assert "'hap': 'happy'" in message and "--replace-workflow-config" in message
    assert "never remove config.yaml's" in message
    # Valid but merged: a warning for the log.
    config = default_config()
    warnings = validate_config(config, {"corpus": {"label_map": {"neu": "neutral"}}})
    assert len(warnings) == 1 and "'exc': 'happy'" in warnings[0] and "--replace-workflow-config" in warnings[0]
    assert validate_config(default_config(), {"corpus": {"sessions": ["Session1", "Session5"]}}) == []


def test_snakemake_refuses_a_bad_config_before_any_job(tmp_path):
    def break_two_keys(config):
        config["features"]["frame_shift_ms"] = "10 ms"
        config["corpus"]["sessions"][0] = "Session 1"

    bad = write_config(tmp_path, break_two_keys)
    proc = run_snakemake(tmp_path / "work", "-n", configfile=bad, check=False)
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "features.frame_shift_ms = '10 ms': must be a number" in output
    assert "corpus.sessions[0] = 'Session 1'" in output
    assert "additionalProperties" not in output  # no schema dump
    assert not (tmp_path / "work" / "results").exists()


def test_snakemake_names_the_overlay_fix_for_a_label_map_it_cannot_shrink(tmp_path):
    workdir = tmp_path / "work"  # run where config.yaml is, as a user does: the overlay merges into it
    workdir.mkdir()
    (workdir / "config.yaml").write_text(DEFAULT_CONFIG.read_text())
    overlay = tmp_path / "overlay.yaml"
    overlay.write_text(yaml.safe_dump({"corpus": {"label_map": {"neu": "neutral", "ang": "angry"},
                                                  "classes": ["neutral", "angry"]}}))
    proc = run_snakemake(workdir, "-n", configfile=overlay, check=False)
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "--replace-workflow-config" in output and "'sad': 'sad'" in output
