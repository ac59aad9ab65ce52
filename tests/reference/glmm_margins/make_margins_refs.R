## Reference values for trialmlm.glimmix.margins (issue 23): population-averaged means of GLMMs,
## their delta-method SEs, and marginal risk differences / log odds ratios / log risk ratios.
## Run from this folder:  Rscript make_margins_refs.R   (~1 min)  -> margins_refs.json
## Data: ../glmm/toenail.csv and ../glmm/epil.csv (see ../glmm/README.md).
##
## For each fit (lme4 glmer, control as ../glmm/README.md: bobyqa, tolPwrss = 1e-12):
##  * parameters in trialmlm's parametrisation: beta, theta = log-Cholesky of G (lower triangle of
##    L row by row, diagonal as log) -- lme4's theta is L itself (no residual scale in these families);
##  * V = inverse of numDeriv::hessian (Richardson) of devfun / 2 = -loglik + const, as a function of
##    (beta, theta_ours): devfun <- update(fit, devFunOnly = TRUE) takes c(theta_lme4, beta);
##  * mu_bar(x, z) = E_b plogis(x'beta + z'b) (or exp) with b ~ N(0, G), as the one-dimensional
##    integral over e ~ N(0, 1) of ilink(x'beta + s e), s^2 = z'Gz, by R integrate() (rel.tol 1e-13,
##    split at the inflection e = -x'beta / s); for the random intercept + slope model also as the
##    two-dimensional integral over b (nested integrate(), independent of the reduction), stored
##    as mu_bar_2d; for Poisson also the closed form exp(x'beta + s^2 / 2);
##  * J = numDeriv::jacobian of the vector of mu_bar (and of the contrasts) in (beta, theta_ours);
##    SE = sqrt(diag(J V J')).
## Grid rows as trialmlm's reference grid: covariates at their mean over the rows used, or at the
## values listed; "rows" = predictive margin: every row of the data with trt set, averaged.
suppressPackageStartupMessages({
  library(lme4)
  library(numDeriv)
  library(jsonlite)
})

ctrl <- glmerControl(optimizer = "bobyqa", optCtrl = list(maxfun = 1e5), tolPwrss = 1e-12)
toenail <- read.csv("../glmm/toenail.csv")
toenail$treatment <- factor(toenail$treatment, levels = c("itraconazole", "terbinafine"))
epil <- read.csv("../glmm/epil.csv")
epil$trt <- factor(epil$trt, levels = c("placebo", "progabide"))

chol_of <- function(theta, q) {  # trialmlm's log-Cholesky -> L
  L <- matrix(0, q, q); k <- 1
  for (r in 1:q) for (c in 1:r) { L[r, c] <- if (r == c) exp(theta[k]) else theta[k]; k <- k + 1 }
  L
}
lme4_theta <- function(theta, q) {  # lme4's theta: L column by column (lower triangle)
  L <- chol_of(theta, q); L[lower.tri(L, diag = TRUE)]
}
ours_theta <- function(fit) {
  q <- length(fit@cnms[[1]])
  L <- matrix(0, q, q); L[lower.tri(L, diag = TRUE)] <- getME(fit, "theta")
  out <- c(); for (r in 1:q) for (c in 1:r) out <- c(out, if (r == c) log(L[r, c]) else L[r, c])
  out
}

mean_1d <- function(eta, s, ilink) {
  f <- function(e) { v <- ilink(eta + s * e) * dnorm(e); v[!is.finite(v)] <- 0; v }  # Inf * 0 far out
  if (s == 0) return(ilink(eta))
  mid <- -eta / s
  integrate(f, -Inf, mid, rel.tol = 1e-13, abs.tol = 0, subdivisions = 2000L)$value +
    integrate(f, mid, Inf, rel.tol = 1e-13, abs.tol = 0, subdivisions = 2000L)$value
}
mean_2d <- function(eta, z, G, ilink) {  # E over b ~ N(0, G) in two dimensions (nested integrate)
  S <- sqrt(diag(G)); rho <- G[1, 2] / prod(S)
  inner <- function(b1) sapply(b1, function(v) {
    m <- rho * S[2] / S[1] * v; sd <- S[2] * sqrt(1 - rho^2)
    g <- function(b2) ilink(eta + z[1] * v + z[2] * b2) * dnorm(b2, m, sd)
    integrate(g, m - 12 * sd, m + 12 * sd, rel.tol = 1e-12, subdivisions = 2000L)$value
  }) * dnorm(b1, 0, S[1])
  integrate(inner, -12 * S[1], 12 * S[1], rel.tol = 1e-11, subdivisions = 2000L)$value
}

reference <- function(label, fit, data, Xg, Zg, ilink, W = diag(nrow(Xg)), arms = NULL, q = 1, two_d = FALSE) {
  beta <- fixef(fit); theta <- ours_theta(fit); p <- length(beta)
  devfun <- update(fit, devFunOnly = TRUE)
  nll <- function(par) devfun(c(lme4_theta(par[-(1:p)], q), par[1:p])) / 2
  par <- c(beta, theta)
  V <- solve(numDeriv::hessian(nll, par))
  means <- function(par) {
    L <- chol_of(par[-(1:p)], q)
    s <- sqrt(rowSums((Zg %*% L)^2))
    eta <- drop(Xg %*% par[1:p])
    drop(W %*% mapply(mean_1d, eta, s, MoreArgs = list(ilink = ilink)))
  }
  mu <- means(par)
  J <- numDeriv::jacobian(means, par)
  out <- list(label = label, call = deparse(fit@call), nAGQ = fit@devcomp$dims[["nAGQ"]],
              beta = as.list(beta), theta = theta, G = unname(lapply(1:q, function(i) as.matrix(VarCorr(fit)[[1]])[i, ])),
              parameter_vcov = unname(lapply(seq_along(par), function(i) V[i, ])),
              loglik = as.numeric(logLik(fit)), X = unname(lapply(1:nrow(Xg), function(i) Xg[i, ])),
              Z = unname(lapply(1:nrow(Zg), function(i) Zg[i, ])),
              mu_bar = mu, se = sqrt(diag(J %*% V %*% t(J))),
              max_abs_grad_nll = max(abs(numDeriv::grad(nll, par))))
  if (two_d) {
    G <- as.matrix(VarCorr(fit)[[1]])
    out$mu_bar_2d <- sapply(1:nrow(Xg), function(i) mean_2d(sum(Xg[i, ] * beta), Zg[i, ], G, ilink))
  }
  if (!is.null(arms)) {  # arms: a list of (treatment row, reference row) index pairs into mu
    contrasts <- function(par) {
      m <- means(par)
      unlist(lapply(arms, function(a) c(diff = m[a[1]] - m[a[2]],
        logor = qlogis(m[a[1]]) - qlogis(m[a[2]]), logrr = log(m[a[1]] / m[a[2]]))))
    }
    est <- contrasts(par); Jc <- numDeriv::jacobian(contrasts, par)
    out$contrasts <- list(estimate = unname(est), se = sqrt(diag(Jc %*% V %*% t(Jc))),
                          names = names(est))
  }
  out
}

times <- c(0, 1, 2, 3, 6, 9, 12)
toenail_grid <- function(times) {
  g <- expand.grid(treatment = levels(toenail$treatment), time = times)
  list(X = model.matrix(~ treatment * time, g), Zi = model.matrix(~ 1, g), Zs = model.matrix(~ time, g),
       arms = lapply(seq_along(times), function(k) c(2 * k, 2 * k - 1)))
}
tg <- toenail_grid(times)
fits <- list()

ri <- glmer(y ~ treatment * time + (1 | id), toenail, binomial, nAGQ = 25, control = ctrl)
fits$toenail_ri_agq25 <- reference("toenail_ri_agq25", ri, toenail, tg$X, tg$Zi, plogis, arms = tg$arms)

ris <- glmer(y ~ treatment * time + (time | id), toenail, binomial, control = ctrl)
tg2 <- toenail_grid(c(0, 3, 12))
fits$toenail_ris_laplace <- reference("toenail_ris_laplace", ris, toenail, tg2$X, tg2$Zs, plogis,
                                      arms = tg2$arms, q = 2, two_d = TRUE)

## epil, Poisson: grid trt x V4 (0, 1) at the mean lbase and lage; and the predictive margin over rows
ep <- glmer(y ~ lbase * trt + lage + V4 + (1 | subject), epil, poisson, nAGQ = 25, control = ctrl)
eg <- expand.grid(trt = levels(epil$trt), V4 = c(0, 1))
eg$lbase <- mean(epil$lbase); eg$lage <- mean(epil$lage)
Xe <- model.matrix(~ lbase * trt + lage + V4, eg)
fits$epil_agq25 <- reference("epil_agq25", ep, epil, Xe, model.matrix(~ 1, eg), exp)
fits$epil_agq25$closed_form <- exp(drop(Xe %*% fixef(ep)) + as.matrix(VarCorr(ep)[[1]])[1, 1] / 2)
## predictive margin: every row with trt set to each level, V4 as observed, averaged (one mean per arm)
rows <- rbind(transform(epil, trt = factor("placebo", levels(epil$trt))),
              transform(epil, trt = factor("progabide", levels(epil$trt))))
Xr <- model.matrix(~ lbase * trt + lage + V4, rows)
n <- nrow(epil)
Wr <- rbind(c(rep(1 / n, n), rep(0, n)), c(rep(0, n), rep(1 / n, n)))
fits$epil_agq25_rows <- reference("epil_agq25_rows", ep, epil, Xr, model.matrix(~ 1, rows), exp, W = Wr)
fits$epil_agq25_rows$X <- NULL
fits$epil_agq25_rows$Z <- NULL

write_json(list(generated = as.character(Sys.Date()), R = R.version.string,
                packages = lapply(c(lme4 = "lme4", numDeriv = "numDeriv"), function(p) as.character(packageVersion(p))),
                times = times, fits = fits),
           "margins_refs.json", digits = NA, auto_unbox = TRUE, pretty = TRUE)
for (f in fits) cat(f$label, "mu_bar:", format(head(f$mu_bar, 4), digits = 10), "se:", format(head(f$se, 4), digits = 6),
                    "max|grad|:", f$max_abs_grad_nll,
                    if (!is.null(f$mu_bar_2d)) paste("max|1d - 2d|:", max(abs(f$mu_bar - f$mu_bar_2d))), "\n")
cat("epil closed form - integrate:", max(abs(fits$epil_agq25$closed_form - fits$epil_agq25$mu_bar)), "\n")
