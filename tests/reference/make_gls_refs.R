# make_gls_refs.R -- reference values for trialmlm's MMRM engine from R nlme::gls.
#
# Run from inside tests/reference/:   Rscript make_gls_refs.R
# Needs R with nlme and jsonlite (Debian: r-base-core r-cran-nlme r-cran-jsonlite).
#
# Writes (all in the current directory):
#   trial3.csv      simulated 3-arm trial, one row per subject-visit, CHG = NA when missing
#   demo_trial.csv  copy of shared/reference/demo_trial.csv (cross-check against R mmrm)
#   gls_refs.json   one entry per fitted case: loglik, covariance matrix, coefficients, ...
#
# Every fit is made on the data as read back from the CSV file, so the CSV reproduces the
# fits exactly.  For every case the script also
#   * recomputes the (RE)ML log-likelihood with an independent implementation from the full
#     covariance matrix it reports (validates the matrix and the likelihood constants),
#   * compares the full matrix with nlme::getVarCov for a subject with all visits observed,
#   * evaluates the numerical gradient and one Newton step of that log-likelihood in the
#     natural covariance parameters (SDs, correlations, rho) at the reported estimates, to
#     measure how far they are from the exact optimum (convergence check),
# and stops on any gls warning, non-convergence or failed check.
# Each gls fit is followed by a polishing gls call started at its estimates (see POLISH);
# the reported values come from the polished fit.

suppressPackageStartupMessages({
  library(nlme)
  library(jsonlite)
})

SEED <- 20261122
VISITS <- c("W1", "W2", "W4", "W8", "W12", "W16")
TIMES <- c(1, 2, 4, 8, 12, 16)
K <- length(VISITS)
ARMS <- c("HIGH", "LOW", "PBO")          # factor levels, alphabetical: reference = HIGH

## ---------------------------------------------------------------------------------------
## 1. Simulate trial3.csv
## ---------------------------------------------------------------------------------------
simulate_trial3 <- function() {
  set.seed(SEED)
  n <- 110
  usubjid <- sprintf("S%03d", seq_len(n))
  arm <- sample(rep(c("PBO", "LOW", "HIGH"), c(50, 35, 25)))   # unbalanced, shuffled order
  # North America is coded "NAM", not "NA": the string "NA" is read as missing by
  # read.csv and pandas.read_csv alike.
  region <- sample(c("EU", "NAM", "ASIA"), n, replace = TRUE)
  base <- round(rnorm(n, 20, 4), 3)

  # arm-by-visit mean change from baseline
  mu_arm <- rbind(PBO  = c(-0.5, -1.0, -1.4, -1.8, -2.0, -2.1),
                  LOW  = c(-0.8, -1.6, -2.5, -3.3, -3.8, -4.1),
                  HIGH = c(-1.0, -2.1, -3.3, -4.4, -5.2, -5.8))
  reg_eff <- c(ASIA = -0.6, EU = 0, NAM = 0.8)

  # error covariance: heterogeneous SDs, corr = 0.7^sqrt(|t_i - t_j|) (powered exponential,
  # positive definite); mildly arm-specific scale so the GROUP= fits have something to find
  sds <- c(2, 2.3, 2.7, 3.2, 3.8, 4.5)
  Rm <- 0.7^sqrt(abs(outer(TIMES, TIMES, "-")))
  L <- t(chol(diag(sds) %*% Rm %*% diag(sds)))
  arm_scale <- c(PBO = 1, LOW = 1.15, HIGH = 0.85)

  # dropout: probability of leaving before the last visit depends on arm (~40% overall);
  # the first missing visit is uniform on visits 2..6 (monotone thereafter)
  p_drop <- c(PBO = 0.55, LOW = 0.35, HIGH = 0.25)

  rows <- vector("list", n)
  for (i in seq_len(n)) {
    wt <- round(runif(K, 0.5, 2), 3)                 # per-row weight (SAS WEIGHT semantics)
    e <- arm_scale[[arm[i]]] * as.vector(L %*% rnorm(K)) / sqrt(wt)
    y <- mu_arm[arm[i], ] + 0.3 * (base[i] - 20) + reg_eff[[region[i]]] + e
    last <- K                                          # last observed visit
    if (runif(1) < p_drop[[arm[i]]]) last <- sample(2:K, 1) - 1
    obs <- seq_len(K) <= last
    # intermittent gap: one interior visit strictly before the last observed one
    if (runif(1) < 0.10 && last >= 3) obs[sample(2:(last - 1), 1)] <- FALSE
    y[!obs] <- NA
    rows[[i]] <- data.frame(USUBJID = usubjid[i], TRT = arm[i], REGION = region[i],
                            BASE = base[i], AVISIT = VISITS, VISN = seq_len(K), TIME = TIMES,
                            WT = wt, CHG = round(y, 3))
  }
  d <- do.call(rbind, rows)
  stopifnot(all(tapply(!is.na(d$CHG), d$USUBJID, any)))   # >= 1 observed visit each
  d
}

write.csv(simulate_trial3(), "trial3.csv", row.names = FALSE)

# read back exactly what a user of the CSV gets
trial3 <- read.csv("trial3.csv", stringsAsFactors = FALSE)
trial3$TRT <- factor(trial3$TRT, levels = ARMS)
trial3$REGION <- factor(trial3$REGION, levels = sort(unique(trial3$REGION)))
trial3$AVISIT <- factor(trial3$AVISIT, levels = VISITS)
trial3$INVWT <- 1 / trial3$WT                   # varFixed(~INVWT): Var = sigma^2 / WT
stopifnot(!anyNA(trial3[, c("USUBJID", "TRT", "REGION", "BASE", "AVISIT", "WT")]))

# demo trial (shared with R mmrm's reference values); keep a local copy
if (!file.exists("demo_trial.csv")) {
  stopifnot(file.copy("../../../shared/reference/demo_trial.csv", "demo_trial.csv"))
  Sys.chmod("demo_trial.csv", "0644")
}
demo <- read.csv("demo_trial.csv", stringsAsFactors = FALSE)
DEMO_VISITS <- paste0("V", 1:5)
demo$TRT <- factor(demo$TRT, levels = c("CTRL", "ACT"))
demo$SEX <- factor(demo$SEX)
demo$AVISIT <- factor(demo$AVISIT, levels = DEMO_VISITS)
demo$VIS <- as.integer(demo$AVISIT)

## ---------------------------------------------------------------------------------------
## 2. Helpers
## ---------------------------------------------------------------------------------------
CONTROL <- quote(glsControl(maxIter = 500, msMaxIter = 500, tolerance = 1e-10, msTol = 1e-10))
# nlme 3.1-x passes neither msTol nor any other tolerance to nlminb (only iter.max), so the
# first fit stops where nlminb's defaults say (relative parameter error up to ~1e-4 for
# the unstructured fits).  Each fit is therefore polished by a second gls() call that starts
# from the first fit's covariance parameters and optimises with BFGS at reltol = msTol.
POLISH <- quote(glsControl(maxIter = 500, msMaxIter = 5000, tolerance = 1e-10, msTol = 1e-15,
                           opt = "optim", optimMethod = "BFGS"))

# Build the gls call as a language object (so r_call shows the formula and structures
# literally), evaluate it, polish it, and fail on any warning or non-convergence.
run_gls <- function(model, data, correlation, weights = NULL, method = "REML") {
  args <- list(as.name("gls"), model, data = data, correlation = correlation,
               weights = weights, method = method, na.action = quote(na.omit),
               control = CONTROL)
  cl <- as.call(Filter(Negate(is.null), args))
  no_warn <- function(expr) withCallingHandlers(expr, warning = function(w)
    stop("gls warning: ", conditionMessage(w)))
  fit1 <- no_warn(eval(cl, globalenv()))
  # polish: same model, started at fit1's estimates
  env <- new.env(parent = globalenv())
  env$fit1 <- fit1
  cl2 <- cl
  cl2$correlation <- quote(fit1$modelStruct$corStruct)
  if (!is.null(weights)) cl2$weights <- quote(fit1$modelStruct$varStruct)
  cl2$control <- POLISH
  fit <- no_warn(eval(cl2, env))
  if (as.numeric(logLik(fit)) < as.numeric(logLik(fit1)) - 1e-9) stop("polish lost likelihood")
  list(fit = fit, call = cl,
       r_call = paste(deparse(cl, width.cutoff = 500L), collapse = " "),
       r_polish_call = paste(deparse(cl2, width.cutoff = 500L), collapse = " "),
       loglik_first_fit = as.numeric(logLik(fit1)))
}

# SD ratios (varIdent, ordered by visit) of a fit; 1 when there is no varIdent
varident_ratios <- function(fit, levels) {
  vs <- fit$modelStruct$varStruct
  vi <- NULL
  if (inherits(vs, "varIdent")) vi <- vs
  if (inherits(vs, "varComb")) for (v in vs) if (inherits(v, "varIdent")) vi <- v
  if (is.null(vi)) return(setNames(rep(1, length(levels)), levels))
  r <- coef(vi, unconstrained = FALSE, allCoef = TRUE)
  stopifnot(setequal(names(r), levels))
  r[levels]
}

# Correlation matrix over all K positions (visit order) + natural-scale parameters
corr_from_fit <- function(fit, times) {
  cs <- fit$modelStruct$corStruct
  k <- length(times)
  lag <- abs(outer(seq_len(k), seq_len(k), "-"))
  if (inherits(cs, "corSymm")) {
    # natural coefficients are the upper triangle row by row: (1,2), (1,3), ..., (k-1,k)
    v <- coef(cs, unconstrained = FALSE)
    R <- diag(k)
    R[lower.tri(R)] <- 0
    idx <- which(upper.tri(R), arr.ind = TRUE)
    idx <- idx[order(idx[, "row"], idx[, "col"]), , drop = FALSE]
    R[idx] <- v
    R[lower.tri(R)] <- t(R)[lower.tri(R)]
    return(list(R = R, params = list(type = "unstructured", correlation = unname(R))))
  }
  if (inherits(cs, "corCompSymm")) {
    rho <- unname(coef(cs, unconstrained = FALSE))
    R <- matrix(rho, k, k); diag(R) <- 1
    return(list(R = R, params = list(type = "compound symmetry", rho = rho)))
  }
  # corAR1(form = ~VISN | USUBJID), VISN = 1..k.  When some subject has a gap in VISN
  # nlme silently turns corAR1 into the equivalent corARMA(p = 1, q = 0).
  if (inherits(cs, "corAR1") ||
      (inherits(cs, "corARMA") && attr(cs, "p") == 1 && attr(cs, "q") == 0)) {
    rho <- unname(coef(cs, unconstrained = FALSE))
    return(list(R = rho^lag, params = list(type = "AR(1) in visit number", rho = rho)))
  }
  if (inherits(cs, "corExp")) {      # corr = exp(-|t_i - t_j| / range) = rho^|t_i - t_j|
    range <- unname(coef(cs, unconstrained = FALSE))
    rho <- exp(-1 / range)
    return(list(R = exp(-abs(outer(times, times, "-")) / range),
                params = list(type = "exponential in TIME (SAS SP(EXP), theta = range)",
                              rho = rho, range = range, times = times)))
  }
  stop("unsupported corStruct")
}

# Full K x K marginal covariance of an unweighted (WT = 1) subject, from the estimates
cov_from_fit <- function(fit, levels, times) {
  cr <- corr_from_fit(fit, times)
  sd <- fit$sigma * varident_ratios(fit, levels)
  list(Sigma = unname(diag(sd) %*% cr$R %*% diag(sd)), corr_params = cr$params,
       var_ratios = as.list(varident_ratios(fit, levels)))
}

# Independent (RE)ML log-likelihood (SAS PROC MIXED / nlme definition):
#   -1/2 [ m log(2 pi) + sum_i log|V_i| + r' V^-1 r  (+ log|X' V^-1 X| for REML) ],
# m = N - p (REML) or N (ML), beta = GLS estimate, V_i = W_i^-1/2 Sigma_s(i)[obs,obs] W_i^-1/2.
# sigma_of(s) returns the full covariance matrix for subject s.
loglik_direct <- function(dat, mean_formula, sigma_of, reml, subj = "USUBJID", pos = "VISN",
                          wt = NULL) {
  X <- model.matrix(mean_formula, dat)
  y <- model.response(model.frame(mean_formula, dat))
  p <- ncol(X); N <- nrow(X)
  stopifnot(qr(X)$rank == p)
  XtX <- matrix(0, p, p); Xty <- numeric(p); yty <- 0; logdet <- 0
  for (s in unique(dat[[subj]])) {
    ii <- which(dat[[subj]] == s)
    V <- sigma_of(s)[dat[[pos]][ii], dat[[pos]][ii], drop = FALSE]
    if (!is.null(wt)) { a <- 1 / sqrt(dat[[wt]][ii]); V <- V * outer(a, a) }
    U <- chol(V)
    Xs <- backsolve(U, X[ii, , drop = FALSE], transpose = TRUE)
    ys <- backsolve(U, y[ii], transpose = TRUE)
    XtX <- XtX + crossprod(Xs); Xty <- Xty + drop(crossprod(Xs, ys)); yty <- yty + sum(ys^2)
    logdet <- logdet + 2 * sum(log(diag(U)))
  }
  beta <- solve(XtX, Xty)
  rss <- yty - sum(Xty * beta)
  if (reml) {
    -0.5 * ((N - p) * log(2 * pi) + logdet + as.numeric(determinant(XtX)$modulus) + rss)
  } else {
    -0.5 * (N * log(2 * pi) + logdet + rss)
  }
}

# Natural covariance parameters <-> full matrix, per structure (for the gradient check)
theta_to_sigma <- function(theta, struct, times) {
  k <- length(times)
  lag <- abs(outer(seq_len(k), seq_len(k), "-"))
  switch(struct,
    us = {
      R <- diag(k); R[upper.tri(R)] <- 0
      idx <- which(upper.tri(R), arr.ind = TRUE)
      R[idx[order(idx[, "row"], idx[, "col"]), , drop = FALSE]] <- theta[-(1:k)]
      R[lower.tri(R)] <- t(R)[lower.tri(R)]
      diag(theta[1:k]) %*% R %*% diag(theta[1:k])
    },
    cs   = { R <- matrix(theta[2], k, k); diag(R) <- 1; theta[1]^2 * R },
    csh  = { R <- matrix(theta[k + 1], k, k); diag(R) <- 1
             diag(theta[1:k]) %*% R %*% diag(theta[1:k]) },
    ar1  = theta[1]^2 * theta[2]^lag,
    ar1h = diag(theta[1:k]) %*% (theta[k + 1]^lag) %*% diag(theta[1:k]),
    sp_exp = theta[1]^2 * theta[2]^abs(outer(times, times, "-")))
}

sigma_to_theta <- function(Sigma, struct, cp) {
  sd <- sqrt(diag(Sigma))
  switch(struct,
    us = { R <- cov2cor(Sigma); idx <- which(upper.tri(R), arr.ind = TRUE)
           c(sd, R[idx[order(idx[, "row"], idx[, "col"]), , drop = FALSE]]) },
    cs = , ar1 = , sp_exp = c(sd[1], cp$rho),
    csh = , ar1h = c(sd, cp$rho))
}

# Gradient (central differences) of the log-likelihood f at theta
num_grad <- function(theta, f, h = 1e-5) {
  vapply(seq_along(theta), function(j) {
    e <- replace(numeric(length(theta)), j, h * max(1, abs(theta[j])))
    (f(theta + e) - f(theta - e)) / (2 * e[j])
  }, numeric(1))
}

# Distance of the estimate from the exact optimum: one Newton step with a numerical
# Hessian.  Returns the gradient, the largest relative parameter change of the step and
# the log-likelihood gained by it (how far the optimiser stopped from the optimum).
newton_check <- function(theta, f, h = 1e-4) {
  g <- num_grad(theta, f)
  k <- length(theta)
  H <- matrix(0, k, k)
  for (j in seq_len(k)) {
    e <- replace(numeric(k), j, h * max(1, abs(theta[j])))
    H[, j] <- (num_grad(theta + e, f) - num_grad(theta - e, f)) / (2 * e[j])
  }
  step <- -solve((H + t(H)) / 2, g)
  list(max_abs_gradient = max(abs(g)),
       newton_max_rel_step = max(abs(step) / pmax(abs(theta), 1e-8)),
       newton_loglik_gain = f(theta + step) - f(theta))
}

# A subject with all visits observed (for the getVarCov comparison)
complete_subject <- function(dat, k, subj = "USUBJID") {
  used <- dat[!is.na(dat$CHG), ]
  cnt <- table(used[[subj]])
  names(cnt)[cnt == k][1]
}

# Fit one (non-group or one-arm) model and run all checks
fit_and_check <- function(model, data_name, correlation, weights, method, struct,
                          levels, times, wt_col = NULL) {
  dat <- eval(parse(text = data_name)[[1]], globalenv())
  r <- run_gls(model, parse(text = data_name)[[1]], correlation, weights, method)
  fit <- r$fit
  cv <- cov_from_fit(fit, levels, times)
  # (a) getVarCov on a complete subject (scaled back to WT = 1 for weighted fits)
  s <- complete_subject(dat, length(levels))
  G <- unclass(getVarCov(fit, individual = s))
  attributes(G) <- list(dim = dim(G))
  if (!is.null(wt_col)) {
    a <- sqrt(dat[[wt_col]][dat$USUBJID == s & !is.na(dat$CHG)])
    G <- G * outer(a, a)
  }
  d_getvarcov <- max(abs(G - cv$Sigma)) / max(abs(cv$Sigma))
  # (b) direct log-likelihood from the reported matrix
  used <- dat[!is.na(dat$CHG), ]
  pos <- if ("VISN" %in% names(used)) "VISN" else "VIS"
  ll_fun <- function(theta) {
    S <- theta_to_sigma(theta, struct, times)
    loglik_direct(used, model, function(s) S, reml = method == "REML", pos = pos, wt = wt_col)
  }
  theta <- sigma_to_theta(cv$Sigma, struct, cv$corr_params)
  stopifnot(max(abs(theta_to_sigma(theta, struct, times) - cv$Sigma)) < 1e-10)
  ll_direct <- ll_fun(theta)
  ll <- as.numeric(logLik(fit))
  # (c) distance from the exact optimum (gradient, Newton step)
  nc <- newton_check(theta, ll_fun)
  if (abs(ll_direct - ll) > 1e-7) stop("direct loglik differs: ", ll_direct - ll)
  if (d_getvarcov > 1e-8) stop("getVarCov differs: ", d_getvarcov)
  if (nc$newton_max_rel_step > 1e-4) stop("not converged: Newton step ", nc$newton_max_rel_step)
  coefs <- data.frame(name = names(coef(fit)), estimate = unname(coef(fit)),
                      se = unname(sqrt(diag(vcov(fit)))), stringsAsFactors = FALSE)
  list(fit = fit, r_call = r$r_call, cov = cv, coef = coefs, loglik = ll,
       checks = c(list(r_polish_call = r$r_polish_call,
                       polish_loglik_gain = ll - r$loglik_first_fit,
                       getVarCov_subject = s,
                     getVarCov_max_rel_diff = d_getvarcov,
                     loglik_direct_minus_gls = ll_direct - ll), nc))
}

## ---------------------------------------------------------------------------------------
## 3. Cases
## ---------------------------------------------------------------------------------------
MEAN1 <- CHG ~ BASE + REGION + TRT * AVISIT
TRIALMLM_MEAN1 <- "CHG ~ BASE + REGION + TRT * AVISIT"

COR <- list(
  us     = quote(corSymm(form = ~VISN | USUBJID)),
  cs     = quote(corCompSymm(form = ~1 | USUBJID)),
  ar1    = quote(corAR1(form = ~VISN | USUBJID)),
  sp_exp = quote(corExp(form = ~TIME | USUBJID)))
VI <- quote(varIdent(form = ~1 | AVISIT))

single_specs <- list(
  list(name = "us_reml",   struct = "us",   cor = COR$us,  w = VI,   method = "REML"),
  list(name = "us_ml",     struct = "us",   cor = COR$us,  w = VI,   method = "ML"),
  list(name = "cs_reml",   struct = "cs",   cor = COR$cs,  w = NULL, method = "REML"),
  list(name = "cs_ml",     struct = "cs",   cor = COR$cs,  w = NULL, method = "ML"),
  list(name = "csh_reml",  struct = "csh",  cor = COR$cs,  w = VI,   method = "REML"),
  list(name = "ar1_reml",  struct = "ar1",  cor = COR$ar1, w = NULL, method = "REML"),
  list(name = "ar1h_reml", struct = "ar1h", cor = COR$ar1, w = VI,   method = "REML"),
  list(name = "sp_exp_reml", struct = "sp_exp", cor = COR$sp_exp, w = NULL, method = "REML",
       lhs = "TIME"),
  list(name = "sp_exp_ml",   struct = "sp_exp", cor = COR$sp_exp, w = NULL, method = "ML",
       lhs = "TIME"),
  list(name = "us_weighted_reml", struct = "us", cor = COR$us,
       w = quote(varComb(varIdent(form = ~1 | AVISIT), varFixed(~INVWT))),
       method = "REML", wt = "WT"),
  list(name = "ar1_weighted_reml", struct = "ar1", cor = COR$ar1,
       w = quote(varFixed(~INVWT)), method = "REML", wt = "WT"))

cases <- list()
for (sp in single_specs) {
  res <- fit_and_check(MEAN1, "trial3", sp$cor, sp$w, sp$method, sp$struct,
                       VISITS, TIMES, wt_col = sp$wt)
  cat(sprintf("%-20s loglik %.10f  Newton rel step %.1e\n", sp$name, res$loglik,
              res$checks$newton_max_rel_step))
  lhs <- if (is.null(sp$lhs)) "AVISIT" else sp$lhs
  cov_obj <- list(levels = VISITS, matrix = res$cov$Sigma)
  if (sp$struct == "sp_exp") cov_obj$time <- TIMES
  cases[[length(cases) + 1]] <- list(
    name = sp$name, data = "trial3.csv",
    formula = sprintf("%s + %s(%s | USUBJID)", TRIALMLM_MEAN1, sp$struct, lhs),
    method = sp$method, weights = sp$wt, r_call = res$r_call,
    loglik = res$loglik, n_obs = res$fit$dims$N, n_beta = res$fit$dims$p,
    covariance = cov_obj, coef = res$coef, sigma = res$fit$sigma,
    corr_params = res$cov$corr_params, var_ratios = res$cov$var_ratios,
    checks = res$checks)
}

# GROUP= cases: one covariance matrix per arm.  With a fully arm-interacted mean model the
# REML likelihood factorises over arms, so it equals the sum of per-arm REML fits.
group_specs <- list(
  list(name = "us_group_reml",  struct = "us",  cor = COR$us,  w = VI),
  list(name = "ar1_group_reml", struct = "ar1", cor = COR$ar1, w = NULL))
ARM_ORDER <- c("PBO", "LOW", "HIGH")
MEAN_ARM <- CHG ~ BASE + AVISIT
for (sp in group_specs) {
  per_arm <- list()
  for (a in ARM_ORDER) {
    per_arm[[a]] <- fit_and_check(MEAN_ARM, sprintf("trial3[trial3$TRT == \"%s\", ]", a),
                                  sp$cor, sp$w, "REML", sp$struct, VISITS, TIMES)
  }
  ll <- sum(vapply(per_arm, `[[`, numeric(1), "loglik"))
  # check the factorisation: joint REML loglik of CHG ~ TRT * (BASE + AVISIT) with
  # arm-specific matrices equals the sum of the per-arm REML log-likelihoods
  used <- trial3[!is.na(trial3$CHG), ]
  arm_of <- setNames(as.character(used$TRT), used$USUBJID)
  ll_joint <- loglik_direct(used, CHG ~ TRT * (BASE + AVISIT),
                            function(s) per_arm[[arm_of[[s]]]]$cov$Sigma, reml = TRUE)
  if (abs(ll_joint - ll) > 1e-7) stop("group factorisation check failed: ", ll_joint - ll)
  coefs <- do.call(rbind, lapply(ARM_ORDER, function(a) {
    cf <- per_arm[[a]]$coef; cf$name <- paste0(a, ":", cf$name); cf }))
  cases[[length(cases) + 1]] <- list(
    name = sp$name, data = "trial3.csv",
    formula = sprintf("CHG ~ TRT * (BASE + AVISIT) + %s(AVISIT | TRT / USUBJID)", sp$struct),
    method = "REML", weights = NULL,
    r_call = setNames(lapply(ARM_ORDER, function(a) per_arm[[a]]$r_call), ARM_ORDER),
    loglik = ll,
    loglik_by_arm = setNames(lapply(ARM_ORDER, function(a) per_arm[[a]]$loglik), ARM_ORDER),
    n_obs = sum(vapply(per_arm, function(r) r$fit$dims$N, numeric(1))),
    n_beta = sum(vapply(per_arm, function(r) r$fit$dims$p, numeric(1))),
    covariance = setNames(lapply(ARM_ORDER, function(a)
      list(levels = VISITS, matrix = per_arm[[a]]$cov$Sigma)), ARM_ORDER),
    coef = coefs,
    sigma = setNames(lapply(ARM_ORDER, function(a) per_arm[[a]]$fit$sigma), ARM_ORDER),
    corr_params = setNames(lapply(ARM_ORDER, function(a) per_arm[[a]]$cov$corr_params), ARM_ORDER),
    var_ratios = setNames(lapply(ARM_ORDER, function(a) per_arm[[a]]$cov$var_ratios), ARM_ORDER),
    checks = c(setNames(lapply(ARM_ORDER, function(a) per_arm[[a]]$checks), ARM_ORDER),
               list(joint_loglik_minus_sum = ll_joint - ll)))
}

# Cross-check on the demo trial against R mmrm (us, REML): -1707.16788725448
MMRM_DEMO_US <- -1707.16788725448
res <- fit_and_check(CHG ~ BASE + SEX + TRT * AVISIT, "demo",
                     quote(corSymm(form = ~VIS | USUBJID)), VI, "REML", "us",
                     DEMO_VISITS, c(1, 2, 4, 6, 8))
cases[[length(cases) + 1]] <- list(
  name = "us_demo_reml", data = "demo_trial.csv",
  formula = "CHG ~ BASE + SEX + TRT * AVISIT + us(AVISIT | USUBJID)",
  method = "REML", weights = NULL, r_call = res$r_call,
  loglik = res$loglik, n_obs = res$fit$dims$N, n_beta = res$fit$dims$p,
  covariance = list(levels = DEMO_VISITS, matrix = res$cov$Sigma),
  coef = res$coef, sigma = res$fit$sigma, corr_params = res$cov$corr_params,
  var_ratios = res$cov$var_ratios,
  checks = c(res$checks, list(mmrm_loglik = MMRM_DEMO_US,
                              gls_minus_mmrm = res$loglik - MMRM_DEMO_US)))

## ---------------------------------------------------------------------------------------
## 4. Write JSON and print a summary
## ---------------------------------------------------------------------------------------
out <- list(
  source = sprintf("%s; nlme %s; jsonlite %s", R.version.string,
                   packageVersion("nlme"), packageVersion("jsonlite")),
  generated = as.character(Sys.Date()),
  seed = SEED,
  notes = paste(
    "loglik is logLik(fit) with all constants (SAS -2 Res Log Likelihood = -2 * loglik).",
    "covariance.matrix is the full marginal matrix over all visits for a subject with WT = 1.",
    "Weighted cases: Var(row) = sigma^2 * (varIdent ratio)^2 / WT (SAS WEIGHT statement).",
    "Group cases: per-arm REML fits of CHG ~ BASE + AVISIT; loglik is their sum."),
  cases = cases)
write_json(out, "gls_refs.json", digits = NA, auto_unbox = TRUE, pretty = TRUE,
           null = "null", na = "null")

tab <- data.frame(
  case = vapply(cases, `[[`, "", "name"),
  method = vapply(cases, `[[`, "", "method"),
  n_obs = vapply(cases, function(x) as.integer(x$n_obs), 0L),
  loglik = vapply(cases, `[[`, 0, "loglik"))
print(format(tab, digits = 15), row.names = FALSE)
cat(sprintf("\nus_demo_reml: gls %.11f  mmrm %.11f  diff %.3e\n",
            res$loglik, MMRM_DEMO_US, res$loglik - MMRM_DEMO_US))
