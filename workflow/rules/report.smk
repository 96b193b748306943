# The report stage: one self-contained HTML page built from exactly the files the configured stages
# produce (emocue.report.report_files, via common.smk: report_inputs). Nothing is found by globbing
# results/, so a folder left by an earlier config (an old seed, a removed session) never shows.
from pathlib import Path

# The templates and every module of the report package are inputs, so editing one reruns (only)
# build_report.
WORKFLOW_DIR = Path(workflow.current_basedir).parent
REPORT_SOURCES = sorted(
    str(path)
    for path in [
        *(WORKFLOW_DIR / "templates").glob("report*"),
        *(WORKFLOW_DIR / "emocue" / "report").rglob("*.py"),
    ]
)


rule build_report:
    input:
        unpack(report_inputs),
        sources=REPORT_SOURCES,
    output:
        report(
            f"{RESULTS}/report.html",
            caption="../report/report.rst",
            category="Report",
        ),
    log:
        log_path("build_report"),
    benchmark:
        benchmark_path("build_report")
    params:
        results=lambda wildcards, output: os.path.dirname(output[0]),
    conda:
        "../../envs/stats.yaml"
    script:
        "../scripts/report.py"


STAGE_TARGETS["report"] = [f"{RESULTS}/report.html"]
