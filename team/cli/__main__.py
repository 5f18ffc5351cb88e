from team.cli import _entry

_entry()
