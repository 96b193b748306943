"""emocue: a Snakemake workflow for interpreting attention-based speech emotion recognition.

One module per workflow stage, named like its rule file in ``workflow/rules/``; rule scripts in
``workflow/scripts/`` stay thin and call these modules.
"""

__version__ = "0.1.0"
