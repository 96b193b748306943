"""Rule interpret_corpus: every interpretation method's verdict on the configured corpus."""

from emocue import layout
from emocue.logs import setup_rule_logging
from emocue.validation import InterpretSettings, RunTables, interpret_corpus

log = setup_rule_logging(snakemake.log[0])  # noqa: F821 (snakemake is injected by the script directive)
inputs, params = snakemake.input, snakemake.params  # noqa: F821


def run_tables(prefix, runs):
    files = {name: list(inputs[f"{prefix}_{name}"]) for name in layout.INTERPRET_RUN_FILES}
    return [RunTables(layout.trained_system(run["model"], run["context"]), run["fold"], int(run["seed"]),
                      **{name: paths[i] for name, paths in files.items()}) for i, run in enumerate(runs)]


verdicts = interpret_corpus(
    blstmatt_runs=run_tables("blstmatt", params.blstmatt_runs),
    csa_runs=run_tables("csa", params.csa_runs),
    attention_paths=list(inputs.attention),
    prediction_paths=list(inputs.predictions),
    run_keys=[(run["fold"], int(run["seed"])) for run in params.blstmatt_runs],
    selection_path=inputs.selection,
    manifests=list(inputs.manifests),
    intervals=list(inputs.intervals),
    covariates=list(inputs.covariates),
    settings=InterpretSettings.from_config(params.settings),
    outputs=dict(snakemake.output.items()),  # noqa: F821
)
for row in verdicts.iter_rows(named=True):
    log.info("%s: %s (effect %.3g, p %.3g)", row["method"], row["verdict"], row["effect"], row["pvalue"])
