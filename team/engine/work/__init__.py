"""Work and results: the workshop that runs a solution as a sandboxed job under the budget and scores it
with the harness's own dev evaluation, the merger that makes the final model, the tree of attempts, the
scoreboard, and the outcome a team's run hands back.
"""
