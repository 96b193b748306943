"""Configuration checks that a JSON schema cannot express, and derived settings.

The schema (``workflow/schemas/config.schema.yaml``) catches typos and wrong types; the checks here
catch inconsistent combinations. Every error names the config key and says what to do.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

IEMOCAP_SESSION = re.compile(r"^Session[1-9][0-9]*$")
SCHEMA_PATH = Path(__file__).resolve().parents[1] / "schemas" / "config.schema.yaml"


class ConfigError(ValueError):
    """A user-fixable problem in config.yaml; the message names the key."""


def test_sessions(config: dict[str, Any]) -> list[str]:
    """The folds to train: each fold is named after the session it tests on."""
    split = config["split"]
    if split["scheme"] == "loso":
        return list(config["corpus"]["sessions"])
    return [split["test_session"]]


def check_config(config: dict[str, Any]) -> None:
    """Raise ConfigError listing every inconsistency (after schema validation filled defaults)."""
    problems = []
    corpus = config["corpus"]
    sessions = corpus["sessions"]
    classes = corpus["classes"]
    unknown_targets = sorted(set(corpus["label_map"].values()) - set(classes))
    if unknown_targets:
        problems.append(
            f"corpus.label_map maps to {unknown_targets}, which are not in corpus.classes {classes}; "
            "add them to corpus.classes or fix the mapping"
        )
    if corpus["type"] in ("demo", "iemocap"):
        misnamed = [s for s in sessions if not IEMOCAP_SESSION.match(s)]
        if misnamed:
            problems.append(
                f"corpus.sessions: {corpus['type']} sessions are named like IEMOCAP's folders "
                f"(Session1 … Session5); got {misnamed}"
            )
    if corpus["type"] == "manifest" and not corpus.get("manifest"):
        problems.append("corpus.manifest: corpus.type is 'manifest' but no manifest file is given")
    split = config["split"]
    if split["scheme"] == "session5" and split["test_session"] not in sessions:
        problems.append(
            f"split.test_session: {split['test_session']!r} is not one of corpus.sessions {sessions}"
        )
    align = config["align"]
    if align["backend"] == "textgrid" and not align.get("textgrid_dir"):
        problems.append("align.textgrid_dir: the 'textgrid' backend needs a folder of TextGrids")
    fusion = config["fusion"]
    if fusion["weight_max"] <= fusion["weight_min"]:
        problems.append("fusion.weight_max must be larger than fusion.weight_min")
    if isinstance(fusion["context"], int) and fusion["context"] not in config["csa"]["contexts"]:
        problems.append(
            f"fusion.context: {fusion['context']} is not one of csa.contexts {config['csa']['contexts']}"
        )
    overlap = config["csa"]["overlap"]
    too_short = [c for c in config["csa"]["contexts"] if c <= overlap]
    if too_short:
        problems.append(f"csa.contexts {too_short} must be longer than csa.overlap ({overlap})")
    if problems:
        raise ConfigError("invalid configuration:\n  - " + "\n  - ".join(problems))


def load_config(path: str | Path) -> dict[str, Any]:
    """Load, schema-validate (filling defaults) and check a config file, as the workflow does."""
    from snakemake.utils import validate

    with open(path) as handle:
        config = yaml.safe_load(handle)
    validate(config, schema=str(SCHEMA_PATH))
    check_config(config)
    return config
