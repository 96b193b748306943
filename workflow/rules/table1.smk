# table1: the paper's Table 1 — every system's across-seed scores (score stage) beside the paper's
# values, the published systems it quotes, as a table, markdown and an HTML fragment
# (emocue.table1), with the protocol notes (split scheme, validation split, speakers in both
# training and test: from the corpus tables). Needs score.smk and fusion.smk included first.
TABLE1_OUTPUTS = layout.stage_outputs(layout.TABLE1_OUTPUTS)


rule build_table1:
    input:
        summaries=score_files("summary"),
        selection=FUSION_OUTPUTS["selection"],
        manifests=[layout.corpus_table(session) for session in SESSIONS],
    output:
        table=TABLE1_OUTPUTS["table"],
        published=TABLE1_OUTPUTS["published"],
        markdown=TABLE1_OUTPUTS["markdown"],
        # flagged for `snakemake --report`
        html=report(TABLE1_OUTPUTS["html"], caption="../report/table1.rst", category="Table 1"),
    log:
        log_path("build_table1"),
    benchmark:
        benchmark_path("build_table1")
    params:
        # what emocue.table1.protocol_notes reads (not the whole config: no rerun on other keys)
        protocol={"split": config["split"], "corpus": {"sessions": SESSIONS}},
    threads: 1
    conda:
        "../../envs/stats.yaml"
    script:
        "../scripts/table1.py"


STAGE_TARGETS["table1"] = list(TABLE1_OUTPUTS.values())
