"""Rules train_blstmatt / train_csa / hparam_point: train one run and write its outputs (emocue.train).

A BLSTMATT run trains with its fold's chosen grid point when the search is on (input ``hparams``);
a search run (hparam_point) with its own point (params ``point``, ``seed``)."""

from pathlib import Path

from emocue.hparam import apply_point, read_choice
from emocue.logs import setup_rule_logging
from emocue.train import TrainJob, run_training

setup_rule_logging(snakemake.log[0])  # noqa: F821 (snakemake is injected by the script directive)
wildcards = snakemake.wildcards  # noqa: F821
context = wildcards.get("context")
config = snakemake.config  # noqa: F821
hparams = (read_choice(snakemake.input.hparams[0]) if snakemake.input.get("hparams")  # noqa: F821
           else getattr(snakemake.params, "point", None))  # noqa: F821
if hparams:
    config = apply_point(config, hparams)
out_dir = Path(snakemake.output.model).parent  # noqa: F821 (file names: emocue.layout)
run_training(
    TrainJob(
        model=snakemake.params.model,  # noqa: F821
        fold=wildcards.fold,
        seed=int(wildcards.seed) if "seed" in wildcards.keys() else snakemake.params.seed,  # noqa: F821
        context=int(context) if context is not None else None,
        out_dir=out_dir,
        manifests=tuple(snakemake.input.manifests),  # noqa: F821
        features=tuple(snakemake.input.features),  # noqa: F821
        stats=tuple(snakemake.input.stats),  # noqa: F821
        speed_features=tuple(snakemake.input.speed_features),  # noqa: F821
        speed_stats=tuple(snakemake.input.speed_stats),  # noqa: F821
        threads=snakemake.threads,  # noqa: F821
        hparams=hparams,
    ),
    config,
)
