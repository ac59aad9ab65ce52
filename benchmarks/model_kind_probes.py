"""Count the places that work out "what kind of model is this" from attributes (issue 21).

A *probe* is a read of an attribute that encodes the model's kind or data source instead
of asking :class:`trialmlm.engine.specification.ModelSpec`:

* ``settings.random`` / ``settings.visit`` / ``settings.linear`` / ``settings.group``,
* ``design.outer`` / ``design.summary`` / ``design.coordinates`` (and ``self.summary is
  [not] None`` inside ``design.py``),
* ``formula.linear`` / ``parsed.linear`` / ``formula.random`` / ``parsed.random``,
* ``isinstance(..., RandomEffects)``.

The specification module itself is where these questions are answered and is not
counted.  Run ``python benchmarks/model_kind_probes.py [--files]`` from the repository
root; ``--files`` lists the count per file.
"""

from __future__ import annotations

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


def count(root: Path) -> Counter:
    """Probes per file of the package under ``root`` (path relative to ``root``)."""
    out: Counter = Counter()
    for path in sorted(root.rglob("*.py")):
        if path.name in EXEMPT:
            continue
        n = len(PROBE.findall(path.read_text()))
        if n:
            out[str(path.relative_to(root.parent))] = n
    return out


def main(argv: list[str]) -> None:
    root = Path(__file__).resolve().parent.parent / "trialmlm"
    counts = count(root)
    if "--files" in argv:
        for name, n in counts.most_common():
            print(f"{n:4d}  {name}")
    outside = sum(n for name, n in counts.items() if "/missing/" not in name)
    print(f"{sum(counts.values())} probes in {len(counts)} files "
          f"({outside} outside trialmlm/missing/)")


if __name__ == "__main__":
    main(sys.argv[1:])
