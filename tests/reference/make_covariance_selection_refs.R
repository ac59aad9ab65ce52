# make_covariance_selection_refs.R -- information criteria of candidate covariance structures
# (R mmrm) and LS means with equal, proportional and outer weights (R emmeans) on the FEV data.
#
# Run from inside tests/reference/:   Rscript make_covariance_selection_refs.R   (about 20 s)
# Reads fev_data.csv (written by make_fev_refs.R: R mmrm's FEV data, 200 subjects x 4
# visits, FEV1 missing in 263 rows, 3 subjects without FEV1).  Needs mmrm 0.3.18 (built as
# for make_sandwich_df_refs.R), emmeans 1.8.4, jsonlite.
#
# 1. selection: mmrm REML fits of `FEV1 ~ 1` and of `FEV1 ~ ARMCD * AVISIT + RACE + SEX`
#    with us, toeph, ar1h and cs (AVISIT | USUBJID) on every row (mmrm drops the rows
#    without FEV1): -2 log-likelihood, the covariance parameters (n_theta), observations,
#    fixed effects, subjects, AIC(fit), AIC(fit, corrected = TRUE) and BIC(fit).
#    mmrm's definitions (AIC.mmrm_tmb): AIC = -2l + 2 n_theta; AICc = -2l + 2 n_theta m /
#    (m - n_theta - 1) with m = max(n_theta + 2, n_obs - n_beta), SAS's AICC with
#    n* = n - p under REML; BIC = -2l + n_theta log(n_subjects) with the subjects that have
#    an observation (197 here), where SAS counts the subjects read (200).
# 2. weights: mmrm REML fit of `FEV1 ~ ARMCD * AVISIT + SEX * RACE + us(AVISIT | USUBJID)` on
#    the rows with FEV1 (537 rows, unbalanced SEX x RACE cells); emmeans LS means of
#    ARMCD by AVISIT and of ARMCD alone (averaged over AVISIT too) and their differences
#    TRT - PBO, with weights = "equal", "proportional" (frequencies of the combinations of
#    the factors averaged over), "outer" (outer product of each factor's marginal
#    frequencies) and "cells"; Satterthwaite df (mmrm's emmeans method).
#
# Writes covariance_selection_refs.json.  Deterministic.

suppressPackageStartupMessages({library(mmrm); library(emmeans); library(jsonlite)})

fev <- read.csv("fev_data.csv", stringsAsFactors = TRUE)
fev$AVISIT <- factor(fev$AVISIT, levels = c("VIS1", "VIS2", "VIS3", "VIS4"))
fev$ARMCD <- factor(fev$ARMCD, levels = c("PBO", "TRT"))
# run to convergence (BFGS, reltol 1e-14), as converged_mmrm.R: mmrm's default stops near 1e-6 of -2l
control <- mmrm_control(method = "Satterthwaite", optimizer = "BFGS",
                        optimizer_control = list(reltol = 1e-14, maxit = 1000))

criteria <- function(mean_model) {
  out <- list()
  for (s in c("us", "toeph", "ar1h", "cs")) {
    f <- as.formula(sprintf("FEV1 ~ %s + %s(AVISIT | USUBJID)", mean_model, s))
    fit <- mmrm(f, data = fev, reml = TRUE, control = control)
    out[[s]] <- list(minus2_loglik = -2 * as.numeric(logLik(fit)),
                     n_theta = length(component(fit, "theta_est")),
                     n_obs = length(component(fit, "y_vector")),
                     n_beta = length(component(fit, "beta_est")),
                     n_subjects = component(fit, "n_subjects"),
                     aic = AIC(fit), aicc = AIC(fit, corrected = TRUE), bic = BIC(fit),
                     converged = isTRUE(component(fit, "convergence") == 0))
  }
  out
}

lsm_rows <- function(e) {
  d <- as.data.frame(summary(e))
  lapply(seq_len(nrow(d)), function(i) {
    r <- list(ARMCD = as.character(d$ARMCD[i]))
    if ("AVISIT" %in% names(d)) r$AVISIT <- as.character(d$AVISIT[i])
    c(r, list(estimate = d$emmean[i], se = d$SE[i], df = d$df[i]))
  })
}
diff_rows <- function(e) {
  d <- as.data.frame(summary(contrast(e, "trt.vs.ctrl", ref = 1)))
  lapply(seq_len(nrow(d)), function(i) {
    r <- list(contrast = as.character(d$contrast[i]))
    if ("AVISIT" %in% names(d)) r$AVISIT <- as.character(d$AVISIT[i])
    c(r, list(estimate = d$estimate[i], se = d$SE[i], df = d$df[i]))
  })
}

used <- fev[!is.na(fev$FEV1), ]
weights_fit <- mmrm(FEV1 ~ ARMCD * AVISIT + SEX * RACE + us(AVISIT | USUBJID), data = used, reml = TRUE,
                    control = control)
weights <- list()
for (w in c("equal", "proportional", "outer", "cells")) {
  by_visit <- emmeans(weights_fit, ~ ARMCD | AVISIT, weights = w)
  overall <- emmeans(weights_fit, ~ ARMCD, weights = w)
  weights[[w]] <- list(by_visit = lsm_rows(by_visit), by_visit_differences = diff_rows(by_visit),
                       overall = lsm_rows(overall), overall_differences = diff_rows(overall))
}

out <- list(
  generated = format(Sys.Date()), R = R.version.string,
  mmrm = as.character(packageVersion("mmrm")), emmeans = as.character(packageVersion("emmeans")),
  selection = list(
    intercept = list(mean_model = "1", fits = criteria("1")),
    covariates = list(mean_model = "ARMCD * AVISIT + RACE + SEX", fits = criteria("ARMCD * AVISIT + RACE + SEX"))),
  weights = list(formula = "FEV1 ~ ARMCD * AVISIT + SEX * RACE + us(AVISIT | USUBJID)", n_obs = nrow(used),
                 sex_by_race = as.data.frame.matrix(table(used$SEX, used$RACE)), results = weights))
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE), "covariance_selection_refs.json")
