# make_subgroups_refs.R -- subgroup analyses of an MMRM (one model with subgroup x arm x visit
# terms, as SAS PROC MIXED and junco fit it) by R mmrm + emmeans, for tests/test_inference_subgroups.py.
#
# Written with R 4.2.2, mmrm 0.3.18, emmeans 1.8.4-1, jsonlite 1.8.4.
# Run from the repository root:   Rscript tests/reference/make_subgroups_refs.R   (about 1 min)
#
# Data: tests/reference/subgroups_adam.csv, the HAMD17 records (CHG present) of the efficacy
# population of the bundled ADaM pair (sample_data/adeff.xpt merged with adsl.xpt by trialmlm.read,
# param="HAMD17", population="EFFFL"): 300 subjects, 3 arms, 6 visits.
#
# Model per subgroup S (SEX: 2 levels, RACE: 3 levels), REML, each df method (Satterthwaite;
# Kenward-Roger: mmrm's method "Kenward-Roger" with vcov "Kenward-Roger-Linear", which for us is
# SAS DDFM=KR, as in demo_trial_mmrm.R; mmrm's default vcov "Kenward-Roger" differentiates the
# Cholesky parameterisation and gives other SEs):
#   CHG ~ BASE + TRT01P * AVISIT + S + S:TRT01P + S:AVISIT + S:TRT01P:AVISIT + us(AVISIT | USUBJID)
# fitted to convergence (converged_mmrm.R's settings: BFGS reltol 1e-14, else nlminb 1e-10).
# Written per model:
#   differences: emmeans(fit, ~ TRT01P | S * AVISIT), contrast "trt.vs.ctrl" (ref Placebo),
#                adjust = "none", at AVISIT = "Week 24": estimate, SE, df, t, p, 95% CI (df: mmrm df_1d);
#   at_visit:    F test of L = rows (d_{a,s} - d_{a,s1}) at Week 24 (d_{a,s} the emmeans
#                contrast row above in the coefficients, s1 the first level), by mmrm::df_md on an
#                orthonormal basis of those rows (Kenward-Roger: the scaled F and its df, as SAS CONTRAST);
#   type3:       mmrm::df_md of an orthonormal basis of mmrm's type III hypothesis of S:TRT01P:AVISIT
#                (mmrm:::h_type3_contrasts), and car_*: mmrm:::Anova.mmrm(fit, type = "III") itself
#                (car::Anova; same F, Satterthwaite df of mmrm's own row basis).
suppressPackageStartupMessages({
  library(mmrm)
  library(emmeans)
  library(jsonlite)
})
ref_dir <- if (file.exists("tests/reference/subgroups_adam.csv")) "tests/reference" else "."
d <- read.csv(file.path(ref_dir, "subgroups_adam.csv"), stringsAsFactors = FALSE)
d$AVISIT <- factor(d$AVISIT, levels = unique(d$AVISIT[order(d$AVISITN)]))
d$TRT01P <- factor(d$TRT01P)
d$USUBJID <- factor(d$USUBJID)
d$SEX <- factor(d$SEX)
d$RACE <- factor(d$RACE)
visit <- "Week 24"

fit_converged <- function(formula, data, method) {
  vcov <- if (method == "Kenward-Roger") "Kenward-Roger-Linear" else "Asymptotic"
  fit_with <- function(optimizer, control) {
    mmrm(formula = formula, data = data, reml = TRUE,
         control = mmrm_control(method = method, vcov = vcov, optimizer = optimizer,
                                optimizer_control = control))
  }
  tryCatch(fit_with("BFGS", list(reltol = 1e-14, maxit = 1000)),
           error = function(e) fit_with("nlminb", list(rel.tol = 1e-10, eval.max = 1000, iter.max = 1000)))
}

# The Satterthwaite df of a multi-row F test (Fai & Cornelius, as SAS and mmrm::df_md compute it:
# one t df per eigenvector of L C L', combined) depends on the basis of the rows of L unless they are
# orthonormal; trialmlm tests an orthonormal basis of the hypothesis (SVD), so the hypotheses are
# given to df_md in that form.  (F and the Kenward-Roger df do not depend on the basis.)
orthonormal <- function(L) {
  s <- svd(L)
  t(s$v[, s$d > 1e-8 * s$d[1], drop = FALSE])
}

out <- list()
for (method in c("Satterthwaite", "Kenward-Roger")) {
  for (s in c("SEX", "RACE")) {
    f <- as.formula(sprintf(
      "CHG ~ BASE + TRT01P * AVISIT + %1$s + %1$s:TRT01P + %1$s:AVISIT + %1$s:TRT01P:AVISIT + us(AVISIT | USUBJID)",
      s))
    fit <- fit_converged(f, d, method)
    emm <- emmeans(fit, as.formula(sprintf("~ TRT01P | %s * AVISIT", s)))
    ct <- contrast(emm, "trt.vs.ctrl", ref = "Placebo", adjust = "none")
    tab <- as.data.frame(summary(ct, infer = TRUE))
    keep <- tab$AVISIT == visit
    L <- ct@linfct[keep, , drop = FALSE]
    info <- tab[keep, ]
    first <- levels(d[[s]])[1]
    rows <- list()
    for (con in unique(info$contrast)) {
      base <- L[info$contrast == con & info[[s]] == first, ]
      for (i in which(info$contrast == con & info[[s]] != first)) rows[[length(rows) + 1]] <- L[i, ] - base
    }
    Lint <- do.call(rbind, rows)
    at <- df_md(fit, orthonormal(Lint))
    a3 <- mmrm:::Anova.mmrm(fit, type = "III", test.statistic = "F")
    term <- sprintf("TRT01P:AVISIT:%s", s)
    own <- df_md(fit, orthonormal(mmrm:::h_type3_contrasts(fit)[[term]]))
    out[[method]][[s]] <- list(
      logLik = as.numeric(logLik(fit)),
      differences = data.frame(level = as.character(info[[s]]), contrast = as.character(info$contrast),
                               estimate = info$estimate, se = info$SE, df = info$df, t = info$t.ratio,
                               p = info$p.value, lower = info$lower.CL, upper = info$upper.CL),
      at_visit = list(num_df = at$num_df, den_df = at$denom_df, F = at$f_stat, p = at$p_val),
      type3 = list(term = term, num_df = own$num_df, den_df = own$denom_df, F = own$f_stat, p = own$p_val,
                   car_den_df = a3[term, "Res.Df"], car_F = a3[term, "F"], car_p = a3[term, "Pr(>F)"]))
  }
}
write(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE), file.path(ref_dir, "subgroups_refs.json"))
