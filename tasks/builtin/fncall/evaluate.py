"""Scorer of the fncall task (PostTrainBench command line): greedy decoding, one point per correct answer.

    python evaluate.py --model-path final_model --split-file dev.jsonl --limit -1 --json-output-file out.json
writes {"accuracy": ..., "stderr": ..., "n": ...}. The verifier always runs its own pristine copy.
"""

from tasks.evaluation import main


def score(prediction: str, answer: str) -> bool:
    """Strict format: the call must be character-for-character the expected one (no spaces, double quotes)."""
    return prediction == answer


if __name__ == "__main__":
    main(score, max_new_tokens=32)
