# make_marginal_refs.R -- covariate-adjusted marginal (g-computation) treatment effects of a
# logistic working model: R beeca get_marginal_effect (Ge and Ye variances) and RobinCar2
# robin_glm (stratified randomisation), with the SAS outputs beeca ships and its tests' numbers.
#
# Run from inside tests/reference/gee_published/:   Rscript make_marginal_refs.R
# Needs beeca 0.2.0 (not in Debian: installed from github.com/openpharma/beeca at commit
# 4b72c14afc83ffc36eafa3c94b98ebc3d116fcbc; Imports dplyr, lifecycle, sandwich from Debian),
# RobinCar2 0.2.3.9000 (github.com/openpharma/RobinCar2 at commit 43ba7c1; Imports checkmate,
# numDeriv, MASS, sandwich, survival from Debian) and jsonlite.
#
# Writes
#   trial01.csv          beeca's `trial01` (268 subjects; aval 0/1 with one missing, trtp 0/1,
#                        bl_cov, bl_cov_c, region_2..5).
#   trial02_cdisc.csv    beeca's `trial02_cdisc` (254 subjects, 3 arms TRTPN 1/2/3, AVAL, SEX, ...:
#                        the CDISC pilot ADTTE via safetyData, see beeca's data-raw/DATASET.R).
#   robincar2_glm_data.csv  RobinCar2's `glm_data` (600 subjects, treatment pbo/trt1/trt2, strata
#                        s1 a/b and s2 c/d, covar, y, y_b).
#   marginal_refs.json   see README.md: per case the glm coefficients, the counterfactual means
#                        theta_a = mean_i expit(x_i(a)' beta) of every arm, their covariance
#                        matrix (Ge or Ye), and every contrast's estimate and standard error;
#                        beeca's shipped SAS outputs (margins_trial01, ge_macro_trial01) and the
#                        expected values hard-coded in beeca's tests.
#
# glm fits are run to convergence (glm.control(epsilon = 1e-14)) so that the numbers are
# those of the exact optimum; beeca's default (epsilon = 1e-8) moves them by < 1e-8.

suppressPackageStartupMessages({
  library(beeca)
  library(RobinCar2)
  library(jsonlite)
})

TIGHT <- glm.control(epsilon = 1e-14, maxit = 100)
CONTRASTS <- c("diff", "rr", "or", "logrr", "logor")

write.csv(as.data.frame(trial01), "trial01.csv", row.names = FALSE)
write.csv(as.data.frame(trial02_cdisc), "trial02_cdisc.csv", row.names = FALSE)
write.csv(as.data.frame(glm_data), "robincar2_glm_data.csv", row.names = FALSE)

d1 <- as.data.frame(trial01)
d1$trtp <- factor(d1$trtp)
d1 <- d1[!is.na(d1$aval), ]
d2 <- as.data.frame(trial02_cdisc)
d2$TRTPN <- factor(d2$TRTPN)

beeca_case <- function(formula, data, trt, reference, method, strata = NULL, type = "HC0") {
  fit0 <- glm(formula, family = binomial, data = data, control = TIGHT)
  per <- lapply(CONTRASTS, function(ct) {
    f <- suppressWarnings(get_marginal_effect(fit0, trt = trt, strata = strata, method = method,
                                              type = type, contrast = ct, reference = reference))
    list(labels = names(f$marginal_est) %||% attr(f$marginal_est, "contrast"),
         ard_labels = as.character(f$marginal_results$TRTVAL[f$marginal_results$STAT == ct]),
         estimate = unname(f$marginal_est), se = unname(f$marginal_se))
  })
  names(per) <- CONTRASTS
  f <- suppressWarnings(get_marginal_effect(fit0, trt = trt, strata = strata, method = method,
                                            type = type, contrast = "diff", reference = reference))
  V <- f$robust_varcov
  attr(V, "type") <- NULL
  list(formula = deparse(formula), trt = trt, reference = reference, method = method,
       type = if (method == "Ge") type else NULL, strata = strata, n = nrow(data), coefficients = as.list(coef(fit0)),
       counterfactual_means = as.list(f$counterfactual.means),
       varcov = unclass(V), contrasts = per)
}
`%||%` <- function(a, b) if (is.null(a)) b else a

d1s <- transform(d1, bl_cov_c2 = cut(bl_cov, 4))
cases <- list(
  trial01_Ge = beeca_case(aval ~ trtp + bl_cov, d1, "trtp", "0", "Ge"),
  trial01_Ge_model_based = beeca_case(aval ~ trtp + bl_cov, d1, "trtp", "0", "Ge", type = "model-based"),
  trial01_Ye = beeca_case(aval ~ trtp + bl_cov, d1, "trtp", "0", "Ye"),
  trial01_Ye_strata = beeca_case(aval ~ trtp + bl_cov + bl_cov_c2, d1s, "trtp", "0", "Ye",
                                 strata = "bl_cov_c2"),
  trial02_Ge = beeca_case(AVAL ~ TRTPN + SEX, d2, "TRTPN", "1", "Ge"),
  trial02_Ye = beeca_case(AVAL ~ TRTPN + SEX, d2, "TRTPN", "1", "Ye"),
  trial02_Ye_strata_SEX = beeca_case(AVAL ~ TRTPN + SEX, d2, "TRTPN", "1", "Ye", strata = "SEX"))
# cut(bl_cov, 4) gives the interval labels used by beeca's tests; record them for the engine
cases$trial01_Ye_strata$strata_levels <- levels(d1s$bl_cov_c2)
cases$trial01_Ye_strata$strata_codes <- as.integer(d1s$bl_cov_c2)

# beeca's tests (tests/testthat/test-estimate_varcov.R at the commit above), values written there
beeca_tests <- list(
  source = "beeca tests/testthat/test-estimate_varcov.R (expected values when RobinCar is absent)",
  trial01_Ye_diff_variance = 0.003706813,
  trial01_Ye_strata_bl_cov_c2_diff_variance = 0.003664811,
  trial02_Ye_varcov = matrix(c(2.652272364e-03, 2.576978801e-06, -5.244417729e-07,
                               2.576978801e-06, 2.303420439e-03, 1.053457633e-05,
                               -5.244417729e-07, 1.053457633e-05, 2.379076091e-03), 3, 3),
  trial02_Ye_strata_SEX_varcov = matrix(c(2.622886513e-03, -7.797320489e-06, -4.923527008e-06,
                                          -7.797320489e-06, 2.288915038e-03, 1.360521021e-05,
                                          -4.923527008e-06, 1.360521021e-05, 2.376256827e-03), 3, 3))
stopifnot(abs(sum(c(-1, 1) * cases$trial01_Ye$varcov %*% c(-1, 1)) - 0.003706813) < 1e-9,
          abs(sum(c(-1, 1) * cases$trial01_Ye_strata$varcov %*% c(-1, 1)) - 0.003664811) < 1e-9,
          max(abs(cases$trial02_Ye$varcov - beeca_tests$trial02_Ye_varcov)) < 1e-11,
          max(abs(cases$trial02_Ye_strata_SEX$varcov - beeca_tests$trial02_Ye_strata_SEX_varcov)) < 1e-11)

shipped <- list(
  source = paste("beeca package data: margins_trial01 = SAS %Margins macro (support.sas.com/kb/63/038)",
                 "and ge_macro_trial01 = the SAS macro of Ge et al. (2011), both on trial01 with",
                 "aval ~ trtp + bl_cov, risk difference trtp 1 - 0"),
  margins_trial01 = as.data.frame(margins_trial01),
  ge_macro_trial01 = as.data.frame(ge_macro_trial01))

# beeca's Ge with the model-based covariance of beta reproduces both SAS macros (%Margins to 1e-8,
# the Ge et al. macro to 1e-6, its own glm convergence); beeca's default Ge (HC0) does not.
mb <- cases$trial01_Ge_model_based$contrasts$diff
stopifnot(abs(mb$se / shipped$margins_trial01$StdErr - 1) < 1e-7,
          abs(mb$estimate / shipped$margins_trial01$Estimate - 1) < 1e-7,
          abs(mb$se / shipped$ge_macro_trial01$se - 1) < 1e-6)

# RobinCar2: robin_glm on glm_data, logistic working model with treatment x s1 interaction;
# treatment assignment simple (treatment ~ s1) and permuted-block stratified by s1 (treatment ~ pb(s1))
robin_case <- function(formula, treatment, contrast) {
  r <- robin_glm(formula, data = glm_data, treatment = treatment,
                 contrast = contrast, family = binomial(), control = TIGHT)
  mm <- r$marginal_mean
  ct <- r$contrast
  list(formula = deparse(formula), treatment = deparse(treatment), contrast = contrast,
       marginal_mean = list(estimate = as.list(mm$estimate), varcov = unclass(mm$variance)),
       contrast_estimate = as.list(ct$estimate),
       contrast_se = as.list(sqrt(diag(ct$variance))),
       contrast_varcov = unclass(ct$variance))
}
# and without the interaction, y_b ~ treatment + covar, where the stratified (pb) variance differs
# from the simple one because the strata s1 are not in the working model.
robincar2 <- list()
for (tr in c("simple", "pb")) for (ct in c("difference", "risk_ratio", "odds_ratio",
                                           "log_risk_ratio", "log_odds_ratio")) {
  form <- if (tr == "simple") treatment ~ s1 else treatment ~ pb(s1)
  robincar2[[paste(tr, ct, sep = "_")]] <- suppressWarnings(robin_case(y_b ~ treatment * s1, form, ct))
  robincar2[[paste("covar", tr, ct, sep = "_")]] <- suppressWarnings(robin_case(y_b ~ treatment + covar, form, ct))
}

out <- list(generated = format(Sys.Date()),
            versions = list(R = as.character(getRversion()), beeca = as.character(packageVersion("beeca")),
                            RobinCar2 = as.character(packageVersion("RobinCar2"))),
            beeca = cases, beeca_tests = beeca_tests, beeca_shipped_sas = shipped,
            robincar2 = robincar2)
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE, matrix = "rowmajor",
                  dataframe = "rows", null = "null"), "marginal_refs.json")
