# make_conditional_predict_refs.R -- R mmrm's predict() (conditional and unconditional,
# confidence and prediction intervals) on mmrm's FEV data, the deterministic pieces behind
# it, and the SAS PROC MIXED OUTP=/OUTPM= predictions stored in mmrm's design folder.
#
# Written with R 4.2.2, mmrm 0.3.18 (built from github.com/openpharma/mmrm at commit
# ec290b2695b25057b31bc98e27c39d3f498cd0d6 with Debian's TMB 1.9.2: git archive + R CMD
# INSTALL), jsonlite 1.8.4.
#
# Run from the repository root:
#   MMRM_SRC=/path/to/mmrm-source Rscript tests/reference/make_conditional_predict_refs.R
# (also works from inside tests/reference/; about a minute).  MMRM_SRC is a checkout of
# github.com/openpharma/mmrm (commit ec290b2); only its
# design/predict_interval/*.csv (SAS output) are read.  Without MMRM_SRC (default
# /tmp/mmrmsrc) the SAS part is skipped.
#
# Reads tests/reference/fev_data.csv (mmrm's fev_data, same row order) and sources
# tests/reference/converged_mmrm.R (its optimiser settings) so that the fits are at the
# optimum.  Writes conditional_predict_refs.json (structure in its "notes" entry).

suppressPackageStartupMessages({
  library(mmrm)
  library(jsonlite)
})

ref_dir <- if (file.exists("tests/reference/fev_data.csv")) "tests/reference" else "."
source(file.path(ref_dir, "converged_mmrm.R"))  # defines mmrm_as_shipped
mmrm_src <- Sys.getenv("MMRM_SRC", "/tmp/mmrmsrc")

fev <- read.csv(file.path(ref_dir, "fev_data.csv"), stringsAsFactors = FALSE)
for (v in c("AVISIT", "ARMCD", "RACE")) fev[[v]] <- factor(as.character(fev[[v]]))
fev$SEX <- factor(fev$SEX, levels = c("Female", "Male"))
fev$USUBJID <- factor(fev$USUBJID, levels = unique(fev$USUBJID))  # PT1, PT2, ... as in mmrm
observed <- !is.na(fev$FEV1)

fit_converged <- function(formula, data, method = "Satterthwaite") {
  fit_with <- function(optimizer, optimizer_control) {
    mmrm_as_shipped(formula = formula, data = data, reml = TRUE,
                    control = mmrm_control(method = method, optimizer = optimizer,
                                           optimizer_control = optimizer_control))
  }
  tryCatch(fit_with("BFGS", list(reltol = 1e-14, maxit = 1000)),
           error = function(e) fit_with("nlminb", list(rel.tol = 1e-10, eval.max = 1000, iter.max = 1000)))
}

# The deterministic quantities behind predict(conditional = TRUE): mmrm's C++ predict at
# the estimated theta (this is what predict() calls, before any Monte Carlo over theta).
plugin_components <- function(fit, newdata) {
  colnames_ok <- names(Filter(isFALSE, fit$tmb_data$x_cols_aliased))
  tmb_data <- mmrm:::h_mmrm_tmb_data(
    fit$formula_parts, newdata, weights = rep(1, nrow(newdata)), reml = TRUE,
    singular = "keep", drop_visit_levels = FALSE, allow_na_response = TRUE,
    drop_levels = FALSE, xlev = component(fit, "xlev"), contrasts = component(fit, "contrasts"))
  tmb_data$x_matrix <- tmb_data$x_matrix[, colnames_ok, drop = FALSE]
  pr <- mmrm:::h_get_prediction(tmb_data, fit$theta_est, fit$beta_est, component(fit, "beta_vcov"))$prediction
  ord <- match(row.names(tmb_data$full_frame), row.names(newdata))
  out <- matrix(NA_real_, nrow(newdata), 3, dimnames = list(NULL, colnames(pr)))
  out[ord, ] <- pr
  out
}

# Independent dense computation (non-spatial structures): Sigma = VarCorr(fit) by visit.
dense_check <- function(fit, data) {
  S <- VarCorr(fit)
  X <- model.matrix(fit, data = data, use_response = FALSE)
  b <- component(fit, "beta_est")
  V <- component(fit, "beta_vcov")
  mu <- drop(X %*% b)
  fitv <- cv <- pv <- rep(NA_real_, nrow(data))
  vis <- as.integer(data$AVISIT)
  for (s in split(seq_len(nrow(data)), data$USUBJID)) {
    o <- s[observed[s]]
    m <- s[!observed[s]]
    fitv[o] <- data$FEV1[o]
    cv[o] <- 0
    pv[o] <- 0
    if (length(m) == 0) next
    if (length(o) == 0) {
      fitv[m] <- mu[m]
      cv[m] <- rowSums((X[m, , drop = FALSE] %*% V) * X[m, , drop = FALSE])
      pv[m] <- cv[m] + diag(S)[vis[m]]
    } else {
      S12 <- S[vis[m], vis[o], drop = FALSE]
      K <- S12 %*% solve(S[vis[o], vis[o], drop = FALSE])
      Z <- X[m, , drop = FALSE] - K %*% X[o, , drop = FALSE]
      fitv[m] <- mu[m] + drop(K %*% (data$FEV1[o] - mu[o]))
      cv[m] <- rowSums((Z %*% V) * Z)
      pv[m] <- cv[m] + diag(S[vis[m], vis[m], drop = FALSE] - K %*% t(S12))
    }
  }
  cbind(fit = fitv, conf_var = cv, var = pv)
}

pred_cols <- function(p) {
  p <- as.matrix(p)
  res <- list()
  for (nm in colnames(p)) res[[nm]] <- unname(p[, nm])
  res
}

SEED <- 20240517L
run_cov <- function(label, formula) {
  t0 <- proc.time()[["elapsed"]]
  fit <- fit_converged(formula, fev)
  res <- list(formula = paste(deparse(formula, width.cutoff = 500L), collapse = " "),
              method = "Satterthwaite", reml = TRUE,
              logLik_REML = as.numeric(logLik(fit)),
              theta = unname(fit$theta_est),
              beta = as.list(component(fit, "beta_est")),
              varcor = unname(VarCorr(fit)))
  set.seed(SEED)
  res$cond_prediction <- pred_cols(predict(fit, newdata = fev, conditional = TRUE, se.fit = TRUE,
                                           interval = "prediction", level = 0.95))
  set.seed(SEED + 1L)
  res$cond_prediction_nsim20000 <- pred_cols(predict(fit, newdata = fev, conditional = TRUE, se.fit = TRUE,
                                                     interval = "prediction", level = 0.95, nsim = 20000L))
  res$cond_confidence <- pred_cols(predict(fit, newdata = fev, conditional = TRUE, se.fit = TRUE,
                                           interval = "confidence", level = 0.95))
  res$uncond_confidence <- pred_cols(predict(fit, newdata = fev, conditional = FALSE, se.fit = TRUE,
                                             interval = "confidence", level = 0.95))
  set.seed(SEED)
  res$uncond_prediction <- pred_cols(predict(fit, newdata = fev, conditional = FALSE, se.fit = TRUE,
                                             interval = "prediction", level = 0.95))
  res$uncond_none <- unname(predict(fit, newdata = fev, conditional = FALSE))
  res$cond_none <- unname(predict(fit, newdata = fev, conditional = TRUE))
  pc <- plugin_components(fit, fev)
  res$plugin <- list(fit = pc[, "fit"], conf_var = pc[, "conf_var"], var = pc[, "var"])
  X <- model.matrix(fit, data = fev, use_response = FALSE)
  res$xbeta <- list(fit = unname(drop(X %*% component(fit, "beta_est"))),
                    se = unname(sqrt(rowSums((X %*% component(fit, "beta_vcov")) * X))))
  if (!grepl("^sp_", label)) {
    dc <- dense_check(fit, fev)
    res$dense_check_max_abs_diff <- list(
      fit = max(abs(dc[, "fit"] - pc[, "fit"])),
      conf_var = max(abs(dc[, "conf_var"] - pc[, "conf_var"])),
      var = max(abs(dc[, "var"] - pc[, "var"])))
  }
  # Facts checked here and stated in the notes
  res$checks <- list(
    uncond_prediction_equals_cond_prediction_same_seed =
      isTRUE(all.equal(res$uncond_prediction, res$cond_prediction, tolerance = 0)),
    cond_confidence_se_equals_sqrt_plugin_conf_var =
      max(abs(res$cond_confidence$se - sqrt(pc[, "conf_var"]))),
    uncond_confidence_se_equals_xbeta_variance_not_sd =
      max(abs(res$uncond_confidence$se - res$xbeta$se^2)),
    uncond_confidence_halfwidth_over_se = unique(signif((res$uncond_confidence$upr - res$uncond_confidence$fit) /
                                                          res$uncond_confidence$se, 12)),
    qnorm_1_minus_level_over_2 = qnorm(1 - 0.95 / 2),
    cond_halfwidth_over_se_missing_rows = unique(signif(((res$cond_prediction$upr - res$cond_prediction$fit) /
                                                          res$cond_prediction$se)[!observed], 12)),
    qnorm_0.975 = qnorm(0.975),
    observed_rows_fit_equals_FEV1 = isTRUE(all.equal(res$cond_prediction$fit[observed], fev$FEV1[observed])),
    observed_rows_se_all_zero = all(res$cond_prediction$se[observed] == 0),
    max_rel_diff_mc_se_vs_sqrt_plugin_var_missing_rows =
      max(abs(res$cond_prediction_nsim20000$se[!observed] / sqrt(pc[!observed, "var"]) - 1))
  )
  res$seconds <- proc.time()[["elapsed"]] - t0
  cat(label, ": logLik", res$logLik_REML, sprintf("(%.1f s)\n", res$seconds))
  res
}

fits <- list(
  ar1 = run_cov("ar1", FEV1 ~ RACE + SEX + ARMCD * AVISIT + ar1(AVISIT | USUBJID)),
  us = run_cov("us", FEV1 ~ RACE + SEX + ARMCD * AVISIT + us(AVISIT | USUBJID)),
  sp_exp = run_cov("sp_exp", FEV1 ~ RACE + SEX + ARMCD * AVISIT + sp_exp(VISITN | USUBJID))
)

## ---------------------------------------------------------------- SAS OUTP= / OUTPM=
sas <- NULL
pdir <- file.path(mmrm_src, "design", "predict_interval")
if (dir.exists(pdir)) {
  specs <- list(
    list(file = "un_satterthwaite.csv", cov = "us(AVISIT | USUBJID)", method = "Satterthwaite"),
    list(file = "un_kenwardroger_linear.csv", cov = "us(AVISIT | USUBJID)", method = "Kenward-Roger-Linear"),
    list(file = "cs_satterthwaite.csv", cov = "cs(AVISIT | USUBJID)", method = "Satterthwaite"),
    list(file = "cs_kenwardroger.csv", cov = "cs(AVISIT | USUBJID)", method = "Kenward-Roger"),
    list(file = "ar(1)_satterthwaite.csv", cov = "ar1(AVISIT | USUBJID)", method = "Satterthwaite"),
    list(file = "ar(1)_kenwardroger.csv", cov = "ar1(AVISIT | USUBJID)", method = "Kenward-Roger"),
    list(file = "toep_satterthwaite.csv", cov = "toep(AVISIT | USUBJID)", method = "Satterthwaite"),
    list(file = "toep_kenwardroger.csv", cov = "toep(AVISIT | USUBJID)", method = "Kenward-Roger"),
    list(file = "sp(exp)(VISITN VISITN2)_satterthwaite.csv", cov = "sp_exp(VISITN, VISITN2 | USUBJID)", method = "Satterthwaite"),
    list(file = "sp(exp)(VISITN VISITN2)_kenwardroger.csv", cov = "sp_exp(VISITN, VISITN2 | USUBJID)", method = "Kenward-Roger")
  )
  sas <- list(
    source = "openpharma/mmrm@ec290b2:design/predict_interval/*.csv, written by design/predict_interval/predict_interval.Rmd via sasr",
    statements = paste(
      "PROC MIXED DATA = fev_data method=reml; CLASS RACE(ref = 'Asian') AVISIT(ref = 'VIS4')",
      "SEX(ref = 'Male') ARMCD(ref = 'PBO') USUBJID; MODEL FEV1 = ARMCD / ddfm=<ddfm> solution",
      "chisq outpm=predm outp=pred; REPEATED AVISIT / subject=USUBJID type=<type> r rcorr;",
      "LSMEANS ARMCD / pdiff=all cl alpha=0.05 slice=AVISIT; RUN;  csv columns: FEV1, PM =",
      "OUTPM Pred, PMSD = OUTPM StdErrPred, P = OUTP Pred, PSD = OUTP StdErrPred, 800 rows in",
      "fev_data order. Stored here: PM/PMSD per ARMCD (constant within arm), P/PSD for the 263",
      "rows with FEV1 missing (rows_missing, 1-based row numbers of fev_data.csv); for the",
      "observed rows SAS's P equals PM and PSD equals PMSD (checked: observed_P_equals_PM)."),
    warning_un_kenwardroger_linear = paste(
      "un_kenwardroger_linear.csv is identical to un_satterthwaite.csv in every column. Its",
      "ddfm value 'kenwardroger_linear' is not a SAS DDFM option (SAS spells it KR(LINEARITY)),",
      "so that SAS run most likely failed and the csv repeats the previous run's data sets:",
      "treat it as a second copy of the Satterthwaite run."),
    rows_missing = which(!observed),
    models = list())
  for (sp in specs) {
    d <- read.csv(file.path(pdir, sp$file))
    stopifnot(nrow(d) == 800, isTRUE(all.equal(d$FEV1, fev$FEV1)))
    formula <- as.formula(paste("FEV1 ~ ARMCD +", sp$cov))
    fit <- fit_converged(formula, fev, method = if (sp$method == "Kenward-Roger-Linear") "Kenward-Roger" else sp$method)
    if (sp$method == "Kenward-Roger-Linear") {
      fit <- mmrm_as_shipped(formula, fev, reml = TRUE,
                             control = mmrm_control(method = "Kenward-Roger", vcov = "Kenward-Roger-Linear",
                                                    optimizer = "BFGS", optimizer_control = list(reltol = 1e-14, maxit = 1000)))
    }
    pc <- plugin_components(fit, fev)
    X <- model.matrix(fit, data = fev, use_response = FALSE)
    xb <- drop(X %*% component(fit, "beta_est"))
    xse <- sqrt(rowSums((X %*% component(fit, "beta_vcov")) * X))
    arm <- as.character(fev$ARMCD)
    m <- !observed
    key <- sub("\\.csv$", "", sp$file)
    sas$models[[key]] <- list(
      file = sp$file,
      mmrm_formula = paste(deparse(formula, width.cutoff = 500L), collapse = " "),
      mmrm_method = sp$method,
      mmrm_vcov = fit$vcov,
      sas_PM_by_arm = list(PBO = unique(d$PM[arm == "PBO"]), TRT = unique(d$PM[arm == "TRT"])),
      sas_PMSD_by_arm = list(PBO = unique(d$PMSD[arm == "PBO"]), TRT = unique(d$PMSD[arm == "TRT"])),
      observed_P_equals_PM = isTRUE(all.equal(d$P[observed], d$PM[observed], tolerance = 0)) &&
        isTRUE(all.equal(d$PSD[observed], d$PMSD[observed], tolerance = 0)),
      sas_P_missing = d$P[m],
      sas_PSD_missing = d$PSD[m],
      mmrm_logLik_REML = as.numeric(logLik(fit)),
      mmrm_fit_missing = pc[m, "fit"],
      mmrm_sqrt_conf_var_missing = sqrt(pc[m, "conf_var"]),
      mmrm_sqrt_var_missing = sqrt(pc[m, "var"]),
      mmrm_xbeta_by_arm = list(PBO = unique(signif(xb[arm == "PBO"], 14)), TRT = unique(signif(xb[arm == "TRT"], 14))),
      mmrm_xbeta_se_by_arm = list(PBO = unique(signif(xse[arm == "PBO"], 14)), TRT = unique(signif(xse[arm == "TRT"], 14))),
      range_sas_PSD2_minus_mmrm_var = range(d$PSD[m]^2 - pc[m, "var"]),
      max_abs_diff = list(
        P_vs_mmrm_fit = max(abs(d$P[m] - pc[m, "fit"])),
        PSD_vs_sqrt_var = max(abs(d$PSD[m] - sqrt(pc[m, "var"]))),
        PSD_vs_sqrt_conf_var = max(abs(d$PSD[m] - sqrt(pc[m, "conf_var"]))),
        PM_vs_xbeta = max(abs(d$PM - xb)),
        PMSD_vs_xbeta_se = max(abs(d$PMSD - xse)))
    )
    cat(key, ": max |P - fit|", sas$models[[key]]$max_abs_diff$P_vs_mmrm_fit,
        " max |PSD - sqrt(var)|", sas$models[[key]]$max_abs_diff$PSD_vs_sqrt_var,
        " max |PMSD - se(Xb)|", sas$models[[key]]$max_abs_diff$PMSD_vs_xbeta_se, "\n")
  }
}

notes <- list(
  structure = paste(
    "rows: per-row arrays in fev_data.csv row order (800): USUBJID, AVISIT, VISITN, observed",
    "(FEV1 not missing). fits.<ar1|us|sp_exp>: mmrm REML Satterthwaite fit of",
    "FEV1 ~ RACE + SEX + ARMCD * AVISIT + <cov>, optimiser of converged_mmrm.R (BFGS",
    "reltol 1e-14); factor levels alphabetical (SEX Female, Male). Each predict() result is a",
    "list of per-row arrays fit, se, lwr, upr (null = NA): cond_prediction = predict(fit,",
    "newdata = fev, conditional = TRUE, se.fit = TRUE, interval = 'prediction', level = 0.95)",
    "after set.seed(20240517) (nsim = 1000, Monte Carlo!); cond_prediction_nsim20000 the same",
    "with nsim = 20000 after set.seed(20240518); cond_confidence (interval = 'confidence');",
    "uncond_confidence (conditional = FALSE, interval = 'confidence'); uncond_prediction",
    "(conditional = FALSE, interval = 'prediction', set.seed(20240517)); uncond_none /",
    "cond_none: interval = 'none' (a vector). plugin: mmrm's C++ predict at theta-hat",
    "(mmrm:::h_get_prediction): fit, conf_var, var per row -- deterministic, the quantities",
    "to test against. xbeta: X beta-hat and sqrt(diag(X Cov(beta-hat) X')) per row.",
    "dense_check_max_abs_diff: plugin vs an independent dense computation in this script",
    "(us, ar1). checks: the facts stated below, evaluated. sas: SAS OUTP/OUTPM predictions",
    "for FEV1 ~ ARMCD (see sas.statements) with mmrm's counterparts and max differences."),
  conditional_formula = paste(
    "conditional = TRUE (and any call with interval = 'prediction'): for each subject with",
    "observed rows o and missing rows m, Sigma = Sigma(theta-hat) over the subject's visits",
    "(spatial: from the coordinate distances), K = Sigma_mo Sigma_oo^-1,",
    "fit_m = X_m b + K (y_o - X_o b); Z = X_m - K X_o; conf_var_m = diag(Z Cov(b) Z');",
    "var_m = conf_var_m + diag(Sigma_mm - K Sigma_om) (the conditional residual variance IS",
    "added, and the beta uncertainty IS included via Z Cov(b) Z'). A subject with no observed",
    "row: fit = X b, conf_var = diag(X Cov(b) X'), var = conf_var + diag(Sigma). OBSERVED rows:",
    "fit = the observed y, conf_var = var = 0, so se = 0 and lwr = upr = y.",
    "Cov(b) is component(fit, 'beta_vcov'), i.e. the asymptotic (or, for method",
    "Kenward-Roger, the KR-adjusted) covariance of beta-hat."),
  se_fit_confidence = "interval = 'confidence', conditional = TRUE: se = sqrt(conf_var) (no residual variance).",
  se_fit_prediction = paste(
    "interval = 'prediction': se = sqrt(E[var | theta] + Var[fit | theta]) estimated by Monte",
    "Carlo (h_get_prediction_variance): nsim (default 1000) draws theta* = theta-hat + z' chol(",
    "theta_vcov) with z ~ N(0, I) (theta_vcov = inverse Hessian of the REML objective in mmrm's",
    "internal theta parameterisation), beta*(theta*) and Cov(beta)(theta*) re-computed by the",
    "TMB report, the conditional fit and var recomputed at theta*; then mean of var + sample",
    "variance (n - 1) of fit over draws. So it adds (i) residual conditional variance, (ii) beta",
    "uncertainty and (iii) theta uncertainty, and is random (depends on the RNG seed; compare",
    "with plugin$var, the theta-hat value, which it exceeds by the theta-uncertainty part).",
    "Observed rows get se 0 in every draw."),
  interval_quantile = paste(
    "Both conditional intervals use a NORMAL quantile: fit -/+ qnorm(1 - (1 - level)/2) * se",
    "(1.959964 for level 0.95), never a t quantile; the Satterthwaite/KR df are not used."),
  unconditional = paste(
    "conditional = FALSE with interval 'none' or 'confidence': fit = X b for every row",
    "(observed or not). With interval = 'confidence', mmrm 0.3.18 returns as 'se' the",
    "VARIANCE diag(X Cov(b) X') (no square root) and lwr/upr = fit -/+ qnorm(1 - level/2) * se,",
    "i.e. qnorm(0.525) = 0.0627 for level 0.95 -- both look like bugs in mmrm",
    "(checks.uncond_confidence_se_equals_xbeta_variance_not_sd,",
    "uncond_confidence_halfwidth_over_se); the correct marginal SE is xbeta$se.",
    "conditional = FALSE with interval = 'prediction' ignores conditional = FALSE: it runs the",
    "conditional code on newdata including its FEV1 values, so it equals cond_prediction for",
    "the same seed (checks.uncond_prediction_equals_cond_prediction_same_seed).",
    "To get unconditional predictions of the observed rows one has to set FEV1 to NA in newdata."),
  sas_outp = paste(
    "mmrm's design/predict_interval/ holds SAS OUTP= and OUTPM= output for FEV1 ~ ARMCD with",
    "REPEATED types un, cs, ar(1), toep, sp(exp)(VISITN VISITN2), ddfm satterthwaite and",
    "kenwardroger (10 csv files, 800 rows each). SAS OUTPM: Xb and its SE for every row. SAS",
    "OUTP: for rows with FEV1 observed also Xb and its SE (SAS does not return y there); for",
    "rows with FEV1 missing the conditional (kriging) prediction from the REPEATED covariance,",
    "with StdErrPred = sqrt(conf_var + conditional residual variance), i.e. the theta-hat",
    "plug-in var of mmrm (see sas.models.*.max_abs_diff.PSD_vs_sqrt_var), no theta Monte",
    "Carlo, for ddfm=satterthwaite (agreement 1e-6 relative for cs, ar(1), sp(exp); 1e-4 for",
    "un and toep, where SAS's optimum is less precise: P differs by up to 3e-3 there too).",
    "With ddfm=kenwardroger, SAS's PMSD is the SE from the KR-adjusted Cov(b) (mmrm's KR",
    "beta_vcov agrees to 1e-4 (ar1) .. 3e-3 (sp_exp)), but SAS's PSD for the missing rows is",
    "LARGER than sqrt(mmrm var with KR Cov(b)): PSD^2 - var is about 0.5 to 2",
    "(range_sas_PSD2_minus_mmrm_var), while the KR change of conf_var is only ~1e-3. So SAS",
    "adds an extra KR-type term to the prediction-error variance of the kriged values (its",
    "KR adjustment applied to the prediction, presumably the Kackar-Harville/Prasad-Rao",
    "theta-uncertainty term); mmrm's predict() ignores the KR adjustment (its Monte Carlo",
    "uses the unadjusted Cov(b) of each theta draw, so Satterthwaite and KR fits give the same",
    "prediction se for the same seed). The cause of SAS's extra term was not verified here.",
    "un_kenwardroger_linear.csv: see sas.warning_un_kenwardroger_linear.")
)

out <- list(
  generated = format(Sys.Date()),
  R_version = R.version.string,
  packages = list(mmrm = as.character(packageVersion("mmrm")),
                  mmrm_source = "github.com/openpharma/mmrm commit ec290b2695b25057b31bc98e27c39d3f498cd0d6",
                  TMB = as.character(packageVersion("TMB")),
                  jsonlite = as.character(packageVersion("jsonlite"))),
  data = "fev_data.csv (mmrm::fev_data, 800 rows, 263 with FEV1 missing)",
  notes = notes,
  rows = list(USUBJID = as.character(fev$USUBJID), AVISIT = as.character(fev$AVISIT),
              VISITN = fev$VISITN, observed = observed),
  fits = fits,
  sas = sas
)
write_json(out, file.path(ref_dir, "conditional_predict_refs.json"), digits = NA, auto_unbox = TRUE,
           pretty = FALSE, null = "null", na = "null")
cat("wrote", file.path(ref_dir, "conditional_predict_refs.json"), "\n")
