## Reference values for the negative binomial GLMM (NB2: Var(y | b) = mu + k mu^2, log link, random
## intercept per subject), Laplace and adaptive Gauss-Hermite quadrature (issue 23, README.md here).
## Run from inside tests/reference/glmm_negbin:   Rscript make_negbin_refs.R   (~2 min)
## Reads ../glmm/epil.csv; writes nb_trial.csv and negbin_refs.json.
suppressPackageStartupMessages({
  library(lme4)
  library(MASS)
  library(GLMMadaptive)
  library(numDeriv)
  library(jsonlite)
})
source("../glmm/agq_loglik.R")   # gauss_hermite()

## ---- data ------------------------------------------------------------------------------------
epil <- read.csv("../glmm/epil.csv")
epil$trt <- factor(epil$trt, levels = c("placebo", "progabide"))
epil$subject <- factor(epil$subject)

## simulated overdispersed count trial: 90 subjects, 2 arms, 4 visits, exposure days (offset log days)
set.seed(2023)
m <- 90
trial <- expand.grid(visit = 1:4, subject = 1:m)[, c("subject", "visit")]
arm <- rep(c("PBO", "ACT"), length.out = m)[sample(m)]
trial$trt <- arm[trial$subject]
trial$days <- sample(20:35, nrow(trial), replace = TRUE)
b <- rnorm(m, 0, 0.6)
eta <- log(trial$days) - 2.3 + 0.15 * (trial$visit - 1) - 0.4 * (trial$trt == "ACT") * (trial$visit > 1) +
  b[trial$subject]
trial$y <- rnbinom(nrow(trial), size = 1 / 0.45, mu = exp(eta))
trial <- trial[-sample(nrow(trial), 20), ]             # some missed visits
trial$logdays <- log(trial$days)
write.csv(trial[, c("subject", "visit", "trt", "days", "logdays", "y")], "nb_trial.csv", row.names = FALSE)
trial <- read.csv("nb_trial.csv")
trial$trt <- factor(trial$trt, levels = c("PBO", "ACT"))
trial$visit <- factor(trial$visit)
trial$subject <- factor(trial$subject)

## ---- an independent adaptive Gauss-Hermite log-likelihood (random intercept) -----------------
## l_i = log int prod_j NB(y_ij; mu_ij = exp(x'beta + o + sd u), size = 1/k) phi(u) du, the grid centred
## at the mode u_i and scaled by H_i^{-1/2}, H_i = sd^2 sum_j w_ij + 1 (w the observed weight
## (y + a) r (1 - r), r = mu / (a + mu), a = 1/k); nAGQ = 1 is Laplace. par = (beta, log sd, log k).
## expected = TRUE: H_i with the expected (Fisher) weights a r instead, lme4's Laplace (checks glmer.nb's logLik).
nb_agq <- function(par, y, X, off, id, nAGQ, expected = FALSE) {
  p <- ncol(X); beta <- par[1:p]; sd <- exp(par[p + 1]); a <- exp(-par[p + 2])
  gh <- gauss_hermite(nAGQ)
  eta0 <- c(X %*% beta) + off
  ids <- as.integer(factor(id)); m <- max(ids)
  hu <- function(u) rowsum(dnbinom(y, size = a, mu = exp(eta0 + sd * u[ids]), log = TRUE), ids)[, 1] - u^2 / 2
  u <- rep(0, m)
  for (it in 1:200) {
    mu <- exp(eta0 + sd * u[ids]); r <- mu / (a + mu)
    g <- sd * rowsum(y - (y + a) * r, ids)[, 1] - u
    H <- sd^2 * rowsum((y + a) * r * (1 - r), ids)[, 1] + 1
    step <- g / H
    h0 <- hu(u)
    for (k in 1:50) { bad <- hu(u + step) < h0 - 1e-13 * abs(h0); if (!any(bad)) break; step[bad] <- step[bad] / 2 }
    u <- u + step
    if (max(abs(step)) < 1e-12) break
  }
  mu <- exp(eta0 + sd * u[ids]); r <- mu / (a + mu)
  w <- if (expected) a * r else (y + a) * r * (1 - r)
  s <- 1 / sqrt(sd^2 * rowsum(w, ids)[, 1] + 1)
  terms <- sapply(seq_along(gh$x), function(j) log(gh$w[j]) + gh$x[j]^2 + hu(u + sqrt(2) * s * gh$x[j]))
  terms <- matrix(terms, nrow = m)
  mx <- apply(terms, 1, max)
  sum(0.5 * log(2) + log(s) - 0.5 * log(2 * pi) + mx + log(rowSums(exp(terms - mx))))
}

## maximise nb_agq from a peer's estimate: Nelder-Mead -> BFGS (reltol 1e-15) -> Newton steps on
## numDeriv's Richardson Hessian; returns estimate, loglik, gradient, Hessian-based SEs
polish <- function(start, y, X, off, id, nAGQ) {
  f <- function(par) -nb_agq(par, y, X, off, id, nAGQ)
  g <- function(par) numDeriv::grad(f, par, method = "Richardson")
  opt <- optim(start, f, g, method = "BFGS", control = list(reltol = 1e-15, maxit = 1000))
  par <- opt$par
  for (step in 1:4) {
    H <- numDeriv::hessian(f, par)
    par <- par - solve(H, g(par))
  }
  H <- numDeriv::hessian(f, par)
  gr <- g(par)
  list(par = par, loglik = -f(par), gradient = gr, newton_decrement = c(crossprod(gr, solve(H, gr))),
       vcov = solve(H))
}

named <- function(x, nm) as.list(setNames(x, nm))

record <- function(label, formula, fixed, data, X, y, off, id, call_text) {
  p <- ncol(X)
  nm <- c(colnames(X), "log_sd", "log_k")
  out <- list(call = call_text, n_obs = length(y), n_subjects = length(unique(id)), fits = list())
  ## lme4 glmer.nb: Laplace, theta = 1/k by alternation with glmer (tight inner iterations)
  ## tolPwrss 1e-12 (as ../glmm) stops glmer.nb's refits ("pwrssUpdate did not converge"); 1e-10 does not
  nb <- glmer.nb(formula, data = data,
                 control = glmerControl(optimizer = "bobyqa", optCtrl = list(maxfun = 1e5), tolPwrss = 1e-10))
  th_lme4 <- getME(nb, "glmer.nb.theta")
  start <- c(fixef(nb), log(getME(nb, "theta")), -log(th_lme4))
  pl <- polish(start, y, X, off, id, 1)
  se <- sqrt(diag(pl$vcov))
  out$fits$laplace <- list(
    method = "Laplace (nAGQ = 1)",
    glmer_nb = list(fixef = named(fixef(nb), colnames(X)), se_fixef = named(sqrt(diag(as.matrix(vcov(nb)))), colnames(X)),
                    sd = unname(getME(nb, "theta")), theta_nb = unname(th_lme4), k = 1 / unname(th_lme4),
                    loglik = as.numeric(logLik(nb)),
                    own_loglik_at_estimate = nb_agq(start, y, X, off, id, 1),
                    own_expected_weights_loglik_at_estimate = nb_agq(start, y, X, off, id, 1, expected = TRUE)),
    polished = list(estimate = named(pl$par, nm), se = named(se, nm), fixef = named(pl$par[1:p], colnames(X)),
                    se_fixef = named(se[1:p], colnames(X)), variance = exp(2 * pl$par[p + 1]),
                    se_variance = 2 * exp(2 * pl$par[p + 1]) * se[p + 1], k = exp(pl$par[p + 2]),
                    se_k = exp(pl$par[p + 2]) * se[p + 2], loglik = pl$loglik,
                    newton_decrement = pl$newton_decrement, max_abs_gradient = max(abs(pl$gradient))))
  cat(sprintf("%s laplace: glmer.nb loglik %.8f own (expected weights) %.8f\n", label, as.numeric(logLik(nb)),
              out$fits$laplace$glmer_nb$own_expected_weights_loglik_at_estimate))
  cat(sprintf("%s laplace: glmer.nb loglik %.8f own %.8f | polished %.8f nd %.1e k %.6f (glmer.nb %.6f)\n",
              label, as.numeric(logLik(nb)), out$fits$laplace$glmer_nb$own_loglik_at_estimate, pl$loglik,
              pl$newton_decrement, exp(pl$par[p + 2]), 1 / th_lme4))
  ## G = 0: the negative binomial GLM, k re-estimated (the reduced fit of the likelihood-ratio test of G)
  glm0 <- glm.nb(fixed, data = data, control = glm.control(epsilon = 1e-14, maxit = 100))
  out$glm_nb <- list(call = "MASS::glm.nb(fixed part, control = glm.control(epsilon = 1e-14, maxit = 100))",
                     loglik = as.numeric(logLik(glm0)), k = 1 / glm0$theta, coef = named(coef(glm0), colnames(X)))
  cat(sprintf("%s glm.nb (G = 0): loglik %.8f k %.6f\n", label, as.numeric(logLik(glm0)), 1 / glm0$theta))
  for (k in c(5, 11)) {
    ga <- mixed_model(fixed, random = ~ 1 | subject, data = data, family = negative.binomial(), nAGQ = k,
                      tol3 = 1e-12, iter_qN_outer = 50, update_GH_every = 1)
    s <- c(fixef(ga), log(sqrt(ga$D[1, 1])), -ga$phis)
    pl <- polish(s, y, X, off, id, k)
    se <- sqrt(diag(pl$vcov))
    out$fits[[sprintf("agq%d", k)]] <- list(
      method = sprintf("adaptive Gauss-Hermite, nAGQ = %d", k),
      glmmadaptive = list(fixef = named(fixef(ga), colnames(X)), se_fixef = named(sqrt(diag(vcov(ga)))[1:p], colnames(X)),
                          variance = ga$D[1, 1], log_phi = unname(ga$phis), k = exp(-unname(ga$phis)),
                          loglik = as.numeric(logLik(ga)), own_loglik_at_estimate = nb_agq(s, y, X, off, id, k),
                          converged = isTRUE(ga$converged)),
      polished = list(estimate = named(pl$par, nm), se = named(se, nm), fixef = named(pl$par[1:p], colnames(X)),
                      se_fixef = named(se[1:p], colnames(X)), variance = exp(2 * pl$par[p + 1]),
                      se_variance = 2 * exp(2 * pl$par[p + 1]) * se[p + 1], k = exp(pl$par[p + 2]),
                      se_k = exp(pl$par[p + 2]) * se[p + 2], loglik = pl$loglik,
                      newton_decrement = pl$newton_decrement, max_abs_gradient = max(abs(pl$gradient))))
    cat(sprintf("%s agq%d: GLMMadaptive loglik %.8f own %.8f | polished %.8f nd %.1e k %.6f (GLMMadaptive %.6f)\n",
                label, k, as.numeric(logLik(ga)), nb_agq(s, y, X, off, id, k), pl$loglik, pl$newton_decrement,
                exp(pl$par[p + 2]), exp(-ga$phis)))
  }
  out
}

X_epil <- model.matrix(~ lbase * trt + lage + V4, epil)
X_trial <- model.matrix(~ trt * visit, trial)
refs <- list(
  generated = as.character(Sys.Date()),
  packages = list(R = R.version.string, lme4 = as.character(packageVersion("lme4")),
                  MASS = as.character(packageVersion("MASS")),
                  GLMMadaptive = as.character(packageVersion("GLMMadaptive")),
                  numDeriv = as.character(packageVersion("numDeriv"))),
  parameterisation = "estimate/se: (beta, log sd of the random intercept, log k), Var(y|b) = mu + k mu^2",
  epil = record("epil", y ~ lbase * trt + lage + V4 + (1 | subject), y ~ lbase * trt + lage + V4, epil,
                X_epil, epil$y, rep(0, nrow(epil)), epil$subject,
                "glmer.nb(y ~ lbase * trt + lage + V4 + (1 | subject)); mixed_model(y ~ lbase * trt + lage + V4, random = ~ 1 | subject, family = negative.binomial(), nAGQ = k)"),
  trial = record("trial", y ~ trt * visit + offset(logdays) + (1 | subject), y ~ trt * visit + offset(logdays), trial,
                 X_trial, trial$y, trial$logdays, trial$subject,
                 "glmer.nb(y ~ trt * visit + offset(logdays) + (1 | subject)); mixed_model(y ~ trt * visit + offset(logdays), random = ~ 1 | subject, family = negative.binomial(), nAGQ = k)")
)
writeLines(toJSON(refs, auto_unbox = TRUE, digits = NA, pretty = TRUE), "negbin_refs.json")
