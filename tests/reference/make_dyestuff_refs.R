# make_dyestuff_refs.R -- one-way random-effects fits of lme4's Dyestuff2 (a zero
# between-batch variance estimate: the REML and ML fits are singular) and, for contrast,
# Dyestuff (interior optimum), with lme4, lmerTest and nlme.
#
# Written with R 4.2.2, lme4 1.1-31, lmerTest 3.1-3, pbkrtest 0.5.2, nlme 3.1-162,
# jsonlite 1.8.4 (Debian: r-base-core r-cran-lme4 r-cran-lmertest r-cran-pbkrtest
# r-cran-nlme r-cran-jsonlite).
#
# Run from the repository root:   Rscript tests/reference/make_dyestuff_refs.R
# (also works from inside tests/reference/; seconds).
#
# Writes dyestuff2.csv (Batch A-F, Yield; 30 rows), dyestuff.csv (same layout) and
# dyestuff_refs.json (structure in its "notes" entry).

suppressPackageStartupMessages({
  library(lme4)
  library(lmerTest)
  library(nlme)
  library(jsonlite)
})

out_dir <- if (file.exists("tests/reference")) "tests/reference" else "."

capture <- function(expr) {
  warns <- character(0)
  msgs <- character(0)
  val <- withCallingHandlers(
    expr,
    warning = function(w) {
      warns <<- c(warns, conditionMessage(w))
      invokeRestart("muffleWarning")
    },
    message = function(m) {
      msgs <<- c(msgs, trimws(conditionMessage(m)))
      invokeRestart("muffleMessage")
    })
  list(value = val, warnings = I(warns), messages = I(msgs))
}

lmer_summary <- function(d, reml) {
  r <- capture(lmerTest::lmer(Yield ~ 1 + (1 | Batch), data = d, REML = reml))
  fit <- r$value
  vc <- as.data.frame(VarCorr(fit))
  res <- list(
    REML = reml,
    fit_warnings = r$warnings,
    fit_messages = r$messages,
    singular = isSingular(fit),
    logLik = as.numeric(logLik(fit)),
    logLik_df = attr(logLik(fit), "df"),
    deviance = if (reml) NULL else deviance(fit),
    REMLcrit = if (reml) unname(REMLcrit(fit)) else NULL,
    minus2logLik = -2 * as.numeric(logLik(fit)),
    AIC = AIC(fit),
    BIC = BIC(fit),
    theta = unname(getME(fit, "theta")),
    sigma = sigma(fit),
    var_batch = vc$vcov[vc$grp == "Batch"],
    var_residual = vc$vcov[vc$grp == "Residual"],
    fixef = unname(fixef(fit)),
    se = unname(sqrt(diag(as.matrix(vcov(fit))))),
    ranef_batch = setNames(as.list(ranef(fit)$Batch[, 1]), rownames(ranef(fit)$Batch))
  )
  for (ddf in c("Satterthwaite", "Kenward-Roger")) {
    if (!reml && ddf == "Kenward-Roger") next
    s <- capture(summary(fit, ddf = ddf))
    cf <- coef(s$value)
    key <- if (ddf == "Satterthwaite") "satterthwaite" else "kenward_roger"
    res[[key]] <- list(estimate = cf[1, "Estimate"], se = cf[1, "Std. Error"], df = cf[1, "df"],
                       t = cf[1, "t value"], p = cf[1, "Pr(>|t|)"],
                       warnings = s$warnings, messages = s$messages)
  }
  if (!reml) res$kenward_roger <- "not defined for ML fits (lmerTest/pbkrtest need REML)"
  res
}

lme_summary <- function(d, method) {
  r <- tryCatch(capture(nlme::lme(Yield ~ 1, random = ~ 1 | Batch, data = d, method = method)),
                error = function(e) list(error = conditionMessage(e)))
  if (!is.null(r$error)) return(list(error = r$error))
  fit <- r$value
  tt <- summary(fit)$tTable
  list(
    method = method,
    fit_warnings = r$warnings,
    logLik = as.numeric(logLik(fit)),
    var_batch = as.numeric(nlme::getVarCov(fit)[1, 1]),
    var_residual = fit$sigma^2,
    sigma = fit$sigma,
    fixef = unname(fixef(fit)),
    se = unname(tt[1, "Std.Error"]),
    se_unscaled = unname(sqrt(fit$varFix[1, 1])),
    df_containment = unname(tt[1, "DF"]),
    apVar = if (is.character(fit$apVar)) fit$apVar else "computed",
    note = paste("lme parameterises log(sd), so a zero batch variance is approached, not reached;",
                 "for ML fits summary()'s Std.Error is sqrt(varFix) scaled by sqrt(N / (N - p))",
                 "(se_unscaled = sqrt(varFix) is the ML value comparable with lmer)")
  )
}

data_sets <- list(Dyestuff2 = lme4::Dyestuff2, Dyestuff = lme4::Dyestuff)
write.csv(transform(lme4::Dyestuff2, Batch = as.character(Batch)),
          file.path(out_dir, "dyestuff2.csv"), row.names = FALSE)
write.csv(transform(lme4::Dyestuff, Batch = as.character(Batch)),
          file.path(out_dir, "dyestuff.csv"), row.names = FALSE)

res <- list()
for (nm in names(data_sets)) {
  d <- data_sets[[nm]]
  # Closed forms for the balanced one-way layout (6 batches x 5), for checking
  a <- nlevels(d$Batch)
  n <- nrow(d) / a
  ybar_i <- tapply(d$Yield, d$Batch, mean)
  msb <- n * sum((ybar_i - mean(d$Yield))^2) / (a - 1)
  msw <- sum((d$Yield - ybar_i[d$Batch])^2) / (a * (n - 1))
  res[[nm]] <- list(
    file = if (nm == "Dyestuff2") "dyestuff2.csv" else "dyestuff.csv",
    n = nrow(d), n_batches = a,
    anova = list(grand_mean = mean(d$Yield), MSB = msb, MSW = msw,
                 anova_var_batch = (msb - msw) / n,
                 se_intercept_if_var_batch_zero_reml = sqrt(sum((d$Yield - mean(d$Yield))^2) / (nrow(d) - 1) / nrow(d)),
                 se_intercept_interior = sqrt(msb / nrow(d)),
                 df_intercept_interior = a - 1),
    lmer_reml = lmer_summary(d, TRUE),
    lmer_ml = lmer_summary(d, FALSE),
    lme_reml = lme_summary(d, "REML"),
    lme_ml = lme_summary(d, "ML")
  )
}

out <- list(
  generated = format(Sys.Date()),
  R_version = R.version.string,
  packages = list(lme4 = as.character(packageVersion("lme4")),
                  lmerTest = as.character(packageVersion("lmerTest")),
                  pbkrtest = as.character(packageVersion("pbkrtest")),
                  nlme = as.character(packageVersion("nlme")),
                  jsonlite = as.character(packageVersion("jsonlite"))),
  notes = paste(
    "<Dyestuff2|Dyestuff>: Yield ~ 1 + (1|Batch). lmer_reml / lmer_ml: lmerTest::lmer fits",
    "(lme4 default optimiser) with logLik (REML log-likelihood for REML fits), REMLcrit (= -2",
    "REML logLik, REML only), deviance (ML only; -2 logLik), AIC, BIC, theta (Batch SD /",
    "residual SD), sigma, var_batch, var_residual, fixef/se (lme4 vcov), ranef_batch (BLUPs),",
    "satterthwaite / kenward_roger: lmerTest summary(fit, ddf)$coefficients for the intercept",
    "(estimate, se, df, t, p; KR only for REML). fit_messages holds lme4's 'boundary (singular)",
    "fit' message. lme_reml / lme_ml: nlme::lme(Yield ~ 1, random = ~1|Batch) for comparison",
    "(df_containment: nlme's df for the intercept, N - number of batches = 24). anova: balanced",
    "one-way ANOVA quantities: MSB, MSW, (MSB - MSW)/n (negative for Dyestuff2, hence the",
    "boundary fit), the intercept SE when the batch variance is 0 (REML: sqrt(s^2 / N), s^2 the",
    "total variance with N - 1) and at an interior optimum (sqrt(MSB / N), df a - 1)."),
  fits = res
)
write_json(out, file.path(out_dir, "dyestuff_refs.json"), digits = NA, auto_unbox = TRUE,
           pretty = TRUE, null = "null", na = "null")
cat("wrote", file.path(out_dir, "dyestuff_refs.json"), "\n")
