"""Configuration: schema validation (filling defaults), checks a schema cannot express, and
derived settings.

The schema (``workflow/schemas/config.schema.yaml``) catches typos and wrong types; every problem
is reported at once, one line each naming the key path, the bad value and what is allowed
(:func:`validate_config`). The checks here catch inconsistent combinations. Every error names the
config key and says what to do.
"""

from __future__ import annotations

import copy
import difflib
import re
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator, validators

IEMOCAP_SESSION = re.compile(r"^Session[1-9][0-9]*$")
EMODB_SPEAKER = re.compile(r"^\d\d$")
SCHEMA_PATH = Path(__file__).resolve().parents[1] / "schemas" / "config.schema.yaml"
# Where Snakemake's deep merge of a --configfile overlay bites: a mapping an overlay cannot shrink.
OVERLAY_FIX = ("Snakemake merges a --configfile into the workflow's config.yaml, so an overlay can add "
               "label_map entries but never remove config.yaml's; run with --replace-workflow-config "
               "and a complete config file (or edit config.yaml)")


class ConfigError(ValueError):
    """A user-fixable problem in config.yaml; the message names the key."""


def fold_names(config: dict[str, Any]) -> list[str]:
    """The folds to train, each named after what it holds out for testing (a session today).

    Not named test_*: pytest would collect it wherever a test module imports it.
    """
    split = config["split"]
    if split["scheme"] == "loso":
        return list(config["corpus"]["sessions"])
    if split["scheme"] == "loso_speaker":
        return speaker_folds(config)
    return [split["test_session"]]


def speaker_folds(config: dict[str, Any]) -> list[str]:
    """loso_speaker folds: ``split.speakers``, else IEMOCAP's two speakers of every session
    (Session1 -> Ses01F, Ses01M, as emocue.corpus.iemocap_speaker names them); EmoDB's sessions
    are its speakers."""
    if config["split"]["speakers"]:
        return list(config["split"]["speakers"])
    if config["corpus"]["type"] == "emodb":
        return list(config["corpus"]["sessions"])
    if config["corpus"]["type"] not in ("demo", "iemocap"):
        raise ConfigError(f"split.speakers: split.scheme loso_speaker on a {config['corpus']['type']} corpus "
                          "needs the list of speakers (one fold each); add it to the config")
    numbers = [int(session.removeprefix("Session")) for session in config["corpus"]["sessions"]]
    return [f"Ses{number:02d}{gender}" for number in numbers for gender in "FM"]


def training_sessions(config: dict[str, Any]) -> list[str]:
    """Sessions some fold trains on (speed perturbation is computed for these only)."""
    sessions = list(config["corpus"]["sessions"])
    if config["split"]["scheme"] == "session5":
        return [s for s in sessions if s != config["split"]["test_session"]]
    return sessions


# ---- schema validation ----------------------------------------------------------------------------


@lru_cache(maxsize=1)
def load_schema() -> dict[str, Any]:
    return yaml.safe_load(SCHEMA_PATH.read_text())


def _with_defaults(validator_class):
    """A validator that fills each missing property's schema default (a copy) as it validates, so
    nested defaults of a defaulted section are filled too (jsonschema FAQ; as snakemake.utils.validate)."""
    validate_properties = validator_class.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for name, subschema in properties.items():
                if "default" in subschema and name not in instance:
                    instance[name] = copy.deepcopy(subschema["default"])
        yield from validate_properties(validator, properties, instance, schema)

    return validators.extend(validator_class, {"properties": set_defaults})


DefaultFillingValidator = _with_defaults(Draft202012Validator)


def section_defaults(*keys: str) -> dict[str, Any]:
    """The schema's defaults of one config section, nested sections filled too: the settings
    dataclasses take their defaults from here, so config.schema.yaml is their one place.
    ``section_defaults("augment", "spec_augment")`` → ``{"time_masks": 0, ...}``."""
    root = load_schema()
    node: Mapping[str, Any] = root
    for key in keys:
        node = node["properties"][key]
        if "$ref" in node:
            node = root["definitions"][node["$ref"].rsplit("/", 1)[-1]]
    section: dict[str, Any] = {}
    for _ in DefaultFillingValidator({**node, "definitions": root["definitions"]}).iter_errors(section):
        pass  # filling is a side effect of validating; a required key without a default is no concern here
    return section


def key_path(path) -> str:
    """`corpus.sessions[2]` for the path ('corpus', 'sessions', 2)."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(top level)"


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


_TYPE_NAMES = {"string": "text", "integer": "an integer", "number": "a number", "boolean": "true/false",
               "array": "a list", "object": "a mapping", "null": "null"}
_BOUNDS = {"minimum": ">=", "maximum": "<=", "exclusiveMinimum": ">", "exclusiveMaximum": "<"}


def describe_schema(schema: Mapping[str, Any]) -> str:
    """What a (sub)schema allows, in a few words: `an integer >= 11`, `one of 'best'`."""
    if "$ref" in schema:
        referenced = load_schema()["definitions"][schema["$ref"].rsplit("/", 1)[-1]]
        schema = {**referenced, **{k: v for k, v in schema.items() if k != "$ref"}}
    if "enum" in schema:
        return "one of " + ", ".join(map(repr, schema["enum"]))
    for combinator in ("oneOf", "anyOf"):
        if combinator in schema:
            return " or ".join(describe_schema(option) for option in schema[combinator])
    types = schema.get("type", [])
    words = [" or ".join(_TYPE_NAMES.get(name, name) for name in ([types] if isinstance(types, str) else types))]
    words += [f"{sign} {schema[bound]}" for bound, sign in _BOUNDS.items() if bound in schema]
    if "pattern" in schema:
        words.append(f"matching {schema['pattern']}")
    return " ".join(word for word in words if word) or "a valid value"


def _allowed(error) -> str:
    """What the failed keyword allows, for one error."""
    keyword, value = error.validator, error.validator_value
    if keyword in ("type", "enum", "pattern", "oneOf", "anyOf") or keyword in _BOUNDS:
        return "must be " + describe_schema(error.schema if keyword in ("oneOf", "anyOf") else {keyword: value})
    if keyword == "minItems":
        return f"must have at least {value} item(s)"
    if keyword == "maxItems":
        return f"must have at most {value} item(s)"
    if keyword == "uniqueItems":
        return "must not repeat an item"
    if keyword == "minProperties":
        return f"must have at least {value} entry(ies)"
    return error.message.replace(repr(error.instance), "the value")


def _error_lines(error) -> list[str]:
    """One line per problem of a jsonschema error: key path, bad value, what is allowed."""
    path = list(error.absolute_path)
    if error.validator == "additionalProperties":
        allowed = sorted(error.schema.get("properties", {}))
        lines = []
        for key in sorted(set(error.instance) - set(allowed)):
            close = difflib.get_close_matches(key, allowed, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            lines.append(f"{key_path([*path, key])}: unknown key (allowed here: {', '.join(allowed)}){hint}")
        return lines
    if error.validator == "required":
        return [f"{key_path([*path, key])}: required key is missing"
                for key in error.validator_value if key not in error.instance]
    return [f"{key_path(path)} = {_short(error.instance)}: {_allowed(error)}"]


def schema_problems(config: dict[str, Any]) -> list[str]:
    """Every schema violation of `config`, one line each (defaults are filled in place)."""
    errors = DefaultFillingValidator(load_schema()).iter_errors(config)
    return sorted({line for error in errors for line in _error_lines(error)})


def normalise_sessions(config: dict[str, Any]) -> None:
    """Session values as text, as the corpus has them: `sessions: [1, 2]` (the natural YAML for a
    manifest's numeric session column) means "1", "2"; EmoDB speaker numbers keep two digits (3 -> "03")."""
    emodb = config["corpus"]["type"] == "emodb"

    def as_text(value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, int):
            return value
        return f"{value:02d}" if emodb else str(value)

    config["corpus"]["sessions"] = [as_text(session) for session in config["corpus"]["sessions"]]
    split = config["split"]
    split["test_session"] = as_text(split["test_session"])
    if split.get("speakers"):
        split["speakers"] = [as_text(speaker) for speaker in split["speakers"]]


def merged_label_map_entries(config: dict[str, Any], overlay: Mapping[str, Any] | None) -> dict[str, str]:
    """label_map entries the config has but an overlay that sets label_map did not write (Snakemake
    merged them in from the workflow's config.yaml)."""
    written = ((overlay or {}).get("corpus") or {}).get("label_map")
    if not isinstance(written, Mapping):
        return {}
    return {raw: label for raw, label in config["corpus"]["label_map"].items() if raw not in written}


def validate_config(config: dict[str, Any], overlay: Mapping[str, Any] | None = None) -> list[str]:
    """Validate `config` in place as the workflow does: schema (filling defaults; every problem at
    once), session values as text, then :func:`check_config`. `overlay` is what --configfile/--config
    gave (Snakemake's ``workflow.config_settings.overwrite_config``; None with
    --replace-workflow-config). Returns warnings for the log."""
    problems = schema_problems(config)
    if problems:
        raise ConfigError(f"invalid configuration ({len(problems)} problem(s); each line names the key, "
                          "the value and what is allowed):\n  - " + "\n  - ".join(problems))
    normalise_sessions(config)
    check_config(config, overlay)
    merged = merged_label_map_entries(config, overlay)
    if merged:
        return [f"corpus.label_map also holds {merged}, which your --configfile did not write: {OVERLAY_FIX}"]
    return []


# ---- checks a schema cannot express -------------------------------------------------------------


def check_config(config: dict[str, Any], overlay: Mapping[str, Any] | None = None) -> None:
    """Raise ConfigError listing every inconsistency (after schema validation filled defaults)."""
    problems = []
    corpus = config["corpus"]
    sessions = corpus["sessions"]
    classes = corpus["classes"]
    unknown_targets = sorted(set(corpus["label_map"].values()) - set(classes))
    if unknown_targets:
        merged = {raw: label for raw, label in merged_label_map_entries(config, overlay).items()
                  if label in unknown_targets}
        problems.append(
            f"corpus.label_map maps to {unknown_targets}, which are not in corpus.classes {classes}; "
            "add them to corpus.classes or fix the mapping"
            + (f". The entries {merged} are not in your --configfile: {OVERLAY_FIX}" if merged else "")
        )
    if corpus["type"] in ("demo", "iemocap"):
        misnamed = [s for s in sessions if not IEMOCAP_SESSION.match(s)]
        if misnamed:
            problems.append(
                f"corpus.sessions: {corpus['type']} sessions are named like IEMOCAP's folders "
                f"(Session1 … Session5); got {misnamed}"
            )
    elif corpus.get("subset", "all") != "all":
        problems.append(f"corpus.subset: {corpus['subset']!r} needs IEMOCAP dialog names (corpus.type "
                        f"iemocap or demo); a {corpus['type']} corpus takes `subset: all`")
    if corpus["type"] == "emodb":
        misnamed = [s for s in sessions if not EMODB_SPEAKER.match(s)]
        if misnamed:
            problems.append(f"corpus.sessions: EmoDB sessions are its two-digit speaker numbers "
                            f"(03, 08, …, 16); got {misnamed}")
    if corpus["type"] == "manifest" and not corpus.get("manifest"):
        problems.append("corpus.manifest: corpus.type is 'manifest' but no manifest file is given")
    split = config["split"]
    if split["scheme"] == "session5" and split["test_session"] not in sessions:
        problems.append(
            f"split.test_session: {split['test_session']!r} is not one of corpus.sessions {sessions}"
        )
    align = config["align"]
    if align["backend"] == "textgrid" and not align.get("textgrid_dir") and corpus["type"] != "demo":
        problems.append(
            f"align.textgrid_dir: the 'textgrid' backend needs your corpus's TextGrids (the synthesizer's "
            f"are for corpus.type demo only, this corpus is {corpus['type']!r}); set align.textgrid_dir, "
            "use align.backend: mfa or emodb, or align.backend: none to run without alignment (the "
            "attention analysis is then skipped)"
        )
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
    with open(path) as handle:
        config = yaml.safe_load(handle)
    validate_config(config)
    return config
