"""The subgroup part of a report (``subgroups``, ``--subgroups SEX AGEGR1 REGION1``): Table 8 (the
differences at the last visit within each level, the interaction tests) and Figure 9 (the forest
plot), and the entry ``subgroups`` of ``analysis_results.json``
(:func:`trialmlm.subgroups`, one model per subgroup variable with the MMRM's covariance)."""

from __future__ import annotations

import functools

from .config import AnalysisConfig
from .context import AnalysisKind

TABLE = "t8_subgroups"
FIGURE = "f9_subgroups"
FIGURE_TITLE = ("Treatment differences by subgroup at the primary visit, with confidence intervals and "
                "treatment-by-subgroup interaction p-values")


class SubgroupAnalysis(AnalysisKind):
    """The MMRM's differences within subgroup levels and the interaction tests (with ``subgroups``)."""

    endpoints = ("continuous",)
    engines = ("linear",)

    @classmethod
    def applies(cls, config: AnalysisConfig) -> bool:
        return bool(config.subgroups) and super().applies(config)

    @functools.cached_property
    def result(self):
        from ..inference.subgroups import subgroups

        ctx, c = self.ctx, self.ctx.config
        return subgroups(ctx.fit, ctx.analysed, list(c.subgroups), arm=c.arm, visit=c.visit,
                         reference=ctx.reference, alpha=c.alpha)

    def tables(self) -> dict:
        from ..tables.subgroup_tables import subgroup_table

        ctx = self.ctx
        return {TABLE: subgroup_table(
            self.result, decimals=ctx.decimals, unit=ctx.unit, labels=ctx.labels,
            title=f"Table 8. {ctx.label}: differences from {ctx.reference} by subgroup at "
                  f"{self.result.at_visit}")}

    def figures(self) -> dict:
        return {FIGURE: lambda: self.result.forest_plot(decimals=self.ctx.decimals)}

    def results(self) -> dict:
        from .analysis_results import frame_rows

        r = self.result
        return {"subgroups": {"visit": r.at_visit, "method": r.method, "reference": r.reference,
                              "min_subjects": r.min_subjects, "differences": frame_rows(r.table),
                              "interactions": frame_rows(r.interactions)}}

    def rows(self) -> list[tuple[str, str]]:
        c = self.ctx.config
        return [("Subgroups (Table 8, Figure 9)",
                 f"{', '.join(c.subgroups)}: one model each, the MMRM + S + S:{c.arm} + S:{c.visit} + "
                 f"S:{c.arm}:{c.visit}; differences at {self.result.at_visit}")]
