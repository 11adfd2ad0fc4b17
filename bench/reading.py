"""Reading replies: time per reply of the two readers together beside the phrase lists
alone (the baseline), over every reply of the labelled corpus, in this process.

    python bench/reading.py [--rounds 3]

Loads the model first (its load time is printed apart), then reads the corpus `rounds`
times with each. Prints microseconds per reply and one summary line; asserts nothing.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.summary import summary  # noqa: E402
from followup.replies.corpus import load_corpus  # noqa: E402
from followup.replies.reading import read_by_rules, read_reply  # noqa: E402
from followup.replies.second_reader import MODEL_FILE, load_model, second_reader  # noqa: E402


def per_reply(read: object, texts: list[str], rounds: int) -> float:
    started = time.perf_counter()
    for _ in range(rounds):
        for text in texts:
            read(text)  # type: ignore[operator]
    return (time.perf_counter() - started) / (rounds * len(texts)) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    rounds = parser.parse_args().rounds
    texts = [item.text for item in load_corpus()]
    started = time.perf_counter()
    load_model(MODEL_FILE)
    print(
        f"model load: {(time.perf_counter() - started) * 1000:.0f} ms ({MODEL_FILE.stat().st_size / 1e6:.1f} MB)"
    )
    second_reader()
    read_by_rules(texts[0])
    rules = per_reply(read_by_rules, texts, rounds)
    model = per_reply(second_reader().read, texts, rounds)
    both = per_reply(read_reply, texts, rounds)
    print(
        f"{len(texts)} replies x {rounds}: rules {rules:.0f} µs, model {model:.0f} µs, both {both:.0f} µs per reply"
    )
    print(summary("time per reply", both, rules, "µs", "lower is better; under 2 ms a reply"))


if __name__ == "__main__":
    main()
