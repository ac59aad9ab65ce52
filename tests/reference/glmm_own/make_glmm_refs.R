# Reference values for tests/test_glmm.py: lme4 glmer (Laplace = nAGQ 1, and adaptive
# Gauss-Hermite quadrature nAGQ = 5, 11, 25 for a scalar random effect) with treatment
# contrasts (first level the reference), as trialmlm encodes these factors.
# Run from this folder: Rscript make_glmm_refs.R  (writes *.csv and glmm_refs.json)
suppressPackageStartupMessages({library(lme4); library(jsonlite)})
options(contrasts = c("contr.treatment", "contr.poly"))
# tolPwrss = 1e-12: lme4's default (1e-7) stops the penalised IRLS for the conditional modes early
# enough to move its Laplace log-likelihood by ~1e-3 from the exact Laplace approximation.
ctrl <- glmerControl(optimizer = "bobyqa", optCtrl = list(maxfun = 1e5), tolPwrss = 1e-12)

# 1. lme4's cbpp: events/trials binomial, random intercept per herd
cbpp_df <- transform(lme4::cbpp, herd = as.character(herd), period = paste0("P", period))
write.csv(cbpp_df, "cbpp.csv", row.names = FALSE)

# 2. a simulated count trial: Poisson, log exposure offset, random intercept per subject
set.seed(20261207)
n <- 60; visits <- 4
pois <- data.frame(USUBJID = sprintf("S%03d", rep(1:n, each = visits)),
                   TRT = rep(sample(c("Active", "Placebo"), n, replace = TRUE), each = visits),
                   AVISIT = rep(sprintf("Week %02d", 1:visits * 4), n),
                   EXPOSURE = round(runif(n * visits, 0.5, 2), 2))
b0 <- rep(rnorm(n, 0, 0.6), each = visits)
eta <- 0.4 - 0.5 * (pois$TRT == "Active") + 0.1 * as.integer(factor(pois$AVISIT)) + b0 + log(pois$EXPOSURE)
pois$COUNT <- rpois(nrow(pois), exp(eta))
pois$LOGEXP <- log(pois$EXPOSURE)
write.csv(pois, "poisson_trial.csv", row.names = FALSE)

# 3. a simulated binary responder trial: random intercept and slope in WEEK per subject
set.seed(7)
n <- 150; weeks <- 0:4
bin <- data.frame(USUBJID = sprintf("P%03d", rep(1:n, each = length(weeks))),
                  TRT = rep(sample(c("Drug", "Placebo"), n, replace = TRUE), each = length(weeks)),
                  WEEK = rep(weeks, n))
u <- MASS::mvrnorm(n, c(0, 0), matrix(c(1.2, 0.15, 0.15, 0.25), 2))
eta <- -0.5 + 0.3 * bin$WEEK + 0.4 * (bin$TRT == "Drug") * bin$WEEK +
  u[rep(1:n, each = length(weeks)), 1] + u[rep(1:n, each = length(weeks)), 2] * bin$WEEK
bin$CRIT1FL <- rbinom(nrow(bin), 1, plogis(eta))
write.csv(bin, "binary_slopes.csv", row.names = FALSE)

summarise <- function(fit, name) {
  stopifnot(length(fit@optinfo$conv$lme4$messages) == 0, fit@optinfo$conv$opt == 0)
  vc <- as.data.frame(VarCorr(fit))
  re <- ranef(fit)[[1]]
  list(name = name, nAGQ = fit@devcomp$dims[["nAGQ"]], loglik = as.numeric(logLik(fit)),
       aic = AIC(fit), bic = BIC(fit), n_parameters = attr(logLik(fit), "df"),
       coef_names = names(fixef(fit)), estimate = unname(fixef(fit)),
       se = unname(sqrt(diag(as.matrix(vcov(fit))))),
       covariance_names = vc$var1, covariance_names2 = vc$var2, covariance = vc$vcov,
       modes_subject = rownames(re), modes = unname(as.matrix(re)))
}
# lme4 reports for nAGQ > 1 the log-likelihood less that of the saturated model (its deviance
# residuals, lme4 issue #375); the saturated log-likelihoods let the test compare the full one.
saturated <- list(cbpp = sum(dbinom(cbpp_df$incidence, cbpp_df$size, cbpp_df$incidence / cbpp_df$size, log = TRUE)),
                  poisson = sum(dpois(pois$COUNT, pois$COUNT, log = TRUE)),
                  binary = 0)
out <- list(saturated_loglik = saturated, call = "lme4::glmer(..., control = glmerControl(optimizer = 'bobyqa', optCtrl = list(maxfun = 1e5), tolPwrss = 1e-12)), contrasts contr.treatment",
            lme4_version = as.character(packageVersion("lme4")), fits = list())
for (k in c(1, 5, 11, 25)) {
  f <- glmer(cbind(incidence, size - incidence) ~ period + (1 | herd), cbpp_df, binomial, nAGQ = k, control = ctrl)
  out$fits[[sprintf("cbpp_agq%d", k)]] <- summarise(f, "cbpp")
  f <- glmer(COUNT ~ TRT * AVISIT + offset(LOGEXP) + (1 | USUBJID), pois, poisson, nAGQ = k, control = ctrl)
  out$fits[[sprintf("poisson_agq%d", k)]] <- summarise(f, "poisson")
}
f <- glmer(CRIT1FL ~ TRT * WEEK + (1 + WEEK | USUBJID), bin, binomial, control = ctrl)
out$fits[["slopes_laplace"]] <- summarise(f, "slopes")
f <- glmer(CRIT1FL ~ TRT * WEEK + (1 | USUBJID), bin, binomial, nAGQ = 11, control = ctrl)
out$fits[["binary_intercept_agq11"]] <- summarise(f, "binary_intercept")
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE), "glmm_refs.json")
