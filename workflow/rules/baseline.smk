# baseline: the classical reference system — eGeMAPS v02 functionals (openSMILE), one job per
# session beside `features`, then a linear SVM and a logistic regression per fold and seed with C
# chosen on the neural models' validation split (emocue.baseline). Their test predictions are
# scored like every other system (BASELINE_RUNS, by system name).

rule baseline_functionals:
    input:
        manifest=layout.corpus_table("{session}"),
    output:
        functionals=layout.baseline_functionals("{session}"),
    log:
        log_path("baseline_functionals", "{session}"),
    benchmark:
        benchmark_path("baseline_functionals", "{session}")
    params:
        sample_rate=config["features"]["sample_rate"],
    threads: 1
    conda:
        "../../envs/baseline.yaml"
    script:
        "../scripts/baseline_functionals.py"


rule baseline_classifier:
    input:
        manifests=[layout.corpus_table(session) for session in SESSIONS],
        functionals=[layout.baseline_functionals(session) for session in SESSIONS],
    output:
        **layout.baseline_outputs("{classifier}", "{fold}", "{seed}"),
    log:
        log_path("baseline_classifier", "{classifier}/{fold}/seed{seed}"),
    benchmark:
        benchmark_path("baseline_classifier", "{classifier}/{fold}/seed{seed}")
    params:
        settings={
            "baseline": config["baseline"],
            "split": config["split"],
            "select_metric": config["train"]["select_metric"],
            "normalisation": config["features"]["normalisation"],
            "classes": CLASSES,
        },
    threads: 1
    conda:
        "../../envs/baseline.yaml"
    script:
        "../scripts/baseline.py"


STAGE_TARGETS["baseline"] = [
    path for system in BASELINE_RUNS for name in layout.BASELINE_FILES for path in baseline_run_files(name, system)
]
