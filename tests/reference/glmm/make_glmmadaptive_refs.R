## Reference values for GLMMs with a vector random effect (intercept + slope) by adaptive Gauss-Hermite
## quadrature, from GLMMadaptive (issue 23, set B of README.md).
## Run from inside tests/reference/glmm after make_glmer_refs.R (it reads epil.csv):
##   Rscript make_glmmadaptive_refs.R
## Writes contraception.csv and glmmadaptive_refs.json.
suppressPackageStartupMessages({
  library(GLMMadaptive)
  library(numDeriv)
  library(jsonlite)
})
source("agq_loglik.R")

data(Contraception, package = "mlmRev")
contra <- data.frame(woman = as.integer(as.character(Contraception$woman)),
                     district = as.integer(as.character(Contraception$district)),
                     use = as.integer(Contraception$use == "Y"), livch = as.character(Contraception$livch),
                     age = Contraception$age, urban = as.character(Contraception$urban))
write.csv(contra, "contraception.csv", row.names = FALSE)
contra$livch <- factor(contra$livch, levels = c("0", "1", "2", "3+"))
contra$urban <- factor(contra$urban, levels = c("N", "Y"))


## tight control: quasi-Newton reltol 1e-12, up to 50 outer iterations, adaptive grid re-centred at
## every outer iteration (GLMMadaptive's default is every 10th)
tight <- list(tol3 = 1e-12, iter_qN_outer = 50, update_GH_every = 1)

## D from GLMMadaptive's unconstrained parameters (log-diagonal Cholesky); the vcov() parameterisation
D_from_tht <- function(tht_D) GLMMadaptive:::chol_transf(tht_D)

record_fit <- function(label, fixed, random, data, family, nAGQ, call_text, y, X, Z, id) {
  fit <- do.call(mixed_model, c(list(fixed = fixed, random = random, data = data, family = family,
                                     nAGQ = nAGQ), tight))
  stopifnot(isTRUE(as.logical(fit$converged)))
  beta <- fixef(fit); p <- length(beta)
  V <- vcov(fit)
  se <- sqrt(diag(V))
  hess_pd <- all(eigen(V, symmetric = TRUE, only.values = TRUE)$values > 0)
  ## independent check: the adaptive quadrature log-likelihood re-centred at the estimates, and its
  ## gradient in (beta, log-Cholesky D)
  tht <- c(beta, GLMMadaptive:::chol_transf(fit$D))
  own <- function(th) agq_loglik(th[seq_len(p)], D_from_tht(th[-seq_len(p)]), y, X, Z, id, family$family, nAGQ)
  own_ll <- own(tht)
  own_grad <- numDeriv::grad(own, tht, method = "Richardson", method.args = list(r = 2))
  ## scale-free distance from the re-centred AGQ maximum: Newton decrement g' V g (the predicted
  ## log-likelihood gain of one Newton step is half of it)
  newton_decrement <- if (hess_pd) c(crossprod(own_grad, V %*% own_grad)) else NA_real_
  ## GLMMadaptive stops where g'Vg is still ~1e-5 (see README.md): polish its estimate by Newton steps
  ## theta <- theta + V g on the re-centred AGQ log-likelihood, V = vcov(fit) as inverse Hessian
  th_r <- tht; g_r <- own_grad
  for (step in 1:3) {
    th_r <- th_r + c(V %*% g_r)
    g_r <- numDeriv::grad(own, th_r, method = "Richardson", method.args = list(r = 2))
  }
  nd_r <- c(crossprod(g_r, V %*% g_r))
  D_r <- D_from_tht(th_r[-seq_len(p)])
  ll_r <- own(th_r)
  cat(sprintf("%-28s loglik %.8f  own AGQ %.8f  g'Vg %.1e  | polished loglik %.8f  g'Vg %.1e  max|dbeta| %.1e\n",
              label, as.numeric(logLik(fit)), own_ll, newton_decrement, ll_r, nd_r,
              max(abs(th_r[seq_len(p)] - beta))))
  list(fit = fit, theta_polished = th_r, rec = list(
    label = label, call = call_text, nAGQ = nAGQ, n_obs = nrow(data), n_groups = length(unique(id)),
    fixef = as.list(beta),
    se_fixef = as.list(se[seq_len(p)]),
    vcov_fixef = unname(lapply(seq_len(p), function(i) V[i, seq_len(p)])),
    G = unname(lapply(seq_len(nrow(fit$D)), function(i) fit$D[i, ])),
    G_names = rownames(fit$D),
    se_G_chol_params = as.list(se[-seq_len(p)]),
    loglik = as.numeric(logLik(fit)),
    minus2_loglik = -2 * as.numeric(logLik(fit)),
    loglik_own_agq = own_ll,
    hessian_positive_definite = hess_pd,
    polished = list(fixef = as.list(setNames(th_r[seq_len(p)], names(beta))),
                    G = unname(lapply(seq_len(nrow(D_r)), function(i) D_r[i, ])),
                    loglik = ll_r, newton_decrement = nd_r,
                    grad = as.list(setNames(g_r, names(se)))),
    convergence = list(converged = as.logical(fit$converged), control = tight,
                       grad_own_agq = as.list(setNames(own_grad, names(se))),
                       newton_decrement_own_agq = newton_decrement)))
}

fits <- list(); objects <- list()
fx_c <- use ~ age + I(age^2) + urban + livch
Xc <- model.matrix(fx_c, contra); Zc <- model.matrix(~ urban, contra)
for (k in c(7, 11, 15)) {
  lab <- sprintf("contraception_ris_agq%d", k)
  r <- record_fit(lab, fx_c, ~ urban | district, contra, binomial(), k,
                  sprintf("mixed_model(use ~ age + I(age^2) + urban + livch, random = ~ urban | district, data = Contraception, family = binomial(), nAGQ = %d, tol3 = 1e-12, iter_qN_outer = 50, update_GH_every = 1)", k),
                  contra$use, Xc, Zc, contra$district)
  fits[[lab]] <- r$rec; objects[[lab]] <- r
}
epil <- read.csv("epil.csv")
epil$trt <- factor(epil$trt, levels = c("placebo", "progabide"))
epil$Visit <- (2 * epil$period - 5) / 10                   # Breslow & Clayton (1993): -0.3, -0.1, 0.1, 0.3
fx_e <- y ~ lbase * trt + lage + Visit
Xe <- model.matrix(fx_e, epil); Ze <- model.matrix(~ Visit, epil)
for (k in c(7, 11, 15)) {
  lab <- sprintf("epil_ris_agq%d", k)
  r <- record_fit(lab, fx_e, ~ Visit | subject, epil, poisson(), k,
                  sprintf("mixed_model(y ~ lbase * trt + lage + Visit, random = ~ Visit | subject, data = MASS::epil, family = poisson(), nAGQ = %d, tol3 = 1e-12, iter_qN_outer = 50, update_GH_every = 1)", k),
                  epil$y, Xe, Ze, epil$subject)
  fits[[lab]] <- r$rec; objects[[lab]] <- r
}

## ---- marginal (population-averaged) coefficients, contraception nAGQ = 11 ----------------------
## GLMMadaptive: mu_i = mean over M = 3000 draws b ~ N(0, D) of expit(x_i'beta + z_i'b) (seed 1 + subject),
## beta_marg = (X'X)^{-1} X' logit(mu); SEs from K = 100 draws of the parameters from N(estimate, vcov).
mfit <- objects[["contraception_ris_agq11"]]$fit
mc <- marginal_coefs(mfit, std_errors = TRUE, cores = 1L)
## the same quantity at the polished estimates (set B), with the integral done by an n x n Gauss-Hermite
## product rule (deterministic), and delta-method SEs through the vcov() of (beta, log-Cholesky D)
marg_beta <- function(th, n_gh) {
  gh <- gauss_hermite(n_gh)
  grid <- as.matrix(expand.grid(gh$x, gh$x)); wq <- apply(as.matrix(expand.grid(gh$w, gh$w)), 1, prod) / pi
  beta <- th[1:ncol(Xc)]; L <- t(chol(D_from_tht(th[-(1:ncol(Xc))])))
  b <- sqrt(2) * grid %*% t(L)                            # nodes x 2
  mu <- plogis(outer(c(Xc %*% beta), rep(1, nrow(b))) + Zc %*% t(b)) %*% wq
  c(solve(crossprod(Xc), crossprod(Xc, qlogis(c(mu)))))
}
th11 <- objects[["contraception_ris_agq11"]]$theta_polished
mb <- marg_beta(th11, 40)
J <- numDeriv::jacobian(marg_beta, th11, n_gh = 40)
se_mb <- sqrt(diag(J %*% vcov(mfit) %*% t(J)))
beta_names <- names(fixef(mfit))
marginal <- list(
  fit = "contraception_ris_agq11",
  glmmadaptive = list(call = "marginal_coefs(fit, std_errors = TRUE, cores = 1L)  # M = 3000, K = 100, seed = 1; at GLMMadaptive's own estimates",
                      betas = as.list(setNames(mc$betas, beta_names)),
                      se = as.list(setNames(sqrt(diag(mc$var_betas)), beta_names))),
  quadrature = list(rule = "40 x 40 Gauss-Hermite product rule over b ~ N(0, D) at the polished estimates; delta-method SEs (numDeriv jacobian, GLMMadaptive vcov)",
                    betas = as.list(setNames(mb, beta_names)),
                    se_delta = as.list(setNames(se_mb, beta_names)),
                    max_abs_diff_vs_60_point_rule = max(abs(mb - marg_beta(th11, 60)))),
  conditional_betas = as.list(setNames(th11[seq_along(beta_names)], beta_names)))
cat("marginal coefficients: GLMMadaptive (Monte Carlo, unpolished) vs quadrature, max |diff| =",
    max(abs(mc$betas - mb)), "; 40 vs 60 point rule:", marginal$quadrature$max_abs_diff_vs_60_point_rule, "\n")

out <- list(
  generated = format(Sys.Date()), R = R.version.string,
  packages = list(GLMMadaptive = paste(as.character(packageVersion("GLMMadaptive")),
                                       "(github.com/drizopoulos/GLMMadaptive commit 146b4215)"),
                  mlmRev = as.character(packageVersion("mlmRev")), numDeriv = as.character(packageVersion("numDeriv"))),
  fits = fits, marginal_coefs = marginal)
write_json(out, "glmmadaptive_refs.json", auto_unbox = TRUE, digits = NA, pretty = TRUE)
