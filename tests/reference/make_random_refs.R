# make_random_refs.R -- reference values for trialmlm's random-effects models (SAS RANDOM
# statement, lme4 syntax (1 + TIME | SUBJECT)), alone or combined with a residual
# correlation structure, from R nlme::lme, lme4/lmerTest, pbkrtest and emmeans.
#
# Run from inside tests/reference/:   Rscript make_random_refs.R
# Needs R with nlme, lme4, lmerTest, pbkrtest, emmeans, numDeriv, jsonlite (Debian:
# r-cran-nlme r-cran-lme4 r-cran-lmertest r-cran-pbkrtest r-cran-emmeans r-cran-numderiv
# r-cran-jsonlite).  Reads trial3.csv (written by make_gls_refs.R).
#
# Writes (all in the current directory):
#   sleepstudy.csv   lme4::sleepstudy (Reaction, Days, Subject)
#   orthodont.csv    nlme::Orthodont (distance, age, Subject, Sex)
#   irregular.csv    simulated two-arm trial, 90 subjects, 3-10 visits at irregular times,
#                    random intercept + slope and a continuous-time AR(1) (exponential) error
#   random_refs.json list `cases`, one entry per fitted lme model:
#     sleep_us_reml, sleep_us_ml   lme(Reaction ~ Days, random = ~ Days | Subject)
#                                  (+ lmer / lmerTest / pbkrtest / emmeans for the REML fit)
#     sleep_diag_reml              random = list(Subject = pdDiag(~ Days))
#     ortho_reml                   lme(distance ~ age * Sex, random = ~ age | Subject)
#                                  (+ lmer tables and emtrends slope difference)
#     irregular_exp_reml, _ml      random = ~ TIME | ID, correlation = corExp(~ TIME | ID)
#     irregular_ri_reml            random = ~ 1 | ID (+ lmer tables and emtrends)
#     trial3_ri_ar1_reml           random = ~ 1 | USUBJID, correlation = corAR1(~ VISN | USUBJID)
#
# Every fit is made on the data as read back from its CSV file.  Each lme fit is followed by
# a polishing lme() call started at its estimates (BFGS at reltol = 1e-15 with finite-
# difference steps 1e-5, see POLISH); the
# reported values come from the polished fit.  For every lme case the script also
#   * recomputes the (RE)ML log-likelihood with an independent implementation from the
#     reported G, sigma^2 and correlation parameter (validates them and the constants),
#   * compares the marginal covariance V_i = Z_i G Z_i' + sigma^2 R_i with
#     getVarCov(type = "marginal") and the BLUPs G Z_i' V_i^-1 (y_i - X_i beta) with ranef(),
#   * evaluates the numerical gradient and one Newton step of that log-likelihood in the
#     natural parameters (G entries, sigma^2, rho) to measure the distance from the optimum,
# and stops on any warning, non-convergence or failed check.  lmer fits use tight nloptwrap
# tolerances; their deviance gradient in theta is recorded and the lmer log-likelihood is
# compared with lme's.
#
# Deterministic: the only random numbers are those of the irregular.csv simulation.

t_start <- Sys.time()
suppressPackageStartupMessages({
  library(nlme)
  library(lme4)
  library(lmerTest)
  library(pbkrtest)
  library(emmeans)
  library(numDeriv)
  library(jsonlite)
})
PKGS <- c("nlme", "lme4", "lmerTest", "pbkrtest", "emmeans", "numDeriv", "jsonlite", "Matrix")
SEED_IRREGULAR <- 20261123
TRIAL3_VISITS <- c("W1", "W2", "W4", "W8", "W12", "W16")

no_warn <- function(expr) withCallingHandlers(expr, warning = function(w)
  stop("warning: ", conditionMessage(w)))
deparse1line <- function(x) paste(deparse(x, width.cutoff = 500L), collapse = " ")
max_rel <- function(a, b) max(abs(a - b) / pmax(abs(b), 1e-300))

## ---------------------------------------------------------------------------------------
## 1. Data
## ---------------------------------------------------------------------------------------
ss <- lme4::sleepstudy
write.csv(data.frame(Reaction = ss$Reaction, Days = ss$Days,
                     Subject = as.character(ss$Subject), stringsAsFactors = FALSE),
          "sleepstudy.csv", row.names = FALSE)
od <- nlme::Orthodont
write.csv(data.frame(distance = od$distance, age = od$age,
                     Subject = as.character(od$Subject), Sex = as.character(od$Sex),
                     stringsAsFactors = FALSE),
          "orthodont.csv", row.names = FALSE)

# irregular.csv: 90 subjects, 45 per arm (shuffled); 3-10 visits (binomial, more for ACT);
# first visit at TIME 0, then gaps U(0.3, 1.2) years (times rounded to 2 dp before use);
# y = 50 + 0.5 (BASE - 50) - (1.5 + 0.8 ACT) TIME + b0 + b1 TIME + e,
# (b0, b1) ~ N(0, G), G = [[16, -2], [-2, 1.5]], Cov(e_j, e_k) = 2.5^2 0.6^|t_j - t_k|.
simulate_irregular <- function() {
  set.seed(SEED_IRREGULAR)
  n <- 90
  id <- sprintf("P%02d", seq_len(n))
  arm <- sample(rep(c("PBO", "ACT"), c(45, 45)))
  base <- round(rnorm(n, 50, 8), 2)
  nvis <- 3L + rbinom(n, 7, ifelse(arm == "ACT", 0.7, 0.45))   # mean 7.9 (ACT), 6.15 (PBO)
  LG <- t(chol(matrix(c(16, -2, -2, 1.5), 2, 2)))
  rows <- vector("list", n)
  for (i in seq_len(n)) {
    k <- nvis[i]
    time <- round(c(0, cumsum(runif(k - 1, 0.3, 1.2))), 2)
    b <- drop(LG %*% rnorm(2))
    Ce <- 2.5^2 * 0.6^abs(outer(time, time, "-"))
    e <- drop(t(chol(Ce)) %*% rnorm(k))
    act <- as.numeric(arm[i] == "ACT")
    y <- 50 + 0.5 * (base[i] - 50) - act * 0 - (1.5 + 0.8 * act) * time +
      b[1] + b[2] * time + e
    rows[[i]] <- data.frame(ID = id[i], ARM = arm[i], BASE = base[i], VISIT = seq_len(k),
                            TIME = time, y = round(y, 3), stringsAsFactors = FALSE)
  }
  do.call(rbind, rows)
}
write.csv(simulate_irregular(), "irregular.csv", row.names = FALSE)

# read back exactly what a user of the CSV files gets; factor levels alphabetical (trialmlm's
# default order: the first level is the reference)
sleep <- read.csv("sleepstudy.csv", colClasses = c(Subject = "character"))
sleep$Subject <- factor(sleep$Subject)
ortho <- read.csv("orthodont.csv", stringsAsFactors = FALSE)
ortho$Subject <- factor(ortho$Subject)
ortho$Sex <- factor(ortho$Sex)                                   # Female (reference), Male
irr <- read.csv("irregular.csv", stringsAsFactors = FALSE)
irr$ID <- factor(irr$ID)
irr$ARM <- factor(irr$ARM)                                       # ACT (reference), PBO
trial3_all <- read.csv("trial3.csv", stringsAsFactors = FALSE)
trial3 <- trial3_all[!is.na(trial3_all$CHG), ]
rownames(trial3) <- NULL
trial3$TRT <- factor(trial3$TRT)                                 # HIGH (reference), LOW, PBO
trial3$AVISIT <- factor(trial3$AVISIT, levels = TRIAL3_VISITS)
trial3$USUBJID <- factor(trial3$USUBJID)
stopifnot(!anyNA(sleep), !anyNA(ortho), !anyNA(irr), !anyNA(trial3[, c("CHG", "BASE")]))

## ---------------------------------------------------------------------------------------
## 2. lme fitting with polishing
## ---------------------------------------------------------------------------------------
CONTROL <- quote(lmeControl(maxIter = 500, msMaxIter = 500, niterEM = 50, msMaxEval = 2000))
# nlme 3.1-162 passes no tolerance to nlminb unless asked, so each fit is polished by a
# second lme() call that starts from the first fit's variance parameters (the reStruct and
# corStruct objects start_<tag>$reStruct / $corStruct, stored in the global environment) and
# optimises the profiled (RE)ML criterion with BFGS at reltol = msTol = 1e-15.  optim's
# BFGS uses a central-difference gradient with step ndeps (default 1e-3 on the unconstrained
# scale); with the default the polished exponential fits stopped ~1e-5 (relative) from the
# optimum, with ndeps = 1e-5 every fit is within the precision of the Newton check (~1e-7).
NDEPS <- 1e-5
POLISH <- quote(lmeControl(maxIter = 500, msMaxIter = 5000, niterEM = 0, msTol = 1e-15,
                           opt = "optim", optimMethod = "BFGS"))

run_lme <- function(tag, fixed, data_name, random, correlation = NULL, method = "REML",
                    control = CONTROL) {
  args <- list(as.name("lme"), fixed, data = as.name(data_name), random = random,
               correlation = correlation, method = method, control = control)
  cl <- as.call(Filter(Negate(is.null), args))
  fit1 <- no_warn(eval(cl, globalenv()))
  start <- paste0("start_", tag)
  assign(start, fit1$modelStruct, envir = globalenv())
  cl2 <- cl
  cl2$random <- call("$", as.name(start), as.name("reStruct"))
  if (!is.null(correlation)) cl2$correlation <- call("$", as.name(start), as.name("corStruct"))
  cl2$control <- POLISH
  # optim's finite-difference gradient: step 1e-5 (default 1e-3) per unconstrained parameter
  cl2$control$ndeps <- call("rep", NDEPS, length(coef(fit1$modelStruct)))
  fit <- no_warn(eval(cl2, globalenv()))
  if (as.numeric(logLik(fit)) < as.numeric(logLik(fit1)) - 1e-9) stop("polish lost likelihood")
  list(fit = fit, fit1 = fit1, r_call = deparse1line(cl), r_polish_call = deparse1line(cl2),
       loglik_first_fit = as.numeric(logLik(fit1)))
}

## ---------------------------------------------------------------------------------------
## 3. Independent (RE)ML log-likelihood of a linear mixed model
## ---------------------------------------------------------------------------------------
# V_i = Z_i G Z_i' + sigma^2 R_i(rho), R_i = I (none), rho^|VISN_j - VISN_k| (ar1) or
# rho^|t_j - t_k| = exp(-|t_j - t_k| / range) (exp).  Natural parameters theta:
#   G entries (vech, column-major: G11, G21, G22 for "us"; diagonal for "diag"),
#   sigma^2, rho (when there is a correlation structure).
# loglik = -1/2 [ m log(2 pi) + sum_i log|V_i| + r'V^-1 r (+ log|X'V^-1X| for REML) ],
# m = N - p (REML) or N (ML), beta = GLS estimate.
make_blocks <- function(dat, fixed, zterms, subj, cor_var = NULL) {
  X <- model.matrix(fixed, dat)
  y <- model.response(model.frame(fixed, dat))
  Z <- model.matrix(zterms, dat)
  ids <- as.character(dat[[subj]])
  lapply(split(seq_len(nrow(X)), factor(ids, levels = unique(ids))), function(ii)
    list(id = ids[ii[1]], X = X[ii, , drop = FALSE], y = y[ii], Z = Z[ii, , drop = FALSE],
         d = if (is.null(cor_var)) NULL else abs(outer(dat[[cor_var]][ii], dat[[cor_var]][ii], "-"))))
}

theta_to_parts <- function(theta, gtype, q, cor) {
  G <- matrix(0, q, q)
  if (gtype == "us") {
    ng <- q * (q + 1) / 2
    G[lower.tri(G, diag = TRUE)] <- theta[seq_len(ng)]
    G[upper.tri(G)] <- t(G)[upper.tri(G)]
  } else {
    ng <- q
    diag(G) <- theta[seq_len(q)]
  }
  list(G = G, sigma2 = theta[ng + 1], rho = if (cor == "none") NULL else theta[ng + 2])
}

marginal_V <- function(b, parts) {
  R <- if (is.null(parts$rho)) diag(nrow(b$Z)) else parts$rho^b$d
  b$Z %*% parts$G %*% t(b$Z) + parts$sigma2 * R
}

mixed_core <- function(theta, blocks, gtype, cor, reml) {
  q <- ncol(blocks[[1]]$Z); p <- ncol(blocks[[1]]$X)
  parts <- theta_to_parts(theta, gtype, q, cor)
  XtX <- matrix(0, p, p); Xty <- numeric(p); yty <- 0; logdet <- 0; N <- 0
  for (b in blocks) {
    U <- chol(marginal_V(b, parts))
    Xs <- backsolve(U, b$X, transpose = TRUE)
    ys <- backsolve(U, b$y, transpose = TRUE)
    XtX <- XtX + crossprod(Xs); Xty <- Xty + drop(crossprod(Xs, ys)); yty <- yty + sum(ys^2)
    logdet <- logdet + 2 * sum(log(diag(U))); N <- N + length(b$y)
  }
  beta <- solve(XtX, Xty)
  rss <- yty - sum(Xty * beta)
  ll <- if (reml) {
    -0.5 * ((N - p) * log(2 * pi) + logdet + as.numeric(determinant(XtX)$modulus) + rss)
  } else {
    -0.5 * (N * log(2 * pi) + logdet + rss)
  }
  list(ll = ll, beta = beta, Phi = solve(XtX), parts = parts)
}

# BLUPs and their variances per subject at the given parameters:
#   b_i       = G Z_i' V_i^-1 (y_i - X_i beta)
#   cond_var  = G - G Z_i' V_i^-1 Z_i G              (Var(b_i | y), beta known; = lme4 postVar)
#   pev       = cond_var + G Z_i' V_i^-1 X_i Phi X_i' V_i^-1 Z_i G
#               (Var(b_i^ - b_i), the C22 block of the inverse mixed-model equations:
#                SAS "Std Err Pred" of SOLUTION on the RANDOM statement, accounts for beta^)
blup_parts <- function(theta, blocks, gtype, cor, reml) {
  st <- mixed_core(theta, blocks, gtype, cor, reml)
  G <- st$parts$G
  lapply(blocks, function(b) {
    Vi <- solve(marginal_V(b, st$parts))
    GZV <- G %*% t(b$Z) %*% Vi
    cv <- G - GZV %*% b$Z %*% G
    A <- GZV %*% b$X
    list(id = b$id, b = drop(GZV %*% (b$y - b$X %*% st$beta)), cond_var = cv,
         pev = cv + A %*% st$Phi %*% t(A))
  })
}

# Distance of the estimate from the exact optimum: gradient (numDeriv, Richardson
# extrapolation) and one Newton step with the numDeriv Hessian.  Returns the gradient, the
# Newton step (largest change relative to the parameter and in units of its asymptotic SE)
# and the log-likelihood gained by the step.
newton_check <- function(theta, f) {
  g <- numDeriv::grad(f, theta)
  H <- numDeriv::hessian(f, theta)
  H <- (H + t(H)) / 2
  step <- -solve(H, g)
  A <- solve(-H)                               # asymptotic covariance of theta
  se <- sqrt(diag(A))
  list(gradient = I(g), max_abs_gradient = max(abs(g)),
       theta_se = I(se), theta_corr = cov2cor(A),
       newton_step = I(step),
       newton_max_rel_step = max(abs(step) / pmax(abs(theta), 1e-8)),
       newton_max_step_in_se = max(abs(step) / se),
       newton_loglik_gain = f(theta + step) - f(theta),
       hessian_negative_definite = all(eigen(H, only.values = TRUE)$values < 0))
}

## ---------------------------------------------------------------------------------------
## 4. Extract and check one lme fit
## ---------------------------------------------------------------------------------------
# spec: tag, fixed, data_name, random, correlation, method, subj, zterms (formula),
#       gtype ("us"/"diag"), cor ("none"/"ar1"/"exp"), cor_var (column of positions/times)
lme_case <- function(sp) {
  r <- run_lme(sp$tag, sp$fixed, sp$data_name, sp$random, sp$correlation, sp$method)
  fit <- r$fit
  dat <- get(sp$data_name)
  reml <- sp$method == "REML"
  # G (natural scale) and residual parameters
  G <- unclass(getVarCov(fit))
  terms <- colnames(G)
  attributes(G) <- list(dim = dim(G))
  q <- nrow(G)
  sigma2 <- fit$sigma^2
  cs <- fit$modelStruct$corStruct
  resid <- list(sigma2 = sigma2, sigma = fit$sigma)
  rho <- NULL
  if (sp$cor == "ar1") {
    stopifnot(inherits(cs, "corAR1") ||
              (inherits(cs, "corARMA") && attr(cs, "p") == 1 && attr(cs, "q") == 0))
    rho <- unname(coef(cs, unconstrained = FALSE))
    resid$correlation <- list(type = "AR(1) in visit number (VISN)", rho = rho,
                              nlme_class = class(cs)[1])
  } else if (sp$cor == "exp") {
    stopifnot(inherits(cs, "corExp"))
    range <- unname(coef(cs, unconstrained = FALSE))
    rho <- exp(-1 / range)
    resid$correlation <- list(type = "exponential in TIME (SAS SP(EXP), theta = range): corr = exp(-|dt| / range) = rho^|dt|",
                              rho = rho, range = range, nugget = FALSE)
  } else {
    stopifnot(is.null(cs))
    resid$correlation <- NULL
  }
  theta <- c(if (sp$gtype == "us") G[lower.tri(G, diag = TRUE)] else diag(G), sigma2, rho)
  blocks <- make_blocks(dat, sp$fixed, sp$zterms, sp$subj, sp$cor_var)
  stopifnot(identical(colnames(blocks[[1]]$X), names(fixef(fit))),
            identical(colnames(blocks[[1]]$Z), terms))
  ll_fun <- function(th) mixed_core(th, blocks, sp$gtype, sp$cor, reml)$ll
  ll <- as.numeric(logLik(fit))
  ll_direct <- ll_fun(theta)
  # marginal V of the largest subject vs getVarCov(type = "marginal")
  nobs <- vapply(blocks, function(b) length(b$y), 1L)
  big <- blocks[[which.max(nobs)]]
  Vg <- unclass(getVarCov(fit, individual = big$id, type = "marginal"))[[1]]
  attributes(Vg) <- list(dim = dim(Vg))
  Vd <- marginal_V(big, theta_to_parts(theta, sp$gtype, q, sp$cor))
  d_marg <- max(abs(Vg - Vd)) / max(abs(Vd))
  # BLUPs vs ranef()
  re <- ranef(fit)
  bp <- blup_parts(theta, blocks, sp$gtype, sp$cor, reml)
  b_direct <- do.call(rbind, lapply(bp, `[[`, "b"))
  rownames(b_direct) <- vapply(bp, `[[`, "", "id")
  d_blup <- max(abs(as.matrix(re)[rownames(b_direct), terms, drop = FALSE] - b_direct)) /
    max(abs(b_direct))
  beta_direct <- mixed_core(theta, blocks, sp$gtype, sp$cor, reml)$beta
  d_beta <- max(abs(beta_direct - fixef(fit)) / sqrt(diag(vcov(fit))))
  nc <- newton_check(theta, ll_fun)
  if (abs(ll_direct - ll) > 1e-7) stop(sp$tag, ": direct loglik differs: ", ll_direct - ll)
  if (d_marg > 1e-8) stop(sp$tag, ": getVarCov marginal differs: ", d_marg)
  if (d_blup > 1e-6) stop(sp$tag, ": BLUPs differ: ", d_blup)
  if (nc$newton_max_rel_step > 1e-4) stop(sp$tag, ": not converged: Newton step ",
                                          nc$newton_max_rel_step)
  tt <- summary(fit)$tTable
  fixed_tab <- data.frame(name = rownames(tt), estimate = tt[, "Value"],
                          se = tt[, "Std.Error"], df_lme = tt[, "DF"], t = tt[, "t-value"],
                          p = tt[, "p-value"], row.names = NULL, stringsAsFactors = FALSE)
  blups <- data.frame(subject = rep(rownames(re), times = q),
                      term = rep(terms, each = nrow(re)),
                      estimate = unlist(re[, terms], use.names = FALSE),
                      stringsAsFactors = FALSE)
  blups <- blups[order(match(blups$subject, rownames(re)), match(blups$term, terms)), ]
  rownames(blups) <- NULL
  blup_var <- unname(lapply(bp, function(x) list(subject = x$id, terms = I(terms),
                                          cond_var = x$cond_var, pev = x$pev)))
  list(fit = fit, r = r, theta = theta, blocks = blocks, G = G, terms = terms,
       out = list(
         loglik = ll, n_obs = fit$dims$N, n_subjects = unname(fit$dims$ngrps[1]),
         n_beta = length(fixef(fit)),
         fixed_effects = fixed_tab,
         G = list(terms = I(terms),
                  type = if (q == 1) "intercept variance" else if (sp$gtype == "us")
                    "unstructured" else "diagonal",
                  matrix = G),
         residual = resid,
         blups = blups,
         blup_variances = blup_var,
         checks = c(list(
           polish_loglik_gain = ll - r$loglik_first_fit,
           loglik_direct_minus_lme = ll_direct - ll,
           marginal_V_subject = big$id,
           marginal_V_max_rel_diff_vs_getVarCov = d_marg,
           blup_max_rel_diff_vs_ranef = d_blup,
           beta_gls_at_estimate_max_diff_in_se = d_beta,
           theta = I(theta),
           theta_names = I(c(if (sp$gtype == "us") {
             ij <- which(lower.tri(G, diag = TRUE), arr.ind = TRUE)
             sprintf("G[%s,%s]", terms[ij[, 1]], terms[ij[, 2]])
           } else sprintf("G[%s,%s]", terms, terms), "sigma2", if (!is.null(rho)) "rho"))),
           nc)))
}

## ---------------------------------------------------------------------------------------
## 5. lmer helpers (lme4 / lmerTest / pbkrtest / emmeans)
## ---------------------------------------------------------------------------------------
LMER_CONTROL <- quote(lmerControl(optimizer = "nloptwrap",
                                  optCtrl = list(xtol_abs = 1e-14, ftol_abs = 1e-16,
                                                 xtol_rel = 1e-14, ftol_rel = 1e-16,
                                                 maxeval = 1e5)))

run_lmer <- function(formula, data_name, REML = TRUE) {
  cl <- call("lmer", formula, data = as.name(data_name), REML = REML, control = LMER_CONTROL)
  fit <- no_warn(eval(cl, globalenv()))
  list(fit = fit, r_call = deparse1line(cl))
}

coef_rows <- function(fit, ddf) {
  s <- summary(fit, ddf = ddf)$coefficients
  data.frame(name = rownames(s), estimate = s[, "Estimate"], se = s[, "Std. Error"],
             df = s[, "df"], t = s[, "t value"], p = s[, "Pr(>|t|)"], row.names = NULL,
             stringsAsFactors = FALSE)
}

anova_rows <- function(fit, ddf) {
  a <- anova(fit, type = 3, ddf = ddf)
  data.frame(term = rownames(a), num_df = a$NumDF, den_df = a$DenDF, F = a[["F value"]],
             p = a[["Pr(>F)"]], sum_sq = a[["Sum Sq"]], mean_sq = a[["Mean Sq"]],
             stringsAsFactors = FALSE)
}

# pbkrtest directly: adjusted covariance (vcovAdj) and KR df per coefficient (get_Lb_ddf)
kr_pbkrtest <- function(fit) {
  Va <- as.matrix(pbkrtest::vcovAdj(fit))
  p <- ncol(Va)
  df <- vapply(seq_len(p), function(j)
    pbkrtest::get_Lb_ddf(fit, matrix(diag(p)[j, ], nrow = 1)), numeric(1))
  Vu <- as.matrix(vcov(fit))
  list(names = I(names(fixef(fit))), estimate = I(unname(fixef(fit))),
       se_adjusted = I(sqrt(diag(Va))), se_unadjusted = I(sqrt(diag(Vu))), df = I(df),
       vcov_adjusted = unname(Va))
}

# emmeans / emtrends tables {factor columns, estimate, se, df, t, p, lower, upper}
emm_rows <- function(em) {
  s <- as.data.frame(summary(em, infer = c(TRUE, TRUE), adjust = "none"))
  est <- intersect(c("emmean", "prediction", "estimate"), names(s))
  est <- c(est, grep("\\.trend$", names(s), value = TRUE))[1]
  key <- setdiff(names(s), c(est, "SE", "df", "t.ratio", "z.ratio", "p.value",
                             attr(s, "clNames")))
  out <- s[, key, drop = FALSE]
  out[] <- lapply(out, as.character)
  stat <- if ("t.ratio" %in% names(s)) s$t.ratio else s$z.ratio
  cbind(out, estimate = s[[est]], se = s$SE, df = s$df, t = stat, p = s$p.value,
        lower = s[[attr(s, "clNames")[1]]], upper = s[[attr(s, "clNames")[2]]])
}

# lmer postVar (ranef(condVar = TRUE)) per subject
condvar_rows <- function(fit, grp) {
  re <- ranef(fit, condVar = TRUE)[[grp]]
  pv <- attr(re, "postVar")
  lapply(seq_len(nrow(re)), function(i) list(
    subject = rownames(re)[i], terms = I(colnames(re)),
    estimate = I(unlist(re[i, ], use.names = FALSE)),
    cond_var = matrix(pv[, , i], ncol(re), ncol(re))))
}

lmer_common <- function(fit, lme_fit, lme_blocks, lme_theta, gtype, reml) {
  devfun <- update(fit, devFunOnly = TRUE)
  th <- getME(fit, "theta")
  vc <- VarCorr(fit)
  G <- as.matrix(vc[[1]]); attributes(G) <- list(dim = dim(G))
  sigma2 <- sigma(fit)^2
  # BLUP variances at lmer's estimates (independent code) vs lme4's postVar
  theta_lmer <- c(if (gtype == "us") G[lower.tri(G, diag = TRUE)] else diag(G), sigma2)
  bp <- blup_parts(theta_lmer, lme_blocks, gtype, "none", reml)
  cv <- condvar_rows(fit, names(vc)[1])
  by_id <- setNames(cv, vapply(cv, `[[`, "", "subject"))
  d_cv <- max(vapply(bp, function(x) max(abs(x$cond_var - by_id[[x$id]]$cond_var)) /
                       max(abs(x$cond_var)), 0))
  list(G = G, sigma2 = sigma2, condvar = cv,
       checks = list(
         loglik_lmer_minus_lme = as.numeric(logLik(fit)) - as.numeric(logLik(lme_fit)),
         fixef_max_abs_diff_vs_lme = max(abs(fixef(fit) - fixef(lme_fit))),
         G_max_rel_diff_vs_lme = max(abs(G - theta_to_parts(lme_theta, gtype, nrow(G),
                                                            "none")$G)) / max(abs(G)),
         theta_relative_cholesky = I(unname(th)),
         optimizer_message = fit@optinfo$message,
         deviance_gradient_at_theta = I(numDeriv::grad(devfun, th)),
         postVar_max_rel_diff_vs_direct = d_cv))
}

## ---------------------------------------------------------------------------------------
## 6. Cases
## ---------------------------------------------------------------------------------------
cases <- list()
summary_lines <- character()
add_line <- function(name, res) {
  summary_lines <<- c(summary_lines, sprintf(
    "%-20s loglik %.10f  max|grad| %.1e  Newton rel step %.1e  gain %.1e  polish gain %.1e",
    name, res$out$loglik, res$out$checks$max_abs_gradient,
    res$out$checks$newton_max_rel_step, res$out$checks$newton_loglik_gain,
    res$out$checks$polish_loglik_gain))
}
make_case <- function(name, data, formula, method, res, extra = list()) {
  c(list(name = name, data = data, formula = formula, method = method,
         r_calls = list(fit = res$r$r_call, polish = res$r$r_polish_call)),
    res$out[setdiff(names(res$out), "checks")], extra, list(checks = res$out$checks))
}

### 6.1 sleepstudy, unstructured G, REML and ML (+ lmer) --------------------------------
sleep_spec <- list(fixed = Reaction ~ Days, data_name = "sleep", random = quote(~ Days | Subject),
                   correlation = NULL, subj = "Subject", zterms = ~ Days, gtype = "us",
                   cor = "none", cor_var = NULL)
res_sleep <- lme_case(c(sleep_spec, tag = "sleep_us_reml", method = "REML"))
res_sleep_ml <- lme_case(c(sleep_spec, tag = "sleep_us_ml", method = "ML"))
add_line("sleep_us_reml", res_sleep)
add_line("sleep_us_ml", res_sleep_ml)

lm_sleep <- run_lmer(Reaction ~ Days + (Days | Subject), "sleep")
fit_lmer_sleep <- lm_sleep$fit
lm_sleep_ml <- run_lmer(Reaction ~ Days + (Days | Subject), "sleep", REML = FALSE)
com <- lmer_common(fit_lmer_sleep, res_sleep$fit, res_sleep$blocks, res_sleep$theta, "us", TRUE)
kr <- kr_pbkrtest(fit_lmer_sleep)
cf_kr <- coef_rows(fit_lmer_sleep, "Kenward-Roger")
em_calls <- list(
  satterthwaite = 'emmeans(fit_lmer_sleep, ~ Days, at = list(Days = c(0, 9)), lmer.df = "satterthwaite")',
  kenward_roger = 'emmeans(fit_lmer_sleep, ~ Days, at = list(Days = c(0, 9)), lmer.df = "kenward-roger")',
  pairs = 'pairs(em, reverse = TRUE, adjust = "none")   # Day 9 - Day 0 = 9 * slope')
em_tabs <- lapply(c(satterthwaite = "satterthwaite", kenward_roger = "kenward-roger"),
  function(m) {
    em <- emmeans(fit_lmer_sleep, ~ Days, at = list(Days = c(0, 9)), lmer.df = m)
    list(means = emm_rows(em), difference = emm_rows(pairs(em, reverse = TRUE, adjust = "none")))
  })
lmer_sleep <- list(
  r_calls = list(fit = lm_sleep$r_call, fit_ml = lm_sleep_ml$r_call,
                 coef_satterthwaite = 'summary(fit_lmer_sleep, ddf = "Satterthwaite")$coefficients',
                 coef_kenward_roger = 'summary(fit_lmer_sleep, ddf = "Kenward-Roger")$coefficients',
                 kr_pbkrtest = 'pbkrtest::vcovAdj(fit_lmer_sleep); pbkrtest::get_Lb_ddf(fit_lmer_sleep, L) for each unit row L',
                 anova_satterthwaite = 'anova(fit_lmer_sleep, type = 3, ddf = "Satterthwaite")',
                 anova_kenward_roger = 'anova(fit_lmer_sleep, type = 3, ddf = "Kenward-Roger")',
                 condvar = 'ranef(fit_lmer_sleep, condVar = TRUE)', emmeans = em_calls),
  loglik = as.numeric(logLik(fit_lmer_sleep)),
  loglik_ml = as.numeric(logLik(lm_sleep_ml$fit)),
  G = list(terms = I(c("(Intercept)", "Days")), matrix = com$G), sigma2 = com$sigma2,
  coef_satterthwaite = coef_rows(fit_lmer_sleep, "Satterthwaite"),
  coef_kenward_roger = cf_kr,
  kr_pbkrtest = kr,
  anova_type3_satterthwaite = anova_rows(fit_lmer_sleep, "Satterthwaite"),
  anova_type3_kenward_roger = anova_rows(fit_lmer_sleep, "Kenward-Roger"),
  emmeans = em_tabs,
  ranef_condvar = com$condvar,
  checks = c(com$checks, list(
    loglik_ml_lmer_minus_lme = as.numeric(logLik(lm_sleep_ml$fit)) - res_sleep_ml$out$loglik,
    kr_se_lmerTest_vs_pbkrtest_max_rel_diff = max_rel(cf_kr$se, kr$se_adjusted),
    kr_df_lmerTest_vs_pbkrtest_max_rel_diff = max_rel(cf_kr$df, kr$df))))
summary_lines <- c(summary_lines, sprintf(
  "  lmer sleep: loglik %.10f (lmer - lme %.1e), ML lmer - lme %.1e, |dev grad| %.1e",
  lmer_sleep$loglik, com$checks$loglik_lmer_minus_lme,
  lmer_sleep$checks$loglik_ml_lmer_minus_lme, max(abs(com$checks$deviance_gradient_at_theta))))
cases[[length(cases) + 1]] <- make_case("sleep_us_reml", "sleepstudy.csv",
  "Reaction ~ Days + (1 + Days | Subject)", "REML", res_sleep, list(lmer = lmer_sleep))
cases[[length(cases) + 1]] <- make_case("sleep_us_ml", "sleepstudy.csv",
  "Reaction ~ Days + (1 + Days | Subject)", "ML", res_sleep_ml)

### 6.2 sleepstudy, diagonal G ------------------------------------------------------------
res <- lme_case(c(sleep_spec[setdiff(names(sleep_spec), c("random", "gtype"))],
                  tag = "sleep_diag_reml", method = "REML",
                  random = quote(list(Subject = pdDiag(~ Days))), gtype = "diag"))
add_line("sleep_diag_reml", res)
lm_diag <- run_lmer(Reaction ~ Days + (Days || Subject), "sleep")
cases[[length(cases) + 1]] <- make_case("sleep_diag_reml", "sleepstudy.csv",
  "Reaction ~ Days + (1 + Days || Subject)", "REML", res,
  list(lmer_check = list(r_call = lm_diag$r_call, loglik = as.numeric(logLik(lm_diag$fit)),
                         loglik_lmer_minus_lme = as.numeric(logLik(lm_diag$fit)) -
                           res$out$loglik)))

### 6.3 Orthodont, age * Sex, unstructured G (+ lmer, emtrends) ---------------------------
res_ortho <- lme_case(list(tag = "ortho_reml", fixed = distance ~ age * Sex, data_name = "ortho",
                           random = quote(~ age | Subject), correlation = NULL, method = "REML",
                           subj = "Subject", zterms = ~ age, gtype = "us", cor = "none",
                           cor_var = NULL))
add_line("ortho_reml", res_ortho)
lm_ortho <- run_lmer(distance ~ age * Sex + (age | Subject), "ortho")
fit_lmer_ortho <- lm_ortho$fit
com <- lmer_common(fit_lmer_ortho, res_ortho$fit, res_ortho$blocks, res_ortho$theta, "us", TRUE)
kr <- kr_pbkrtest(fit_lmer_ortho)
cf_kr <- coef_rows(fit_lmer_ortho, "Kenward-Roger")
trend_tabs <- lapply(c(satterthwaite = "satterthwaite", kenward_roger = "kenward-roger"),
  function(m) {
    et <- emtrends(fit_lmer_ortho, ~ Sex, var = "age", lmer.df = m)
    list(slopes = emm_rows(et), difference = emm_rows(pairs(et, adjust = "none")))
  })
lmer_ortho <- list(
  r_calls = list(fit = lm_ortho$r_call,
                 coef_satterthwaite = 'summary(fit_lmer_ortho, ddf = "Satterthwaite")$coefficients',
                 coef_kenward_roger = 'summary(fit_lmer_ortho, ddf = "Kenward-Roger")$coefficients',
                 kr_pbkrtest = 'pbkrtest::vcovAdj(fit_lmer_ortho); pbkrtest::get_Lb_ddf(fit_lmer_ortho, L) for each unit row L',
                 anova_satterthwaite = 'anova(fit_lmer_ortho, type = 3, ddf = "Satterthwaite")',
                 anova_kenward_roger = 'anova(fit_lmer_ortho, type = 3, ddf = "Kenward-Roger")',
                 condvar = 'ranef(fit_lmer_ortho, condVar = TRUE)',
                 emtrends = list(
                   satterthwaite = 'et <- emtrends(fit_lmer_ortho, ~ Sex, var = "age", lmer.df = "satterthwaite")',
                   kenward_roger = 'et <- emtrends(fit_lmer_ortho, ~ Sex, var = "age", lmer.df = "kenward-roger")',
                   difference = 'pairs(et, adjust = "none")   # Female - Male')),
  loglik = as.numeric(logLik(fit_lmer_ortho)),
  G = list(terms = I(c("(Intercept)", "age")), matrix = com$G), sigma2 = com$sigma2,
  coef_satterthwaite = coef_rows(fit_lmer_ortho, "Satterthwaite"),
  coef_kenward_roger = cf_kr,
  kr_pbkrtest = kr,
  anova_type3_satterthwaite = anova_rows(fit_lmer_ortho, "Satterthwaite"),
  anova_type3_kenward_roger = anova_rows(fit_lmer_ortho, "Kenward-Roger"),
  emtrends = trend_tabs,
  ranef_condvar = com$condvar,
  checks = c(com$checks, list(
    kr_se_lmerTest_vs_pbkrtest_max_rel_diff = max_rel(cf_kr$se, kr$se_adjusted),
    kr_df_lmerTest_vs_pbkrtest_max_rel_diff = max_rel(cf_kr$df, kr$df),
    emtrends_difference_plus_coef_age_SexMale = trend_tabs$satterthwaite$difference$estimate +
      unname(fixef(fit_lmer_ortho)["age:SexMale"]))))
summary_lines <- c(summary_lines, sprintf(
  "  lmer ortho: loglik %.10f (lmer - lme %.1e), |dev grad| %.1e",
  lmer_ortho$loglik, com$checks$loglik_lmer_minus_lme,
  max(abs(com$checks$deviance_gradient_at_theta))))
cases[[length(cases) + 1]] <- make_case("ortho_reml", "orthodont.csv",
  "distance ~ age * Sex + (1 + age | Subject)", "REML", res_ortho,
  list(factor_levels = list(Sex = levels(ortho$Sex)), lmer = lmer_ortho))

### 6.4 irregular times: random intercept + slope + exponential (continuous AR) errors ----
irr_exp_spec <- list(fixed = y ~ BASE + ARM * TIME, data_name = "irr",
                     random = quote(~ TIME | ID), correlation = quote(corExp(form = ~ TIME | ID)),
                     subj = "ID", zterms = ~ TIME, gtype = "us", cor = "exp", cor_var = "TIME")
# Robustness of the optimum: the same model refitted (default control, then polished) from
# very different starting ranges must reach the same log-likelihood.
alt_start <- function(nm, m, range0) {
  sp <- c(irr_exp_spec[setdiff(names(irr_exp_spec), "correlation")], method = m)
  cor0 <- bquote(corExp(value = .(range0), form = ~ TIME | ID))
  r <- run_lme(paste0(nm, "_alt"), sp$fixed, sp$data_name, sp$random, cor0, m)
  list(r_call = r$r_call, loglik_first_fit = r$loglik_first_fit,
       loglik = as.numeric(logLik(r$fit)),
       range = unname(coef(r$fit$modelStruct$corStruct, unconstrained = FALSE)),
       G = unclass(getVarCov(r$fit))[, ], sigma2 = r$fit$sigma^2)
}
for (m in c("REML", "ML")) {
  nm <- paste0("irregular_exp_", tolower(m))
  res <- lme_case(c(irr_exp_spec, tag = nm, method = m))
  add_line(nm, res)
  alts <- lapply(c(0.2, 5), function(r0) alt_start(nm, m, r0))
  for (a in alts) {
    a$loglik_minus_reported <- a$loglik - res$out$loglik
    if (abs(a$loglik_minus_reported) > 1e-8) stop(nm, ": alternative start differs")
  }
  res$out$checks$alternative_starts <- lapply(alts, function(a)
    c(a, list(loglik_minus_reported = a$loglik - res$out$loglik,
              range_rel_diff = a$range / res$out$residual$correlation$range - 1)))
  summary_lines <- c(summary_lines, sprintf(
    "  %s from range 0.2 / 5: loglik diff %.1e / %.1e, range rel diff %.1e / %.1e", nm,
    alts[[1]]$loglik - res$out$loglik, alts[[2]]$loglik - res$out$loglik,
    alts[[1]]$range / res$out$residual$correlation$range - 1,
    alts[[2]]$range / res$out$residual$correlation$range - 1))
  cases[[length(cases) + 1]] <- make_case(nm, "irregular.csv",
    "y ~ BASE + ARM * TIME + (1 + TIME | ID) + sp_exp(TIME | ID)", m, res,
    list(factor_levels = list(ARM = levels(irr$ARM))))
}

### 6.5 irregular times: random intercept only (+ lmer, emtrends) ------------------------
res_ri <- lme_case(list(tag = "irregular_ri_reml", fixed = y ~ BASE + ARM * TIME, data_name = "irr",
                        random = quote(~ 1 | ID), correlation = NULL, method = "REML",
                        subj = "ID", zterms = ~ 1, gtype = "us", cor = "none", cor_var = NULL))
add_line("irregular_ri_reml", res_ri)
lm_ri <- run_lmer(y ~ BASE + ARM * TIME + (1 | ID), "irr")
fit_lmer_irr <- lm_ri$fit
com <- lmer_common(fit_lmer_irr, res_ri$fit, res_ri$blocks, res_ri$theta, "us", TRUE)
kr <- kr_pbkrtest(fit_lmer_irr)
cf_kr <- coef_rows(fit_lmer_irr, "Kenward-Roger")
trend_tabs <- lapply(c(satterthwaite = "satterthwaite", kenward_roger = "kenward-roger"),
  function(m) {
    et <- emtrends(fit_lmer_irr, ~ ARM, var = "TIME", lmer.df = m)
    list(slopes = emm_rows(et), difference = emm_rows(pairs(et, adjust = "none")))
  })
lmer_irr <- list(
  r_calls = list(fit = lm_ri$r_call,
                 coef_satterthwaite = 'summary(fit_lmer_irr, ddf = "Satterthwaite")$coefficients',
                 coef_kenward_roger = 'summary(fit_lmer_irr, ddf = "Kenward-Roger")$coefficients',
                 kr_pbkrtest = 'pbkrtest::vcovAdj(fit_lmer_irr); pbkrtest::get_Lb_ddf(fit_lmer_irr, L) for each unit row L',
                 anova_satterthwaite = 'anova(fit_lmer_irr, type = 3, ddf = "Satterthwaite")',
                 anova_kenward_roger = 'anova(fit_lmer_irr, type = 3, ddf = "Kenward-Roger")',
                 condvar = 'ranef(fit_lmer_irr, condVar = TRUE)',
                 emtrends = list(
                   satterthwaite = 'et <- emtrends(fit_lmer_irr, ~ ARM, var = "TIME", lmer.df = "satterthwaite")',
                   kenward_roger = 'et <- emtrends(fit_lmer_irr, ~ ARM, var = "TIME", lmer.df = "kenward-roger")',
                   difference = 'pairs(et, adjust = "none")   # ACT - PBO')),
  loglik = as.numeric(logLik(fit_lmer_irr)),
  G = list(terms = I("(Intercept)"), matrix = com$G), sigma2 = com$sigma2,
  coef_satterthwaite = coef_rows(fit_lmer_irr, "Satterthwaite"),
  coef_kenward_roger = cf_kr,
  kr_pbkrtest = kr,
  anova_type3_satterthwaite = anova_rows(fit_lmer_irr, "Satterthwaite"),
  anova_type3_kenward_roger = anova_rows(fit_lmer_irr, "Kenward-Roger"),
  emtrends = trend_tabs,
  ranef_condvar = com$condvar,
  checks = c(com$checks, list(
    kr_se_lmerTest_vs_pbkrtest_max_rel_diff = max_rel(cf_kr$se, kr$se_adjusted),
    kr_df_lmerTest_vs_pbkrtest_max_rel_diff = max_rel(cf_kr$df, kr$df),
    emtrends_difference_plus_coef_ARMPBO_TIME = trend_tabs$satterthwaite$difference$estimate +
      unname(fixef(fit_lmer_irr)["ARMPBO:TIME"]))))
summary_lines <- c(summary_lines, sprintf(
  "  lmer irregular_ri: loglik %.10f (lmer - lme %.1e), |dev grad| %.1e",
  lmer_irr$loglik, com$checks$loglik_lmer_minus_lme,
  max(abs(com$checks$deviance_gradient_at_theta))))
cases[[length(cases) + 1]] <- make_case("irregular_ri_reml", "irregular.csv",
  "y ~ BASE + ARM * TIME + (1 | ID)", "REML", res_ri,
  list(factor_levels = list(ARM = levels(irr$ARM)), lmer = lmer_irr))

### 6.6 trial3: random intercept + AR(1) residuals --------------------------------------
res <- lme_case(list(tag = "trial3_ri_ar1_reml", fixed = CHG ~ BASE + TRT * AVISIT,
                     data_name = "trial3", random = quote(~ 1 | USUBJID),
                     correlation = quote(corAR1(form = ~ VISN | USUBJID)), method = "REML",
                     subj = "USUBJID", zterms = ~ 1, gtype = "us", cor = "ar1",
                     cor_var = "VISN"))
add_line("trial3_ri_ar1_reml", res)
cases[[length(cases) + 1]] <- make_case("trial3_ri_ar1_reml", "trial3.csv",
  "CHG ~ BASE + TRT * AVISIT + (1 | USUBJID) + ar1(AVISIT | USUBJID)", "REML", res,
  list(factor_levels = list(TRT = levels(trial3$TRT), AVISIT = TRIAL3_VISITS),
       rows_used = "rows of trial3.csv with CHG observed"))

## ---------------------------------------------------------------------------------------
## 7. Write JSON and print a summary
## ---------------------------------------------------------------------------------------
pkg_versions <- vapply(PKGS, function(p) as.character(packageVersion(p)), "")
out <- list(
  source = paste0(R.version.string, "; ", paste(names(pkg_versions), pkg_versions,
                                               collapse = ", ")),
  generated = as.character(Sys.Date()),
  seed_irregular = SEED_IRREGULAR,
  data_files = list(
    sleepstudy.csv = paste(
      'sleep <- read.csv("sleepstudy.csv", colClasses = c(Subject = "character"));',
      'sleep$Subject <- factor(sleep$Subject)'),
    orthodont.csv = paste(
      'ortho <- read.csv("orthodont.csv", stringsAsFactors = FALSE);',
      'ortho$Subject <- factor(ortho$Subject); ortho$Sex <- factor(ortho$Sex)'),
    irregular.csv = paste(
      'irr <- read.csv("irregular.csv", stringsAsFactors = FALSE);',
      'irr$ID <- factor(irr$ID); irr$ARM <- factor(irr$ARM)'),
    trial3.csv = paste(
      'trial3 <- read.csv("trial3.csv", stringsAsFactors = FALSE);',
      'trial3 <- trial3[!is.na(trial3$CHG), ]; trial3$TRT <- factor(trial3$TRT);',
      'trial3$AVISIT <- factor(trial3$AVISIT, levels = c("W1", "W2", "W4", "W8", "W12", "W16"));',
      'trial3$USUBJID <- factor(trial3$USUBJID)')),
  notes = list(
    general = paste(
      "loglik is logLik(fit) of the polished nlme::lme fit with all constants (SAS",
      "-2 Res Log Likelihood = -2 * loglik for REML). Factor levels are alphabetical (first",
      "level = reference, R coefficient names): Sex Female/Male, ARM ACT/PBO, TRT",
      "HIGH/LOW/PBO; trial3 AVISIT W1..W16. trial3 cases use the rows with CHG observed."),
    G = paste(
      "G.matrix is getVarCov(fit) (natural variance/covariance scale, rows/columns in",
      "G.terms order); residual.sigma2 = fit$sigma^2. The marginal covariance of subject i",
      "is Z_i G Z_i' + sigma2 * R_i with R_i = I, rho^|VISN_j - VISN_k| (AR(1)) or",
      "rho^|TIME_j - TIME_k| = exp(-|dt| / range) (corExp, no nugget)."),
    fixed_effects = paste(
      "estimate / se from the lme fit (vcov(fit) = (X'V^-1X)^-1 at the estimates); df_lme",
      "are nlme's containment-type df (not SAS's defaults)."),
    blups = paste(
      "blups are ranef(fit) of the lme fit (long format). blup_variances are computed by",
      "this script at the lme estimates: cond_var = G - G Z'V^-1 Z G (lme4's postVar",
      "definition, beta treated as known; checked against lme4 in lmer.checks.",
      "postVar_max_rel_diff_vs_direct at lmer's own estimates) and pev = cond_var +",
      "G Z'V^-1 X (X'V^-1X)^-1 X'V^-1 Z G (prediction error variance from the inverse of",
      "the mixed-model equations: SAS 'Std Err Pred' in the RANDOM SOLUTION table)."),
    lmer = paste(
      "lmer sections: same model fitted with lme4 (REML, tight nloptwrap tolerances).",
      "coef_satterthwaite / coef_kenward_roger are lmerTest summary tables (KR SEs use",
      "pbkrtest::vcovAdj); kr_pbkrtest holds pbkrtest's adjusted covariance, adjusted and",
      "unadjusted SEs and get_Lb_ddf df per coefficient. emmeans/emtrends contrasts are",
      "unadjusted; lower/upper are 95% limits. ranef_condvar is ranef(fit, condVar = TRUE)."),
    checks = paste(
      "checks: loglik_direct_minus_lme (independent (RE)ML code), marginal V vs getVarCov,",
      "BLUPs vs ranef, and the distance from the optimum in the natural parameters theta",
      "(G entries vech, sigma2, rho): gradient of the log-likelihood and one Newton step",
      "with the Hessian (numDeriv, Richardson extrapolation): newton_max_rel_step,",
      "newton_max_step_in_se (step / asymptotic SE from the Hessian), newton_loglik_gain;",
      "theta_se / theta_corr are the asymptotic SEs / correlations of theta. The",
      "irregular_exp cases also record refits from corExp starting ranges 0.2 and 5."),
    irregular = paste(
      "irregular.csv: simulated (seed_irregular) 90 subjects, ARM PBO/ACT 45 each, BASE",
      "~ N(50, sd 8), 3 + Binomial(7, 0.7 ACT / 0.45 PBO) visits at TIME 0 then gaps",
      "U(0.3, 1.2) years (2 dp); y = 50 + 0.5 (BASE - 50) - (1.5 + 0.8 ACT) TIME +",
      "b0 + b1 TIME + e, G = [[16, -2], [-2, 1.5]], Cov(e) = 2.5^2 0.6^|dt|; y to 3 dp.")),
  cases = cases)
write_json(out, "random_refs.json", digits = NA, auto_unbox = TRUE, pretty = TRUE,
           null = "null", na = "null")

cat(summary_lines, sep = "\n")
cat(sprintf("\npackages: %s\n", paste(names(pkg_versions), pkg_versions, collapse = ", ")))
cat(sprintf("run time: %.1f s\n", as.numeric(difftime(Sys.time(), t_start, units = "secs"))))
