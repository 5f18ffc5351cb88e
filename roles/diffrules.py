"""The critic's rules for a change to a program, read from its unified diff (the added lines):

- it touches a protected path: the scorer (`evaluate.py`), `templates/`, or anything named like the test split;
- it opens sockets, subprocesses or the network (`socket`, `subprocess`, `os.system`, `urllib`, `requests`,
  `http.client`, `ctypes`);
- it embeds literals that look like test items: many quoted `prompt = answer`-like strings, or a long
  quoted table of data (more than 40 string literals, or one literal over 400 characters).

Each rule that fires is one flag (a veto). The sandbox and the verifier hold against the same cheats;
the rules make the critic say so before a job is judged on its score.
"""

from __future__ import annotations

import re

__all__ = ["diff_flags"]

_PROTECTED = re.compile(r"^(\+\+\+|---) [ab]/(.*(evaluate\.py|templates/.*|test[^/]*\.jsonl|sealed.*))$", re.M)
_NETWORK = re.compile(r"\b(import\s+(socket|subprocess|urllib|requests|ctypes|http\.client)|from\s+(socket|subprocess|"
                      r"urllib|requests|http)\b|os\.system|os\.popen|subprocess\.|socket\.socket)")
_LITERAL = re.compile(r"""("[^"\n]{3,}"|'[^'\n]{3,}')""")


def diff_flags(diff: str) -> list[str]:
    if not diff:
        return []
    added = [line[1:] for line in diff.splitlines() if line.startswith("+") and not line.startswith("+++")]
    flags = []
    protected = sorted({m.group(2) for m in _PROTECTED.finditer(diff)})
    if protected:
        flags.append(f"the change touches a protected path: {', '.join(protected)}")
    net = sorted({m.group(0).strip() for line in added for m in _NETWORK.finditer(line)})
    if net:
        flags.append(f"the change opens processes or the network: {', '.join(net[:4])}")
    literals = [m.group(0) for line in added for m in _LITERAL.finditer(line)]
    if len(literals) > 40 or any(len(x) > 400 for x in literals):
        flags.append(f"the change embeds data that may be test items ({len(literals)} string literals added)")
    return flags
