"""A run directory's lifecycle: what a run is asked to do (options), the checks before anything starts
(preflight), the session that locks, opens or resumes, drives and verifies one run directory, the assembly
of its parts, the resume rules (restore), the result.json it writes, and who was in control of it.
"""
