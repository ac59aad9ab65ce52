# make_anova_types_refs.R -- type I, II and III F tests of lmerTest (Satterthwaite and
# Kenward-Roger) for the six models that lmerTest's own tests compare with SAS PROC MIXED
# (tests/test_compare_sas.R of github.com/runehaubo/lmerTestR).
#
# Written with R 4.2.2, lme4 1.1-31, lmerTest 3.1-3, pbkrtest 0.5.2, Matrix 1.5-3,
# jsonlite 1.8.4 (Debian: r-base-core r-cran-lme4 r-cran-lmertest r-cran-pbkrtest
# r-cran-jsonlite).
#
# Run from the repository root:   Rscript tests/reference/make_anova_types_refs.R
# (also works from inside tests/reference/).  About a minute (Kenward-Roger of the
# 1233-row carrots model dominates).
#
# Writes (next to this script):
#   carrots.csv   lmerTest::carrots, all 14 columns, factors written as their labels
#   ham.csv       lmerTest::ham, all 6 columns, factors written as their labels
#   glm101.csv    the 10-row example of the "GLM SAS 101" report used by lmerTest (a, b, f, y)
#   anova_types_refs.json  (structure described in its "notes" entry)
#
# The SAS numbers under "sas" are the ones hard-coded in lmerTest's tests/test_compare_sas.R
# (lmerTest says they are SAS PROC MIXED output; printed to 4-6 significant digits).

suppressPackageStartupMessages({
  library(lme4)
  library(lmerTest)
  library(jsonlite)
})

out_dir <- if (file.exists("tests/reference")) "tests/reference" else "."

## ---------------------------------------------------------------- data
write_factor_csv <- function(d, path) {
  d2 <- d
  for (v in names(d2)) if (is.factor(d2[[v]])) d2[[v]] <- as.character(d2[[v]])
  write.csv(d2, path, row.names = FALSE, na = "")
}
data("carrots", package = "lmerTest")
data("ham", package = "lmerTest")
glm101 <- data.frame(
  a = factor(c(1, 1, 1, 2, 2, 2, 2, 2, 1, 2)),
  b = factor(c(1, 1, 2, 1, 2, 2, 2, 2, 2, 1)),
  f = factor(c(1, 2, 1, 2, 1, 2, 1, 2, 1, 2)),
  y = c(12, 14, 11, 20, 17, 23, 35, 46, 15, 16)
)
write_factor_csv(carrots, file.path(out_dir, "carrots.csv"))
write_factor_csv(ham, file.path(out_dir, "ham.csv"))
write_factor_csv(glm101, file.path(out_dir, "glm101.csv"))

factor_levels <- function(d) {
  fl <- lapply(Filter(is.factor, d), levels)
  fl
}

## ---------------------------------------------------------------- helpers
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
    }
  )
  list(value = val, warnings = warns, messages = msgs)
}

anova_table <- function(fit, type, ddf) {
  r <- capture(anova(fit, type = type, ddf = ddf))
  a <- as.data.frame(r$value)
  list(
    term = rownames(a),
    NumDF = unname(a[["NumDF"]]),
    DenDF = unname(a[["DenDF"]]),
    F = unname(a[["F value"]]),
    p = unname(a[["Pr(>F)"]]),
    SumSq = unname(a[["Sum Sq"]]),
    MeanSq = unname(a[["Mean Sq"]]),
    heading = paste(attr(r$value, "heading"), collapse = " "),
    warnings = I(r$warnings),
    messages = I(r$messages)
  )
}

coef_table <- function(fit, ddf) {
  r <- capture(summary(fit, ddf = ddf))
  cf <- coef(r$value)
  list(
    term = rownames(cf),
    estimate = unname(cf[, "Estimate"]),
    se = unname(cf[, "Std. Error"]),
    df = unname(cf[, "df"]),
    t = unname(cf[, "t value"]),
    p = unname(cf[, "Pr(>|t|)"]),
    warnings = I(r$warnings),
    messages = I(r$messages)
  )
}

varcomp <- function(fit) {
  vc <- as.data.frame(VarCorr(fit))
  list(grp = vc$grp, var1 = ifelse(is.na(vc$var1), "", vc$var1),
       var2 = ifelse(is.na(vc$var2), "", vc$var2), vcov = vc$vcov, sdcor = vc$sdcor)
}

fit_model <- function(name, formula, data, contrasts = NULL, sas = NULL, description = "") {
  t0 <- proc.time()[["elapsed"]]
  r <- capture(lmer(formula, data = data, REML = TRUE, contrasts = contrasts,
                    control = lmerControl(optimizer = "bobyqa")))
  fit <- r$value
  mf <- model.frame(fit)
  res <- list(
    description = description,
    formula = paste(deparse(formula, width.cutoff = 500L), collapse = " "),
    contrasts = if (is.null(contrasts)) "default (contr.treatment)" else contrasts,
    n_obs = nrow(mf),
    n_rows_data = nrow(data),
    REML = TRUE,
    optimizer = "bobyqa",
    fit_warnings = I(r$warnings),
    fit_messages = I(r$messages),
    singular = isSingular(fit),
    logLik_REML = as.numeric(logLik(fit)),
    REMLcrit = unname(lme4::REMLcrit(fit)),
    theta = unname(getME(fit, "theta")),
    sigma = sigma(fit),
    varcomp = varcomp(fit),
    fixef = list(term = names(fixef(fit)), estimate = unname(fixef(fit)),
                 se = unname(sqrt(diag(as.matrix(vcov(fit)))))),
    coef_satterthwaite = coef_table(fit, "Satterthwaite"),
    anova = list()
  )
  # Check the optimum with a second optimizer.
  r2 <- capture(lmer(formula, data = data, REML = TRUE, contrasts = contrasts,
                     control = lmerControl(optimizer = "Nelder_Mead",
                                           optCtrl = list(FtolAbs = 1e-12, FtolRel = 1e-14, maxfun = 1e5))))
  res$logLik_REML_nelder_mead_check <- as.numeric(logLik(r2$value))
  for (ddf in c("Satterthwaite", "Kenward-Roger")) {
    key <- if (ddf == "Satterthwaite") "satterthwaite" else "kenward_roger"
    res$anova[[key]] <- list(
      type1 = anova_table(fit, 1, ddf),
      type2 = anova_table(fit, 2, ddf),
      type3 = anova_table(fit, 3, ddf)
    )
  }
  res$coef_kenward_roger <- coef_table(fit, "Kenward-Roger")
  if (!is.null(sas)) res$sas <- sas
  res$seconds <- proc.time()[["elapsed"]] - t0
  cat(sprintf("%s: %.1f s; warnings: %s; messages: %s\n", name, res$seconds,
              paste(r$warnings, collapse = " | "), paste(r$messages, collapse = " | ")))
  res
}

sas_source <- "lmerTest tests/test_compare_sas.R (github.com/runehaubo/lmerTestR, commit 1588c13bdf489cd0a8ed57ad9e75b3ca90d9b0d4)"

## ---------------------------------------------------------------- models
models <- list()

## (a) carrots, three-way interaction with contr.SAS
l_sas <- list(Frequency = "contr.SAS", Income = "contr.SAS")
f_a <- Preference ~ sens2 * Frequency * Income + (1 + sens2 | Consumer)
models$a_carrots_sens2_freq_income <- fit_model(
  "a", f_a, carrots, contrasts = l_sas,
  description = "carrots: Preference ~ sens2*Frequency*Income + (1+sens2|Consumer), REML, contr.SAS for Frequency and Income",
  sas = list(
    source = sas_source,
    anova_type3_p = c(2e-5, 0.15512, 0.06939, 0.08223, 0.52459, 0.03119, 0.48344),
    anova_type3_p_note = "lmerTest checks anova(m)[, 'Pr(>F)'] (type III, Satterthwaite) against these with all.equal(tol = 1e-4)",
    anova_type3_DenDF_rounded = rep(83, 7),
    coef_p = c(1e-10, 0.005061, 0.6865554, 0.342613, 0.129157,
               0.088231, 0.846000, 0.354472, 0.526318, 0.020646, 0.010188,
               0.031242, 0.055356, 0.694689, 0.099382, 0.28547,
               0.977774, 0.855653, 0.427737, 0.321086, 0.417465, 0.204385, 0.784437,
               0.681434, 0.106180, 0.149122, 0.390870, 0.273686),
    coef_p_note = "summary(m)$coefficients[, 'Pr(>|t|)'] (Satterthwaite) checked with tol = 1e-4; 28 values for the 28 estimable coefficients in lmer's column order"
  )
)
# Data facts for (a)
cc_a <- complete.cases(carrots[, c("Preference", "sens2", "Frequency", "Income", "Consumer")])
d_a <- carrots[cc_a, ]
tab <- table(droplevels(d_a$Frequency), droplevels(d_a$Income))
empty <- which(tab == 0, arr.ind = TRUE)
fit_a_fixef_names <- models$a_carrots_sens2_freq_income$fixef$term
X_full <- model.matrix(~ sens2 * Frequency * Income, data = d_a, contrasts.arg = l_sas)
models$a_carrots_sens2_freq_income$data_facts <- list(
  n_rows_carrots = nrow(carrots),
  n_rows_complete = sum(cc_a),
  n_missing_by_column = as.list(colSums(is.na(carrots[, c("Preference", "sens2", "Frequency", "Income", "Consumer")]))),
  n_consumers_complete = length(unique(d_a$Consumer)),
  frequency_levels_used = levels(droplevels(d_a$Frequency)),
  income_levels_used = levels(droplevels(d_a$Income)),
  frequency_by_income_counts = list(frequency = rownames(tab), income = colnames(tab),
                                    counts = unname(unclass(tab))),
  empty_cells = lapply(seq_len(nrow(empty)), function(i)
    list(Frequency = rownames(tab)[empty[i, 1]], Income = colnames(tab)[empty[i, 2]])),
  n_columns_full_design = ncol(X_full),
  rank_full_design = qr(X_full)$rank,
  columns_dropped_by_lmer = setdiff(colnames(X_full), fit_a_fixef_names)
)

## (b) carrots, no intercept
models$b_carrots_noint_sens2_homesize <- fit_model(
  "b", Preference ~ 0 + sens2 + Homesize + (1 + sens2 | Consumer), carrots,
  description = "carrots: Preference ~ 0 + sens2 + Homesize + (1+sens2|Consumer), REML",
  sas = list(source = sas_source,
             anova_type1_F = c(56.5394, 4169.87),
             anova_type3_F = c(54.8206, 4169.87),
             note = "checked by lmerTest with all.equal(tol = 1e-5) against anova(m, type = 1) and anova(m) (type 3, Satterthwaite); terms sens2, Homesize")
)

## (c) GLM SAS 101 example
models$c_glm101_a_by_b <- fit_model(
  "c", y ~ a * b + (1 | f), glm101,
  description = "glm101 (10 rows): y ~ a*b + (1|f), REML",
  sas = list(source = sas_source,
             anova_type2_F = c(3.90131, 1.32753, 0.99565),
             note = "anova(model, type = 2)[, 'F value'] checked with tol = 1e-5; terms a, b, a:b")
)
# order independence of type 2 (lmerTest checks y ~ b*a gives the same table)
r_ba <- capture(lmer(y ~ b * a + (1 | f), data = glm101))
models$c_glm101_a_by_b$type2_satterthwaite_b_by_a <- anova_table(r_ba$value, 2, "Satterthwaite")
models$c_glm101_a_by_b$type2_satterthwaite_b_by_a$fit_messages <- I(r_ba$messages)
models$c_glm101_a_by_b$type2_satterthwaite_b_by_a$fit_warnings <- I(r_ba$warnings)

## (d) carrots sens2*Homesize
models$d_carrots_sens2_by_homesize <- fit_model(
  "d", Preference ~ sens2 * Homesize + (1 + sens2 | Consumer), carrots,
  description = "carrots: Preference ~ sens2*Homesize + (1+sens2|Consumer), REML",
  sas = list(source = sas_source,
             anova_type2_F = c(54.8361, 5.16138, 1.03035),
             note = "anova(m, type = 2)[, 'F value'] checked with tol = 1e-4; terms sens2, Homesize, sens2:Homesize")
)

## (e) ham Product*Age (Age numeric)
models$e_ham_product_by_age <- fit_model(
  "e", Informed.liking ~ Product * Age + (1 | Consumer), ham,
  description = "ham: Informed.liking ~ Product*Age + (1|Consumer), REML; Age is numeric",
  sas = list(source = sas_source,
             anova_type2_F = c(2.48135, .005387, 1.48451),
             note = "anova(m, type = 2)[, 'F value'] checked with tol = 1e-5; terms Product, Age, Product:Age")
)

## (f) carrots three covariates, (1|Product)
models$f_carrots_sens2_homesize_sens1 <- fit_model(
  "f", Preference ~ sens2 * Homesize * sens1 + (1 | Product), carrots,
  description = "carrots: Preference ~ sens2*Homesize*sens1 + (1|Product), REML",
  sas = list(source = sas_source,
             anova_type2_F = c(16.4842, 14.0010, .526076, 1.18144, .107570, .335177, 1.05946),
             anova_type3_F = c(16.9140, 14.0010, .481148, 1.18144, .074201, .335177, 1.05946),
             note = "anova(fm, type = 2) and anova(fm, type = 3) F values checked with tol = 1e-4; terms sens2, Homesize, sens1, sens2:Homesize, sens2:sens1, Homesize:sens1, sens2:Homesize:sens1")
)

## ---------------------------------------------------------------- write
out <- list(
  generated = format(Sys.Date()),
  R_version = R.version.string,
  packages = list(lme4 = as.character(packageVersion("lme4")),
                  lmerTest = as.character(packageVersion("lmerTest")),
                  pbkrtest = as.character(packageVersion("pbkrtest")),
                  Matrix = as.character(packageVersion("Matrix")),
                  jsonlite = as.character(packageVersion("jsonlite"))),
  data = list(
    carrots = list(file = "carrots.csv", n_rows = nrow(carrots), levels = factor_levels(carrots)),
    ham = list(file = "ham.csv", n_rows = nrow(ham), levels = factor_levels(ham)),
    glm101 = list(file = "glm101.csv", n_rows = nrow(glm101), levels = factor_levels(glm101))
  ),
  notes = paste(
    "models.<name>: one lmer REML fit (optimizer bobyqa; logLik_REML_nelder_mead_check is a refit with",
    "Nelder_Mead and tight tolerances, to show the optimum is reached).",
    "anova.<satterthwaite|kenward_roger>.<type1|type2|type3>: lmerTest anova(fit, type, ddf) with per-term",
    "arrays term, NumDF, DenDF, F, p (Pr(>F)), SumSq, MeanSq and any warnings/messages.",
    "fixef: lme4 fixed-effect estimates and SEs (vcov(fit)); coef_satterthwaite / coef_kenward_roger:",
    "summary(fit, ddf)$coefficients (estimate, se, df, t, p; KR SEs are the adjusted ones).",
    "varcomp: as.data.frame(VarCorr(fit)) (vcov = variance or covariance, sdcor = SD or correlation).",
    "fit_warnings / fit_messages: conditions raised by lmer (e.g. 'boundary (singular) fit').",
    "sas: values hard-coded in lmerTest's tests/test_compare_sas.R (SAS PROC MIXED output).",
    "Model a uses contr.SAS for Frequency and Income (as in lmerTest's test); the others use",
    "contr.treatment (type II/III F do not depend on the coding). data_facts of model a: rows left",
    "after dropping NA in the model columns and the empty Frequency x Income cells (lmer drops the",
    "aliased columns: columns_dropped_by_lmer).")
  ,
  models = models
)
write_json(out, file.path(out_dir, "anova_types_refs.json"), digits = NA, auto_unbox = TRUE,
           pretty = TRUE, null = "null", na = "null")
cat("wrote", file.path(out_dir, "anova_types_refs.json"), "\n")
