"""Studies: comparisons of arms (every arm is a team) across tasks and seeds, the noise floor, and honest
statistics (intervals, paired differences, power), and where cells run (dispatch: local, ray, slurm).
Uses engine/ to run cells and views/ to write them.
"""

from team.studies.power import mde, power, seeds_needed
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
    paired_p_values,
    summarize,
    t_interval,
)

__all__ = ["Interval", "PairedDifference", "Summary", "bootstrap_ci", "call_difference", "cell_score",
           "count_failures", "dev_test_gap", "failure_reason", "paired_difference", "paired_p_values", "summarize",
           "t_interval", "mde", "power", "seeds_needed"]
