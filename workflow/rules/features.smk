# features: one job per session — 23-dim Kaldi log-Mel filterbanks of every manifest utterance
# (one .npz per session) and per-speaker mean/variance statistics for normalisation.
from emocue.features import FbankOptions


rule extract_features:
    input:
        manifest=f"{RESULTS}/corpus/{{session}}.parquet",
    output:
        features=f"{RESULTS}/features/{{session}}.npz",
        stats=f"{RESULTS}/features/{{session}}.stats.parquet",
    log:
        log_path("extract_features", "{session}"),
    benchmark:
        benchmark_path("extract_features", "{session}")
    params:
        fbank=vars(FbankOptions.from_config(config["features"])),
        speed=1.0,
    threads: 1
    conda:
        "../../envs/data.yaml"
    script:
        "../scripts/features.py"


# Speed-perturbed copies (augment.speed_factors) of the sessions some fold trains on; cached here.
use rule extract_features as extract_speed_features with:
    output:
        features=layout.speed_features_file("{session}", "{speed}"),
        stats=layout.speed_features_stats("{session}", "{speed}"),
    log:
        log_path("extract_speed_features", "{session}.{speed}"),
    benchmark:
        benchmark_path("extract_speed_features", "{session}.{speed}")
    params:
        fbank=vars(FbankOptions.from_config(config["features"])),
        speed=lambda wildcards: SPEED_TAGS[wildcards.speed],


STAGE_TARGETS["features"] = expand(
    [f"{RESULTS}/features/{{session}}.npz", f"{RESULTS}/features/{{session}}.stats.parquet"],
    session=SESSIONS,
) + speed_feature_files() + speed_feature_files("stats")
