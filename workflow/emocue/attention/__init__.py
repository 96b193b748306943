"""Where does BLSTMATT's attention go? Phone/word mapping and calibrated tests (attention stage).

The paper (Jalal et al. 2020, Sec. 4.3, Fig. 1) reads four attention plots and concludes that the
model attends more to vowels than to consonants and weighs words by acoustic context. Here every
test utterance counts:

* **Mapping.** Attention α_t (t = feature frame, Σ_t α_t = 1) is joined with the phone and word
  intervals of the alignment stage through their ``start_frame``/``end_frame`` (the one frame↔time
  rule, ``docs/outputs.md``). We work with *normalised attention* a_t = α_t·T (1.0 = uniform), so
  utterances of different length T are comparable. Token tables give per phone / word: mean a over
  its frames, attention mass Σα, duration, class, relative position, word, emotion, correctness.
* **Tests** (each a :class:`emocue.stats.TestResult`: statistic, p-value, effect size + CI, n):
  1. paired vowel vs consonant (Wilcoxon signed-rank over utterances, rank-biserial r);
  2. circular-shift null (rotations of each attention curve against its alignment);
  3. vowel attention mass share vs vowel time share;
  4. per phone: mean a vs 1.0 (one-sample Wilcoxon over utterances, BH-FDR across phones);
  5. per word: importance per emotion, Kruskal–Wallis across emotions (BH-FDR across words).
* **Position control.** A rotation keeps the curve's autocorrelation and where the vowels sit,
  but its expected vowel−consonant difference is exactly 0 (mean a is 1 and the class weights sum
  to 0), so it does *not* absorb a systematic trend of attention over the utterance. Variants marked
  ``position_adjusted`` first subtract the pooled attention profile over relative position (binned,
  interpolated) — see README "Attention analysis" for what the simulations show.

Modules: :mod:`~emocue.attention.settings` (settings, class codes, test-table rows and FDR),
:mod:`~emocue.attention.mapping` (curves, intervals → frames, token tables),
:mod:`~emocue.attention.vowels` (tests 1–3), :mod:`~emocue.attention.tokens` (tests 4–5) and
:mod:`~emocue.attention.stage` (the ``attention_stats`` job). Every name is re-exported here, so
``from emocue.attention import X`` does not depend on which module holds X.
"""

from emocue.attention.mapping import (
    Curves,
    curves_from_table,
    frame_classes,
    frame_codes,
    interval_attention,
    map_tokens,
)
from emocue.attention.settings import (
    CLASS_CODES,
    GREATER,
    N_CODES,
    TEST_SCHEMA,
    AttentionSettings,
    result_row,
    with_fdr,
)
from emocue.attention.stage import StageTables, analyse, read_with_fold, run_stage, utterance_table
from emocue.attention.tokens import (
    phone_ranking,
    phone_rotation_null,
    word_emotion_tests,
    word_importance,
)
from emocue.attention.vowels import (
    circular_shift_test,
    circular_shift_tests,
    class_sums,
    mass_share_test,
    mass_share_tests,
    position_adjusted,
    rotation_differences,
    utterance_summary,
    vowel_consonant_tests,
)
from emocue.phones import ARPABET_STRESS, CONSONANT, VOWEL

__all__ = [
    "ARPABET_STRESS", "CLASS_CODES", "CONSONANT", "GREATER", "N_CODES", "TEST_SCHEMA", "VOWEL",
    "AttentionSettings", "Curves", "StageTables", "analyse", "circular_shift_test",
    "circular_shift_tests", "class_sums", "curves_from_table", "frame_classes", "frame_codes",
    "interval_attention", "map_tokens", "mass_share_test", "mass_share_tests", "phone_ranking",
    "phone_rotation_null", "position_adjusted", "read_with_fold", "result_row",
    "rotation_differences", "run_stage", "utterance_summary", "utterance_table",
    "vowel_consonant_tests", "with_fdr", "word_emotion_tests", "word_importance",
]
