# make_anova_rank_refs.R -- type III tests of rank-deficient designs (an empty arm x visit
# cell; a covariate collinear with the arm) for trialmlm's anova().
#
# Run from inside tests/reference/:   Rscript make_anova_rank_refs.R
# Needs R with emmeans and jsonlite (Debian: r-cran-emmeans r-cran-jsonlite).
#
# Data: demo_trial.csv, modified as tests/test_hostile.py does:
#   "empty_cell": CHG set missing for every TRT = ACT row at AVISIT = V3 (an empty cell);
#   "collinear":  Z = 1 for TRT = ACT, 0 for CTRL (a covariate collinear with the arm).
# Models (lm: independent errors, rows with a missing response dropped; the aliased
# coefficient is NA in lm and dropped by trialmlm):
#   empty_cell: lm(CHG ~ BASE + TRT * AVISIT)
#   collinear:  lm(CHG ~ BASE + Z + TRT * AVISIT)
# Reference: emmeans::joint_tests(fit), which tests for each term the interaction contrasts
# of the cell means and, where some are not estimable, their estimable part
# (estimability::estble.subspace): the combinations of the contrasts that are estimable,
# with the reduced numerator df.  Residual df (lm).  emmeans detects Z as nested in TRT
# and tests TRT with Z moving along (1 df); trialmlm, as SAS, tests TRT at a fixed Z, which is
# not estimable, so only BASE, AVISIT and TRT:AVISIT are compared there.  In the empty-cell
# model emmeans reports the estimable part left over from TRT as "(confounded)".  Writes anova_rank_refs.json.

suppressPackageStartupMessages({
  library(emmeans)
  library(jsonlite)
})

d <- read.csv("demo_trial.csv", stringsAsFactors = TRUE)
e <- d
e$CHG[e$TRT == "ACT" & e$AVISIT == "V3"] <- NA
z <- d
z$Z <- as.numeric(z$TRT == "ACT")

tests <- function(fit) {
  jt <- as.data.frame(joint_tests(fit))
  # joint_tests prints F rounded to 3 decimals; the unrounded F from its p-value
  list(term = jt[["model term"]], num_df = jt$df1, den_df = jt$df2,
       F = qf(jt$p.value, jt$df1, jt$df2, lower.tail = FALSE), p = jt$p.value)
}

fits <- list(
  empty_cell = lm(CHG ~ BASE + TRT * AVISIT, data = e),
  collinear = lm(CHG ~ BASE + Z + TRT * AVISIT, data = z)
)
out <- lapply(fits, function(f) c(list(aliased = names(which(is.na(coef(f))))), tests(f)))
out$generated <- as.character(Sys.Date())
out$software <- paste0(R.version.string, ", emmeans ", packageVersion("emmeans"))
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE), "anova_rank_refs.json")
