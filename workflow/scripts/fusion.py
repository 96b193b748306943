"""Rule fuse_systems: SYSComb per fold and seed, context and weights chosen on validation."""

from emocue.fusion import FusionOutputs, FusionSettings, load_run_inputs, run_fusion
from emocue.logs import setup_rule_logging

setup_rule_logging(snakemake.log[0])  # noqa: F821 (snakemake is injected)
classes = list(snakemake.params.classes)  # noqa: F821
runs = [
    load_run_inputs(run["fold"], int(run["seed"]), run["blstmatt_dir"], run["csa_dirs"], classes,
                    run["others"])
    for run in snakemake.params.runs  # noqa: F821
]
outputs = FusionOutputs(**{name: snakemake.output[name]  # noqa: F821
                           for name in FusionOutputs.__dataclass_fields__})
run_fusion(runs, classes, FusionSettings.from_config(dict(snakemake.params.settings)), outputs)  # noqa: F821
