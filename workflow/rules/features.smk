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
    threads: 1
    conda:
        "../../envs/data.yaml"
    script:
        "../scripts/features.py"


STAGE_TARGETS["features"] = expand(
    [f"{RESULTS}/features/{{session}}.npz", f"{RESULTS}/features/{{session}}.stats.parquet"],
    session=SESSIONS,
)
