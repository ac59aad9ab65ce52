## Reference values for GLMMs from lme4::glmer (issue 23, set A of README.md).
## Run from inside tests/reference/glmm:  Rscript make_glmer_refs.R
## Writes cbpp.csv, epil.csv, toenail.csv (the data as fitted) and glmer_refs.json.
suppressPackageStartupMessages({
  library(lme4)
  library(numDeriv)
  library(jsonlite)
})
source("agq_loglik.R")

## ---- data -------------------------------------------------------------------------------------
data(cbpp, package = "lme4")
cbpp <- data.frame(herd = as.integer(as.character(cbpp$herd)), period = as.integer(as.character(cbpp$period)),
                   incidence = cbpp$incidence, size = cbpp$size)
cbpp$herd <- factor(cbpp$herd)
cbpp$period <- factor(cbpp$period)
write.csv(cbpp, "cbpp.csv", row.names = FALSE)

data(epil, package = "MASS")
epil <- epil[, c("subject", "period", "y", "trt", "base", "age", "V4", "lbase", "lage")]
write.csv(epil, "epil.csv", row.names = FALSE)
epil$subject <- factor(epil$subject)

data(toenail, package = "HSAUR3")
toenail <- data.frame(id = as.integer(as.character(toenail$patientID)),
                      treatment = as.character(toenail$treatment),
                      visit = toenail$visit, time = toenail$time,
                      y = as.integer(toenail$outcome == "moderate or severe"))
write.csv(toenail, "toenail.csv", row.names = FALSE)
toenail$id <- factor(toenail$id)
toenail$treatment <- factor(toenail$treatment, levels = c("itraconazole", "terbinafine"))

## ---- fitting and recording --------------------------------------------------------------------
## tolPwrss = 1e-12: the inner penalized IRLS (conditional modes) to 1e-12 instead of lme4's 1e-7.
## With 1e-7 the deviance carries ~1e-7 noise, which the finite-difference Hessians turn into SE
## errors of up to 2% (cbpp Laplace intercept: 0.23121 at 1e-7, 0.23247 at 1e-12).
ctrl_bobyqa <- glmerControl(optimizer = "bobyqa", optCtrl = list(maxfun = 1e5), tolPwrss = 1e-12)
ctrl_check <- glmerControl(optimizer = "nloptwrap", tolPwrss = 1e-12,
                           optCtrl = list(algorithm = "NLOPT_LN_BOBYQA", maxeval = 1e5,
                                          xtol_abs = 1e-12, ftol_abs = 1e-14, xtol_rel = 0, ftol_rel = 0))

## log of the constant inside the full log-likelihood: sum log C(n, y) (binomial with events/trials),
## 0 (Bernoulli), -sum log y! (Poisson).
loglik_constant <- function(fit) {
  fam <- family(fit)$family
  y <- getME(fit, "y"); w <- weights(fit)
  if (fam == "binomial") return(sum(lchoose(w, round(y * w))))
  if (fam == "poisson") return(-sum(lgamma(y + 1)))
  stop("family not handled")
}

## log-likelihood of the saturated model, sum log f(y_i; mu_i = y_i).  For nAGQ > 1 glmer's logLik()
## is built from deviance residuals and equals (full log-likelihood) - (this); for nAGQ = 1 it is the
## full log-likelihood.
loglik_saturated <- function(fit) {
  fam <- family(fit)$family
  y <- getME(fit, "y"); w <- weights(fit)
  if (fam == "binomial") return(sum(dbinom(round(y * w), w, y, log = TRUE)))
  if (fam == "poisson") return(sum(dpois(y, y, log = TRUE)))
  stop("family not handled")
}

## The optimum recorded is bobyqa's (ctrl_bobyqa); it must have a Richardson-extrapolated gradient of the
## deviance below 1e-3 in every component.  The check is an independent optimizer (ctrl_check) from
## glmer's default start; its distance from the recorded optimum is reported.
record_fit <- function(label, formula, data, family, nAGQ, call_text) {
  fit <- glmer(formula, data = data, family = family, nAGQ = nAGQ, control = ctrl_bobyqa)
  conv <- fit@optinfo$conv
  stopifnot(conv$opt == 0, !isSingular(fit))
  ## the deviance function of the (theta, beta) problem solved at this nAGQ; -2 logLik at the optimum
  devfun <- update(fit, devFunOnly = TRUE)
  theta <- getME(fit, "theta"); beta <- fixef(fit)
  par <- c(theta, beta)
  dev_at_opt <- devfun(par)
  stopifnot(abs(dev_at_opt + 2 * as.numeric(logLik(fit))) < 1e-8)
  grad <- numDeriv::grad(devfun, par, method = "Richardson")
  stopifnot(max(abs(grad)) < 1e-3)
  hess <- numDeriv::hessian(devfun, par)        # Richardson extrapolation
  vc_num <- 2 * solve(hess)                     # inverse observed information of (theta, beta)
  nth <- length(theta)
  se_num <- sqrt(diag(vc_num))
  ## an independent optimizer from the same start: how far apart the optima are
  fit2 <- suppressWarnings(glmer(formula, data = data, family = family, nAGQ = nAGQ, control = ctrl_check))
  G <- as.matrix(VarCorr(fit)[[1]]); attr(G, "stddev") <- NULL; attr(G, "correlation") <- NULL
  ## independent check of the log-likelihood at the estimates (agq_loglik.R, full log-likelihood)
  w <- weights(fit); yy <- getME(fit, "y")
  own_ll <- agq_loglik(beta, G, round(yy * w), getME(fit, "X"), as.matrix(getME(fit, "mmList")[[1]]),
                       getME(fit, "flist")[[1]], stats::family(fit)$family, nAGQ, trials = w)
  cat(sprintf("%-32s loglik %.8f  own %.8f  max|grad| %.1e  |dpar| vs check %.1e\n", label,
              as.numeric(logLik(fit)) + (nAGQ > 1) * loglik_saturated(fit), own_ll, max(abs(grad)), max(abs(c(getME(fit2, "theta"), fixef(fit2)) - par))))
  list(
    label = label, call = call_text, nAGQ = nAGQ,
    n_obs = nobs(fit), n_groups = as.list(ngrps(fit)),
    fixef = as.list(beta),
    se_fixef_hessian = as.list(sqrt(diag(as.matrix(vcov(fit, use.hessian = TRUE))))),
    se_fixef_rx = as.list(sqrt(diag(as.matrix(vcov(fit, use.hessian = FALSE))))),
    se_fixef_numderiv = as.list(setNames(se_num[-seq_len(nth)], names(beta))),
    vcov_fixef_hessian = unname(lapply(seq_along(beta), function(i) as.matrix(vcov(fit, use.hessian = TRUE))[i, ])),
    theta = as.list(theta),
    se_theta_numderiv = as.list(setNames(se_num[seq_len(nth)], names(theta))),
    G = unname(lapply(seq_len(nrow(G)), function(i) G[i, ])),
    G_names = rownames(G),
    loglik_lme4 = as.numeric(logLik(fit)),
    loglik_saturated = loglik_saturated(fit),
    loglik = as.numeric(logLik(fit)) + (nAGQ > 1) * loglik_saturated(fit),
    minus2_loglik = -2 * (as.numeric(logLik(fit)) + (nAGQ > 1) * loglik_saturated(fit)),
    loglik_constant = loglik_constant(fit),
    loglik_own_agq = own_ll,
    aic_lme4 = AIC(fit), bic_lme4 = BIC(fit), n_par = attr(logLik(fit), "df"),
    convergence = list(optimizer = fit@optinfo$optimizer, check_optimizer = fit2@optinfo$optimizer,
                       opt_code = conv$opt, lme4_messages = unlist(conv$lme4$messages),
                       check_lme4_messages = unlist(fit2@optinfo$conv$lme4$messages),
                       feval = fit@optinfo$feval,
                       max_abs_grad_deviance = max(abs(grad)),
                       max_abs_diff_vs_check = max(abs(c(getME(fit2, "theta"), fixef(fit2)) - par)),
                       loglik_diff_vs_check = as.numeric(logLik(fit2)) - as.numeric(logLik(fit)))
  )
}

fits <- list()
agq <- c(1, 3, 5, 11, 25)
for (k in agq) {
  lab <- sprintf("cbpp_agq%d", k)
  fits[[lab]] <- record_fit(lab, cbind(incidence, size - incidence) ~ period + (1 | herd), cbpp,
                            binomial, k,
                            sprintf("glmer(cbind(incidence, size - incidence) ~ period + (1 | herd), cbpp, binomial, nAGQ = %d)", k))
}
for (k in agq) {
  lab <- sprintf("epil_agq%d", k)
  fits[[lab]] <- record_fit(lab, y ~ lbase * trt + lage + V4 + (1 | subject), epil, poisson, k,
                            sprintf("glmer(y ~ lbase * trt + lage + V4 + (1 | subject), MASS::epil, poisson, nAGQ = %d)", k))
}
for (k in agq) {
  lab <- sprintf("toenail_ri_agq%d", k)
  fits[[lab]] <- record_fit(lab, y ~ treatment * time + (1 | id), toenail, binomial, k,
                            sprintf("glmer(y ~ treatment * time + (1 | id), toenail, binomial, nAGQ = %d)", k))
}
fits[["toenail_ris_laplace"]] <- record_fit("toenail_ris_laplace", y ~ treatment * time + (time | id),
                                            toenail, binomial, 1,
                                            "glmer(y ~ treatment * time + (time | id), toenail, binomial, nAGQ = 1)")

## conditional modes of the random effects and their conditional variances, cbpp Laplace
fit_cm <- glmer(cbind(incidence, size - incidence) ~ period + (1 | herd), cbpp, binomial, control = ctrl_bobyqa)
re <- ranef(fit_cm, condVar = TRUE)$herd
conditional_modes <- list(
  fit = "cbpp_agq1", herd = rownames(re), mode = re[["(Intercept)"]],
  cond_var = as.numeric(attr(re, "postVar")[1, 1, ]),
  note = "ranef(fit, condVar = TRUE): b_hat on the data scale (not u = b/theta); cond_var = postVar")

out <- list(
  generated = format(Sys.Date()), R = R.version.string,
  packages = list(lme4 = as.character(packageVersion("lme4")), Matrix = as.character(packageVersion("Matrix")),
                  numDeriv = as.character(packageVersion("numDeriv")), HSAUR3 = as.character(packageVersion("HSAUR3")),
                  MASS = as.character(packageVersion("MASS"))),
  fits = fits, conditional_modes = conditional_modes)
write_json(out, "glmer_refs.json", auto_unbox = TRUE, digits = NA, pretty = TRUE)
