"""Scorer of the reverse task (PostTrainBench command line): greedy decoding, one point per correct answer.

    python evaluate.py --model-path final_model --split-file dev.jsonl --limit -1 --json-output-file out.json
writes {"accuracy": ..., "stderr": ..., "n": ...}. The verifier always runs its own pristine copy.
"""

from tasks.evaluation import main


def score(prediction: str, answer: str) -> bool:
    """Exact match, letter for letter."""
    return prediction.strip() == answer


if __name__ == "__main__":
    main(score, max_new_tokens=12)
