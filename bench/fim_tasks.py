"""Fill-in-the-middle tasks and their scoring, shared by the completion benches.

The scoring is the Qwen2.5-Coder evaluation suite's (see /work/shared/bench/fim/README.md):
the first line of the generation (the second if it starts with a newline), stripped,
against the stripped missing line; exact match in percent and `fuzz.ratio` averaged.
"""

from __future__ import annotations

import json
import random
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from rapidfuzz import fuzz

HM_FIM = Path("/work/shared/bench/fim/hm_fim.jsonl")
EXTENSIONS = {"py": "py", "java": "java", "js": "js"}
LANGUAGE_IDS = {"py": "python", "java": "java", "js": "javascript"}


@dataclass(frozen=True)
class FimTask:
    name: str
    language: str  # py | java | js
    prompt: str  # text before the hole, as the dataset gives it
    suffix: str  # text after it
    solution: str  # the missing line

    @property
    def before(self) -> str:
        """The text before the hole line, ending with its newline.

        The dataset drops the newlines that border the hole most of the time (most prompts
        do not end with one, most suffixes do not start with one); an editor sees them.
        """
        return self.prompt if self.prompt.endswith("\n") else self.prompt + "\n"

    @property
    def after(self) -> str:
        """The text after the hole line, starting with the newline that ends it."""
        return self.suffix if self.suffix.startswith("\n") else "\n" + self.suffix

    @property
    def document(self) -> str:
        """The file as an editor holds it: the hole line present but empty."""
        return self.before + self.after

    @property
    def hole_line(self) -> int:
        """0-based index of the empty hole line in `document`."""
        return self.before.count("\n")


def load_hm_fim(path: Path = HM_FIM) -> list[FimTask]:
    tasks = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            row = json.loads(line)
            tasks.append(FimTask(row["name"], row["language"], row["prompt"], row["suffix"], row["canonical_solution"]))
    return tasks


def sample_per_language(tasks: Sequence[FimTask], languages: Iterable[str], per_language: int, seed: int) -> list[FimTask]:
    """A seeded sample of each language, in a fixed order, so two runs see the same tasks."""
    chosen: list[FimTask] = []
    for language in languages:
        pool = sorted((t for t in tasks if t.language == language), key=lambda t: t.name)
        if not pool:
            raise ValueError(f"no tasks for language {language!r}")
        chosen.extend(random.Random(f"{seed}:{language}").sample(pool, min(per_language, len(pool))))
    return chosen


def first_line(generation: str) -> str:
    """The line the suite scores: the first, or the second when the generation opens with a newline."""
    lines = generation.split("\n")
    if generation.startswith("\n") and len(lines) > 1:
        return lines[1]
    return lines[0]


@dataclass(frozen=True)
class Score:
    exact: bool
    similarity: float  # 0-100


def score(generation: str, solution: str) -> Score:
    got, want = first_line(generation).strip(), solution.strip()
    return Score(got == want, fuzz.ratio(got, want))


def summarize(scores: Sequence[Score]) -> tuple[float, float]:
    """(exact match %, mean edit similarity) over `scores`; NaN for none."""
    if not scores:
        return float("nan"), float("nan")
    return 100.0 * sum(s.exact for s in scores) / len(scores), statistics.fmean(s.similarity for s in scores)
