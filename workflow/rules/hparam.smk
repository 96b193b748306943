# hparam: a grid search on validation only (emocue.hparam) — one BLSTMATT job per (fold, grid
# point) with the first seed, then per fold the point with the best validation score; the fold's
# BLSTMATT runs (train.smk, input `hparams`) train with it. Off unless hparam.enabled.
from emocue import hparam as emocue_hparam

HPARAM_POINTS = emocue_hparam.grid_points(config) if config["hparam"]["enabled"] else {}


use rule train_blstmatt as hparam_point with:
    output:
        **layout.hparam_point_outputs("{fold}", "{point}"),
    log:
        log_path("hparam_point", "{fold}/{point}"),
    benchmark:
        benchmark_path("hparam_point", "{fold}/{point}")
    params:
        model="blstmatt",
        settings=run_settings("blstmatt"),
        seed=SEEDS[0],
        point=lambda wildcards: HPARAM_POINTS[wildcards.point],


rule hparam_select:
    input:
        histories=lambda wildcards: [
            layout.hparam_point_outputs(wildcards.fold, point)["history"] for point in HPARAM_POINTS
        ],
    output:
        **layout.hparam_outputs("{fold}"),
    log:
        log_path("hparam_select", "{fold}"),
    benchmark:
        benchmark_path("hparam_select", "{fold}")
    params:
        grid=HPARAM_POINTS,
        metric=config["train"]["select_metric"],
    threads: 1
    conda:
        "../../envs/stats.yaml"
    script:
        "../scripts/hparam_select.py"


STAGE_TARGETS["hparam"] = [layout.hparam_outputs(fold)["chosen"] for fold in FOLDS] if HPARAM_POINTS else []
