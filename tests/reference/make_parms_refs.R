# make_parms_refs.R -- an nlme reference for a fit of the FEV data of R mmrm with a covariance
# parameter held fixed (trialmlm's fixed=, SAS PARMS / HOLD=).
#
# Run from inside tests/reference/, after make_fev_refs.R:   Rscript make_parms_refs.R
# Needs R with nlme and jsonlite (Debian: r-base-core r-cran-nlme r-cran-jsonlite).
# Reads fev_data.csv (the FEV data of R mmrm, written by make_fev_refs.R) and writes
#   parms_refs.json  gls(FEV1 ~ RACE + SEX + ARMCD * AVISIT, corAR1(0.4272, fixed = TRUE))
#                    by REML: the AR(1) correlation held at 0.4272, the residual variance
#                    estimated; -2 REML log-likelihood, sigma^2, coefficients and SEs
#
# The published SAS PROC MIXED numbers used by tests/test_parms.py are copied there with
# their citation; nothing here runs SAS.

suppressPackageStartupMessages({
  library(nlme)
  library(jsonlite)
})

fev <- read.csv("fev_data.csv", stringsAsFactors = FALSE)

fev$RACE <- factor(fev$RACE)
fev$SEX <- factor(fev$SEX)
fev$ARMCD <- factor(fev$ARMCD)
fev$AVISIT <- factor(fev$AVISIT)
used <- fev[!is.na(fev$FEV1), ]

held <- 0.4272
fit <- gls(FEV1 ~ RACE + SEX + ARMCD * AVISIT, data = used, method = "REML",
           correlation = corAR1(held, form = ~ VISITN | USUBJID, fixed = TRUE))
n <- nrow(used)
# nlme's REML log-likelihood is SAS's (all constants, log|X'V^-1X| included): checked here
# against the direct formula -2l = (n-p)log(2pi) + log|V| + log|X'V^-1X| + r'V^-1r
x <- model.matrix(~ RACE + SEX + ARMCD * AVISIT, data = used)
v <- matrix(0, n, n)
for (s in unique(used$USUBJID)) {
  i <- which(used$USUBJID == s)
  v[i, i] <- fit$sigma^2 * held^abs(outer(used$VISITN[i], used$VISITN[i], "-"))
}
vi <- solve(v)
a <- t(x) %*% vi %*% x
r <- used$FEV1 - x %*% solve(a, t(x) %*% vi %*% used$FEV1)
direct <- (n - ncol(x)) * log(2 * pi) + determinant(v)$modulus + determinant(a)$modulus +
  t(r) %*% vi %*% r
m2ll <- -2 * as.numeric(logLik(fit))
if (abs(direct - m2ll) > 1e-8) stop("direct -2 REML log-likelihood differs: ", direct - m2ll)

out <- list(
  generated = format(Sys.Date()),
  r_version = R.version.string,
  nlme = as.character(packageVersion("nlme")),
  held_ar1 = list(
    r_call = paste("gls(FEV1 ~ RACE + SEX + ARMCD * AVISIT, data = fev[!is.na(fev$FEV1), ],",
                   "method = 'REML', correlation = corAR1(0.4272, form = ~ VISITN | USUBJID,",
                   "fixed = TRUE))"),
    formula = "FEV1 ~ RACE + SEX + ARMCD * AVISIT + ar1(AVISIT | USUBJID)",
    held = list(`AR(1)` = held),
    n_obs = n,
    m2_reml_loglik = m2ll,
    residual = fit$sigma^2,
    coef = as.list(coef(fit)),
    se = as.list(sqrt(diag(vcov(fit))))
  )
)
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE), "parms_refs.json")
