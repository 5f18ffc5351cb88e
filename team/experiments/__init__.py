"""Team-vs-solo experiments: compute-matched arms (teams, best-of-k, random and TPE search) across
tasks and seeds, the noise floor, and honest statistics with bootstrap intervals and paired differences.
"""

from team.experiments.stats import (
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
