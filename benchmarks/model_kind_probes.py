"""Count the places that work out "what kind of model is this" from attributes (issue 21).

A *probe* is a read of an attribute that encodes the model's kind or data source instead
of asking :class:`trialmlm.engine.specification.ModelSpec`:

* ``settings.random`` / ``settings.visit`` / ``settings.linear`` / ``settings.group``,
* ``design.outer`` / ``design.summary`` / ``design.coordinates`` (and ``self.summary is
  [not] None`` inside ``design.py``),
* ``formula.linear`` / ``parsed.linear`` / ``formula.random`` / ``parsed.random``,
* ``isinstance(..., RandomEffects)``.

Two counts are printed: every such read (``reads``: the text pattern, which also counts
reads that use the data, e.g. ``for level in design.outer``), and the reads that *decide*
something (``decisions``: the read sits in the condition of an ``if``, ``elif``, ternary
or ``while``, in an ``assert``, or is an ``isinstance`` test) -- the re-derivations of the
model's kind that the specification object replaces.

The specification module itself is where these questions are answered and is not
counted.  Run ``python benchmarks/model_kind_probes.py [--files] [ROOT]`` from the
repository root (ROOT: a package directory, default this checkout's ``trialmlm``);
``--files`` lists the counts per file.
"""

from __future__ import annotations

import ast
import re
import sys
from collections import Counter
from pathlib import Path

PROBE = re.compile(
    r"\bsettings\.(?:random|visit|linear|group)\b"
    r"|\bdesign\.(?:outer|summary|coordinates)\b"
    r"|\bself\.summary is (?:not )?None"
    r"|\b(?:formula|parsed)\.(?:linear|random)\b"
    r"|isinstance\([^()]*(?:\([^()]*\))?[^()]*RandomEffects"
)
EXEMPT = {"specification.py"}


def _decisions(source: str) -> int:
    """Probes inside a condition (if / elif / ternary / while / assert) or isinstance tests."""
    tree = ast.parse(source)
    tests = [n.test for n in ast.walk(tree) if isinstance(n, (ast.If, ast.IfExp, ast.While, ast.Assert))]
    tests += [c for n in ast.walk(tree) if isinstance(n, ast.comprehension) for c in n.ifs]
    found = sum(len(PROBE.findall(ast.unparse(t))) for t in tests)
    calls = [n for n in ast.walk(tree)
             if isinstance(n, ast.Call) and getattr(n.func, "id", "") == "isinstance"]
    in_tests = {id(c) for t in tests for c in ast.walk(t)}
    return found + sum("RandomEffects" in ast.unparse(c) for c in calls if id(c) not in in_tests)


def count(root: Path) -> tuple[Counter, Counter]:
    """(reads, decisions) per file of the package under ``root`` (path relative to ``root``)."""
    reads: Counter = Counter()
    decisions: Counter = Counter()
    for path in sorted(root.rglob("*.py")):
        if path.name in EXEMPT:
            continue
        name, text = str(path.relative_to(root.parent)), path.read_text()
        reads[name] = len(PROBE.findall(text))
        decisions[name] = _decisions(text)
    return +reads, +decisions


def main(argv: list[str]) -> None:
    paths = [a for a in argv if not a.startswith("--")]
    root = Path(paths[0]) if paths else Path(__file__).resolve().parent.parent / "trialmlm"
    reads, decisions = count(root)
    if "--files" in argv:
        for name in sorted(reads, key=lambda n: (-reads[n], n)):
            print(f"{reads[name]:4d} {decisions[name]:4d}  {name}")
    print(f"{sum(reads.values())} reads in {len(reads)} files; "
          f"{sum(decisions.values())} decisions in {len(decisions)} files")


if __name__ == "__main__":
    main(sys.argv[1:])
