"""Every command of README.md and docs/*.md runs as written, on data the repository ships.

The fenced blocks of README.md and of every docs/*.md are collected in file order and named
``<file> block <n>`` (n counts every fenced block of the file, from 1):

* ```` ```bash ```` blocks: the lines are joined at a trailing backslash and split at ``&&``;
  every ``trialmlm ...`` command runs through the console entry point
  (:func:`trialmlm.entry.main`) in a temporary folder, with the folder of ``--out``
  moved into that folder and every argument naming a file or folder of the repository
  (``sample_data/adeff.xpt``, ``sample_data/design.toml``) made absolute; it must exit 0.
  For the time of the suite, a command that does not set them gets ``--imputations 10``
  (``analyze`` with ``--sensitivity`` or ``--estimands``) or ``--n-sim 20`` (``power``):
  the command is the same, the Monte-Carlo error larger (measured: README block 5 took
  198 s with the defaults under a load of 12).
  The only commands not run are the set-up commands of a fresh clone: ``python3 -m venv``,
  ``. .venv/bin/activate``, ``pip install ...``, and ``python -m pytest`` (the test suite
  itself); any other command is an error of the document.  ``trialmlm demo`` is not run
  here: it took 75-106 s in this test under a load of 12 (more than the 60 s this file
  allows a command), and tests/test_report.py runs it (``demo`` fixture, ``main(["demo",
  "--out", ..., "--imputations", "4", ...])``) and checks every file it writes.
* ```` ```python ```` blocks: executed in order, one namespace per document, with the
  working directory a temporary folder and every string literal naming a file of the
  repository (``"sample_data/depression_trial.csv"``) made absolute, so that what a block
  writes lands in the temporary folder.  matplotlib draws without a display (Agg).  Every
  block of every document runs, on data the repository ships (``sample_data/``, the R
  reference data of ``tests/reference/``) or that the block simulates with a seed.  As for
  the commands, the Monte-Carlo sizes are reduced (:data:`FEWER_SAMPLES`: ``n_samples=5``,
  ``B=4, D=2``): the calls are the same, the Monte-Carlo error larger (measured: the
  estimands example of docs/estimands.md took 69 s with its 500 samples under a load of 11).
* ```` ```toml ```` blocks: not run; a block that is a file of the repository (the design of
  ``sample_data/design.toml``) must equal that file.
* blocks without a language tag or tagged ```` ```text ````: output, signatures and formula
  grammar; not run.  A block with any other tag is an error
  (``test_every_fenced_block_is_run_or_output``): nothing is skipped silently.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
DOCUMENTS = ["README.md"] + sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "docs").glob("*.md"))
FENCE = re.compile(r"^```([\w-]*)[^\n]*\n(.*?)^```[ \t]*$", flags=re.S | re.M)
RUN_ELSEWHERE = {("trialmlm", "demo"): "tests/test_report.py (the demo fixture)"}
SET_UP = (("python3", "-m", "venv"), (".",), ("source",), ("pip", "install"), ("python", "-m", "pip"),
          ("python", "-m", "pytest"))
NOT_RUN_TAGS = {"", "text", "toml"}
FEWER_SAMPLES = ((re.compile(r"\bn_samples=\d+"), "n_samples=5"), (re.compile(r"\bB=\d+, D=\d+"), "B=4, D=2"))


@dataclass(frozen=True)
class Block:
    document: str
    number: int
    language: str
    text: str

    def __str__(self) -> str:
        return f"{self.document} block {self.number}"


def blocks(document: str) -> list[Block]:
    """The fenced blocks of one document, numbered from 1 in file order."""
    text = (ROOT / document).read_text()
    return [Block(document, n, lang, body) for n, (lang, body) in enumerate(FENCE.findall(text), 1)]


ALL = [b for d in DOCUMENTS for b in blocks(d)]
BASH = [b for b in ALL if b.language in ("bash", "sh", "console")]
PYTHON = [b for b in ALL if b.language in ("python", "py")]
TOML = [b for b in ALL if b.language == "toml"]


def commands(block: Block) -> list[list[str]]:
    """The commands of a bash block: continuation lines joined, comments dropped, split at ``&&``."""
    out = []
    for line in block.text.replace("\\\n", " ").splitlines():
        words = shlex.split(line, comments=True)
        command: list[str] = []
        for word in words + ["&&"]:
            if word == "&&":
                if command:
                    out.append(command)
                command = []
            else:
                command.append(word)
    return out


def is_set_up(command: list[str]) -> bool:
    return any(tuple(command[:len(s)]) == s for s in SET_UP)


FEWER_DRAWS = {"analyze": (("--sensitivity", "--estimands"), ["--imputations", "10"]),
               "power": (("--config",), ["--n-sim", "20"])}


def localised(argv: list[str], tmp: Path) -> list[str]:
    """``--out`` into ``tmp``; arguments naming a path of the repository made absolute; fewer
    draws (:data:`FEWER_DRAWS`) unless the command sets them."""
    triggers, extra = FEWER_DRAWS.get(argv[0], ((), []))
    if any(t in argv for t in triggers) and extra[0] not in argv:
        argv = argv + extra
    out = []
    for i, word in enumerate(argv):
        if i and argv[i - 1] == "--out":
            out.append(str(tmp / Path(word).name))
        elif not word.startswith("-") and "/" in word and (ROOT / word).exists():
            out.append(str(ROOT / word))
        else:
            out.append(word)
    return out


def test_every_fenced_block_is_run_or_output():
    """Every fenced block is run (bash, python), compared (toml) or output (text, untagged)."""
    unknown = {b.language for b in ALL} - {"bash", "sh", "console", "python", "py"} - NOT_RUN_TAGS
    assert not unknown, f"blocks tagged {sorted(unknown)} are neither run nor output"


@pytest.mark.parametrize("block", BASH, ids=str)
def test_bash_block(block, tmp_path, monkeypatch, capsys):
    from trialmlm.entry import main

    monkeypatch.chdir(tmp_path)
    ran = 0
    for command in commands(block):
        if is_set_up(command) or tuple(command[:2]) in RUN_ELSEWHERE:
            continue
        assert command[0] == "trialmlm", f"{block}: {shlex.join(command)!r} is neither trialmlm nor set-up"
        argv = localised(command[1:], tmp_path)
        code = main(argv)
        captured = capsys.readouterr()
        assert code == 0, f"{block}: {shlex.join(command)} exited {code}\n{captured.err[-2000:]}"
        ran += 1
    assert ran or all(is_set_up(c) or tuple(c[:2]) in RUN_ELSEWHERE for c in commands(block)), (
        f"{block}: no trialmlm command")


NAMESPACES: dict[str, dict] = {}  # per document: the namespace of its Python blocks
RAN: dict[str, set[int]] = {}  # per document: the blocks run into it
FAILED: dict[str, Block] = {}  # per document: the block that failed
PATH_LITERAL = re.compile(r"""(["'])((?:sample_data|tests|docs)/[^"']+)\1""")


def _absolute(code: str) -> str:
    return PATH_LITERAL.sub(lambda m: repr(str(ROOT / m.group(2))) if (ROOT / m.group(2)).exists()
                            else m.group(0), code)


def _fewer_samples(code: str) -> str:
    for pattern, replacement in FEWER_SAMPLES:
        code = pattern.sub(replacement, code)
    return code


def _run(block: Block, namespace: dict) -> None:
    exec(compile(_fewer_samples(_absolute(block.text)), str(block), "exec"), namespace)


@pytest.mark.parametrize("block", PYTHON, ids=str)
def test_python_block(block, tmp_path_factory, monkeypatch):
    """The block runs after the earlier Python blocks of its document (their namespace)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder = tmp_path_factory.mktemp(Path(block.document).stem)
    monkeypatch.chdir(folder)
    namespace = NAMESPACES.setdefault(block.document, {"__name__": "__docs__", "print": lambda *a, **k: None})
    ran = RAN.setdefault(block.document, set())
    try:
        for needed in [b for b in PYTHON if b.document == block.document and b.number <= block.number]:
            if needed.number in ran:
                continue
            assert block.document not in FAILED, f"{block}: earlier {FAILED[block.document]} failed"
            _run(needed, namespace)
            ran.add(needed.number)
    except Exception:
        FAILED.setdefault(block.document, block)
        raise
    finally:
        plt.close("all")


@pytest.mark.parametrize("block", TOML, ids=str)
def test_toml_block(block):
    """A TOML block is valid TOML; the design of docs/power.md is sample_data/design.toml (its text)."""
    import tomllib

    tomllib.loads(block.text)
    if block.text.startswith("[design]"):
        assert block.text == (ROOT / "sample_data" / "design.toml").read_text(), (
            f"{block} differs from sample_data/design.toml")
