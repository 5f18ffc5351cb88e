"""Views of run and comparison directories: report.md/html, plots, the role-graph picture, live progress.

Views read what a run wrote (or observe its event rows); they never drive a run.
"""
