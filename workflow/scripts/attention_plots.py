"""Rule attention_plots: summary charts and the paper's Figure 1 for the picked utterances, with
CSA's chunk posteriors (at the context fusion chose on validation) under each Figure 1."""

import polars as pl

from emocue.attention_plots import chosen_chunk_predictions, render_stage
from emocue.logs import setup_rule_logging

setup_rule_logging(snakemake.log[0])  # noqa: F821 (snakemake is injected)
inputs, output, params = snakemake.input, snakemake.output, snakemake.params  # noqa: F821
settings = params.settings
tables = {name: pl.read_parquet(inputs[name]) for name in
          ("phones", "words", "utterances", "tests", "phone_ranking", "word_importance")}
render_stage(
    tables=tables,
    attention=pl.concat([pl.read_parquet(path) for path in inputs.attention]),
    requested=list(settings["plot_utterances"]),
    n_word_groups=int(settings["shared_word_groups"]),
    alpha=float(settings["alpha"]),
    summary_paths={chart: (output[f"{chart}_json"], output[f"{chart}_svg"])
                   for chart in params.charts},
    utterance_dir=output.utterance_dir,
    index_path=output.utterance_index,
    chunks=chosen_chunk_predictions(pl.read_parquet(inputs.selection),
                                    int(snakemake.wildcards.seed),  # noqa: F821
                                    params.chunk_runs, list(inputs.chunk_predictions)),
)
