# make_fallback_refs.R -- reference values for trialmlm's covariance fallback
# (fit(..., covariance = c("us", "toeph", "ar1h", "cs"))) from R nlme::gls.
#
# Run from inside tests/reference/:   Rscript make_fallback_refs.R
# Needs R with nlme and jsonlite (Debian: r-base-core r-cran-nlme r-cran-jsonlite).
#
# Three data sets derived from demo_trial.csv, written as CSV and refitted as read back:
#   fallback_few_subjects.csv   the first 5 subjects (by USUBJID) with all 5 visits observed:
#                               no more subjects than visits, so us cannot be estimated;
#                               model CHG ~ AVISIT
#   fallback_constant_visit.csv demo_trial plus a visit V0 with CHG = 0 for every subject
#                               (baseline rows left in a change-from-baseline analysis):
#                               a zero variance at V0 makes the REML likelihood of every
#                               heterogeneous structure unbounded; model CHG ~ BASE + TRT * AVISIT
#   fallback_exact.csv          CHG = subject effect + visit effect exactly, no residual
#                               noise: every structure's likelihood is unbounded;
#                               model CHG ~ AVISIT
# For each, every structure nlme has among us (corSymm + varIdent), ar1h (corAR1 +
# varIdent) and cs (corCompSymm) is fitted; nlme has no heterogeneous Toeplitz.  A fit
# that stops with an error or warning is recorded by its message; a fit that converges
# is recorded by its REML -2 log-likelihood, covariance parameters in SAS's naming and
# fitted values (X beta, one per row used, in the CSV's row order).

suppressPackageStartupMessages({
  library(nlme)
  library(jsonlite)
})

CONTROL <- glsControl(maxIter = 500, msMaxIter = 500, tolerance = 1e-10, msTol = 1e-12)

demo <- read.csv("demo_trial.csv", stringsAsFactors = FALSE)

# -- the data sets ------------------------------------------------------------------------
complete <- names(which(tapply(!is.na(demo$CHG), demo$USUBJID, all)))
few <- demo[demo$USUBJID %in% sort(complete)[1:5], ]

v0 <- demo[demo$AVISIT == "V1", ]
v0$AVISIT <- "V0"
v0$TIME <- 0
v0$CHG <- 0
constant <- rbind(v0, demo)
constant <- constant[order(constant$USUBJID, constant$AVISIT), ]

exact <- demo
subject_effect <- as.integer(substr(exact$USUBJID, 6, 8)) %% 7 - 3
exact$CHG <- subject_effect + 0.5 * exact$TIME

write_back <- function(d, file) {
  write.csv(d, file, row.names = FALSE)
  d <- read.csv(file, stringsAsFactors = FALSE)
  d$AVISIT <- factor(d$AVISIT)
  d$TRT <- factor(d$TRT)
  d
}
few <- write_back(few, "fallback_few_subjects.csv")
constant <- write_back(constant, "fallback_constant_visit.csv")
exact <- write_back(exact, "fallback_exact.csv")

# -- fits -----------------------------------------------------------------------------------
correlations <- list(
  us = quote(corSymm(form = ~ as.integer(AVISIT) | USUBJID)),
  ar1h = quote(corAR1(form = ~ as.integer(AVISIT) | USUBJID)),
  cs = quote(corCompSymm(form = ~ 1 | USUBJID))
)

sas_parameters <- function(name, fit, visits) {
  s2 <- fit$sigma^2
  if (name == "cs") {
    rho <- coef(fit$modelStruct$corStruct, unconstrained = FALSE)[[1]]
    return(list(CS = rho * s2, Residual = (1 - rho) * s2))
  }
  ratios <- coef(fit$modelStruct$varStruct, unconstrained = FALSE, allCoef = TRUE)[visits]
  variances <- setNames(as.list(s2 * ratios^2), sprintf("Var(%d)", seq_along(visits)))
  c(variances, list(`ARH(1)` = coef(fit$modelStruct$corStruct, unconstrained = FALSE)[[1]]))
}

run <- function(name, model, data) {
  weights <- if (name == "cs") NULL else quote(varIdent(form = ~ 1 | AVISIT))
  cl <- as.call(Filter(Negate(is.null), list(as.name("gls"), model, data = quote(data),
                                            correlation = correlations[[name]], weights = weights,
                                            method = "REML", na.action = quote(na.omit),
                                            control = CONTROL)))
  r_call <- paste(deparse(cl, width.cutoff = 500L), collapse = " ")
  fit <- tryCatch(withCallingHandlers(eval(cl), warning = function(w) stop(conditionMessage(w))),
                  error = function(e) conditionMessage(e))
  if (is.character(fit)) return(list(r_call = r_call, error = fit))
  list(r_call = r_call, minus2_loglik = -2 * as.numeric(logLik(fit)),
       covariance_parameters = sas_parameters(name, fit, levels(data$AVISIT)),
       fitted = unname(as.numeric(fitted(fit))))
}

cases <- list(
  few_subjects = list(file = "fallback_few_subjects.csv", model = CHG ~ AVISIT, data = few),
  constant_visit = list(file = "fallback_constant_visit.csv", model = CHG ~ BASE + TRT * AVISIT,
                        data = constant),
  exact = list(file = "fallback_exact.csv", model = CHG ~ AVISIT, data = exact)
)
out <- lapply(cases, function(case) {
  fits <- lapply(names(correlations), run, model = case$model, data = case$data)
  c(list(file = case$file, model = deparse(case$model)), setNames(fits, names(correlations)))
})
out$generated <- format(Sys.Date())
out$software <- sprintf("%s, nlme %s", R.version.string, packageVersion("nlme"))
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE), "fallback_refs.json")
