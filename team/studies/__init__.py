"""Studies: comparisons of arms (every arm is a team) across tasks and seeds, the noise floor, and honest
statistics (intervals, paired differences, power). Uses engine/ to run cells and views/ to write them.
"""

from team.studies.stats import (
    Interval,
    PairedDifference,
    Summary,
    bootstrap_ci,
    call_difference,
    cell_score,
    count_failures,
    dev_test_gap,
    failure_reason,
    paired_difference,
    summarize,
    t_interval,
)

__all__ = ["Interval", "PairedDifference", "Summary", "bootstrap_ci", "call_difference", "cell_score",
           "count_failures", "dev_test_gap", "failure_reason", "paired_difference", "summarize", "t_interval"]
