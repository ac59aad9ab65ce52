## Reference values for GLMMs with non-canonical binomial links (issue 23, engine helper).
## Run from inside tests/reference/glmm:  Rscript make_glmm_links_refs.R   (~1 min)
## Reads cbpp.csv (make_glmer_refs.R) and contraception.csv (make_glmmadaptive_refs.R); writes
## glmm_links_refs.json.
## Calls: glmer(cbind(incidence, size - incidence) ~ period + (1 | herd), cbpp, binomial(link), nAGQ = k)
##        glmer(use ~ age + urban + livch + (1 | district), contraception, binomial(link), nAGQ = k)
## (toenail is not used: with the probit link lme4's inner PIRLS does not reach tolPwrss = 1e-12 there).
## for link in probit, cloglog and k in 1 (Laplace), 11.  Same control as make_glmer_refs.R (bobyqa,
## tolPwrss = 1e-12).  loglik is the full log-likelihood (lme4's logLik plus the saturated model's for
## nAGQ > 1, see README.md); se_fixef_numderiv / se_theta_numderiv from the Richardson Hessian of the
## deviance function in (theta, beta) (numDeriv), as in make_glmer_refs.R.  bobyqa stops on contraception
## with a deviance gradient of up to 7e-3 (printed, stored as max_abs_grad_deviance); the nAGQ = 11 optima
## agree with trialmlm's to <= 1e-5 relative all the same.
## Laplace (nAGQ = 1) for a non-canonical link: lme4 takes log|H| with the PIRLS (expected-information)
## weights mu_eta^2 / v(mu), not the observed curvature at the mode that trialmlm (like SAS GLIMMIX and
## TMB) uses, so the agq1 values are those of a different approximation (loglik differs by ~0.04 on
## cbpp); they are stored for that comparison only.  With nAGQ = 11 the integral itself is computed and
## the two agree.
suppressPackageStartupMessages({
  library(lme4)
  library(numDeriv)
  library(jsonlite)
})
ctrl <- glmerControl(optimizer = "bobyqa", optCtrl = list(maxfun = 1e5), tolPwrss = 1e-12)

cbpp <- read.csv("cbpp.csv")
cbpp$herd <- factor(cbpp$herd); cbpp$period <- factor(cbpp$period)
contraception <- read.csv("contraception.csv")
contraception$district <- factor(contraception$district)
contraception$urban <- factor(contraception$urban, levels = c("N", "Y"))
contraception$livch <- factor(contraception$livch, levels = c("0", "1", "2", "3+"))

loglik_saturated <- function(fit) {
  y <- getME(fit, "y"); w <- weights(fit)
  sum(dbinom(round(y * w), w, y, log = TRUE))
}

record <- function(label, formula, data, link, nAGQ) {
  fit <- glmer(formula, data = data, family = binomial(link = link), nAGQ = nAGQ, control = ctrl)
  stopifnot(fit@optinfo$conv$opt == 0, !isSingular(fit))
  devfun <- update(fit, devFunOnly = TRUE)
  theta <- getME(fit, "theta"); beta <- fixef(fit)
  par <- c(theta, beta)
  grad <- numDeriv::grad(devfun, par, method = "Richardson")
  if (max(abs(grad)) > 1e-3) cat(label, "gradient", grad, "\n")
  vc <- 2 * solve(numDeriv::hessian(devfun, par))
  se <- sqrt(diag(vc)); nth <- length(theta)
  ll <- as.numeric(logLik(fit)) + (nAGQ > 1) * loglik_saturated(fit)
  cat(sprintf("%-28s loglik %.8f max|grad| %.1e\n", label, ll, max(abs(grad))))
  list(label = label, call = sprintf("glmer(%s, family = binomial(link = '%s'), nAGQ = %d)",
                                     deparse(formula), link, nAGQ),
       link = link, nAGQ = nAGQ, fixef = as.list(beta),
       se_fixef_numderiv = as.list(setNames(se[-seq_len(nth)], names(beta))),
       theta = as.list(theta), se_theta_numderiv = as.list(setNames(se[seq_len(nth)], names(theta))),
       G = theta^2, loglik = ll, max_abs_grad_deviance = max(abs(grad)))
}

fits <- list()
for (link in c("probit", "cloglog")) for (k in c(1, 11)) {
  lab <- sprintf("cbpp_%s_agq%d", link, k)
  fits[[lab]] <- record(lab, cbind(incidence, size - incidence) ~ period + (1 | herd), cbpp, link, k)
  lab <- sprintf("contraception_%s_agq%d", link, k)
  fits[[lab]] <- record(lab, use ~ age + urban + livch + (1 | district), contraception, link, k)
}
out <- list(generated = format(Sys.Date()), R = R.version.string,
            packages = list(lme4 = as.character(packageVersion("lme4")),
                            numDeriv = as.character(packageVersion("numDeriv"))),
            fits = fits)
write_json(out, "glmm_links_refs.json", auto_unbox = TRUE, digits = NA, pretty = TRUE)
