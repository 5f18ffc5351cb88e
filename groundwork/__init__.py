"""What every layer stands on, owned by none of them: the exception tree sorted by who is at fault
(`groundwork.errors`), human units for durations and sizes (`groundwork.units`), and YAML read with its
line numbers into `FILE:LINE: what is wrong` problems (`groundwork.yamlio`).

team, roles, tasks and sandbox all import it; it imports none of them. Importing the package loads
nothing: import the module you need.
"""

__all__ = ["errors", "units", "yamlio"]
