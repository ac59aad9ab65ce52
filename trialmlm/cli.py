"""Command line: ``trialmlm fit`` and ``trialmlm demo``.

Thin by design: arguments -> :func:`trialmlm.fit` -> files.  User errors end with a
one-line message and exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

from .api import fit
from .covariance import STRUCTURES
from .errors import TrialMLMError

SAMPLE_DATA = Path(__file__).resolve().parents[1] / "sample_data"
DEMO_FORMULA = "CHG ~ BASE + SEX + TRT * AVISIT + us(AVISIT | USUBJID)"


def write_fit(result, out: Path) -> list[Path]:
    """Write the SAS-style summary and the tidy tables of ``result`` into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    files = {
        "summary.txt": result.summary(),
        "fixed_effects.csv": result.coef_table().to_csv(),
        "covariance_parameters.csv": result.covariance_parameters_table().to_csv(),
    }
    if result.settings.random is not None:
        files["random_effects_covariance.csv"] = result.random_effects_covariance.to_csv()
        files["random_effects.csv"] = result.random_effects(se=True).to_csv(index=False)
    if result.settings.visit:  # a residual structure over visits or coordinates
        groups = result.group_labels if result.settings.group else [None]
        for g in groups:
            suffix = "" if g is None else f"_{g}"
            files[f"covariance_matrix{suffix}.csv"] = result.covariance_matrix(g).to_csv()
    written = []
    for name, text in files.items():
        path = out / name
        path.write_text(text)
        written.append(path)
    return written


def _read(path: str) -> pd.DataFrame:
    p = Path(path)
    if not p.exists():
        raise TrialMLMError(f"data file '{path}' does not exist")
    if p.suffix.lower() != ".csv":
        raise TrialMLMError(f"data file '{path}': only .csv is read by this command")
    return pd.read_csv(p)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="trialmlm", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p_fit = sub.add_parser("fit", help="fit an MMRM to a CSV file and write its tables")
    p_fit.add_argument("data", help="CSV file, one row per subject and visit")
    p_fit.add_argument("--formula", required=True,
                       help=f"e.g. '{DEMO_FORMULA}'; structures: {', '.join(STRUCTURES)}")
    p_fit.add_argument("--method", default="REML", choices=["REML", "ML"])
    p_fit.add_argument("--weights", default=None, help="column of SAS WEIGHT values")
    p_fit.add_argument("--out", default="reports/fit", help="output folder (default reports/fit)")
    p_demo = sub.add_parser("demo", help="fit the bundled sample trial into reports/demo")
    p_demo.add_argument("--out", default="reports/demo", help="output folder (default reports/demo)")
    args = parser.parse_args(argv)
    try:
        if args.command == "demo":
            csv = SAMPLE_DATA / "demo_trial.csv"
            if not csv.exists():
                raise TrialMLMError(f"sample data not found at {csv}; run from a source checkout")
            result = fit(DEMO_FORMULA, pd.read_csv(csv))
        else:
            result = fit(args.formula, _read(args.data), method=args.method, weights=args.weights)
        written = write_fit(result, Path(args.out))
    except TrialMLMError as exc:
        print(f"trialmlm: error: {exc}", file=sys.stderr)
        return 2
    print(result.summary())
    print(f"wrote {len(written)} files to {Path(args.out)}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
