"""Rule attention_plots: summary charts and the paper's Figure 1 for the picked utterances."""

import polars as pl

from emocue.attention_plots import render_stage
from emocue.logs import setup_rule_logging

setup_rule_logging(snakemake.log[0])  # noqa: F821 (snakemake is injected)
inputs, output, settings = snakemake.input, snakemake.output, snakemake.params.settings  # noqa: F821
tables = {name: pl.read_parquet(inputs[name]) for name in
          ("phones", "words", "utterances", "tests", "phone_ranking", "word_importance")}
render_stage(
    tables=tables,
    attention=pl.concat([pl.read_parquet(path) for path in inputs.attention]),
    requested=list(settings["plot_utterances"]),
    n_word_groups=int(settings["shared_word_groups"]),
    alpha=float(settings["alpha"]),
    summary_paths={chart: (output[f"{chart}_json"], output[f"{chart}_svg"])
                   for chart in snakemake.params.charts},  # noqa: F821
    utterance_dir=output.utterance_dir,
    index_path=output.utterance_index,
)
