# make_vcov_refs.R -- the covariance of the fixed effects, model-based and sandwich, of the
# example of issue 12 ("with fit(..., vcov = 'empirical'), fit.vcov gives the model-based SE
# (1.797) while coef_table gives the sandwich one (1.981)").
#
# Run from inside tests/reference/:   Rscript make_vcov_refs.R
# Needs R mmrm (see make_sandwich_df_refs.R) and jsonlite.
#
# Reads ../../sample_data/depression_trial.csv (the package's sample trial: 3 arms, visits
# Week 1 to Week 8), keeps the analysis records (ANL01FL == "Y", 1307 rows), fits
# CHG ~ BASE + TRT01P * AVISIT + us(AVISIT | USUBJID) by REML with mmrm and writes
# vcov_refs.json: coefficient names and estimates, and the covariance matrix and standard
# errors of the estimates with vcov = "Asymptotic" (trialmlm vcov="model") and
# vcov = "Empirical" (trialmlm vcov="empirical", SAS EMPIRICAL, CR0).
#
# Factors are in alphabetical level order (as trialmlm's); mmrm's optimiser is tightened
# (nlminb, rel.tol 1e-14) so that the fit is at the optimum to ~1e-9.

suppressPackageStartupMessages({
  library(mmrm)
  library(jsonlite)
})

d <- read.csv("../../sample_data/depression_trial.csv", stringsAsFactors = FALSE)
d <- d[!is.na(d$ANL01FL) & d$ANL01FL == "Y", ]
for (v in c("AVISIT", "TRT01P", "USUBJID")) d[[v]] <- factor(d[[v]])

fit_with <- function(vcov) {
  ctl <- mmrm_control(optimizer = "nlminb", method = "Satterthwaite", vcov = vcov,
                      optimizer_control = list(rel.tol = 1e-14, iter.max = 1000, eval.max = 2000))
  mmrm(CHG ~ BASE + TRT01P * AVISIT + us(AVISIT | USUBJID), data = d, reml = TRUE, control = ctl)
}

out <- list(generated = format(Sys.Date()), n_obs = nrow(d),
            formula = "CHG ~ BASE + TRT01P * AVISIT + us(AVISIT | USUBJID)")
for (v in c("Asymptotic", "Empirical")) {
  fit <- fit_with(v)
  covb <- unname(vcov(fit))
  out$coef_names <- names(coef(fit))
  out$estimate <- unname(coef(fit))
  out[[v]] <- list(vcov = covb, se = sqrt(diag(covb)), reml_loglik = as.numeric(logLik(fit)))
}
writeLines(toJSON(out, digits = NA, pretty = TRUE, auto_unbox = TRUE), "vcov_refs.json")
