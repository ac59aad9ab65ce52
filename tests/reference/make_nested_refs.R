# make_nested_refs.R -- reference values for trialmlm's nested random effects (subjects
# within sites: lme4 syntax (1 | SITE) + (1 | USUBJID), (1 | SITE) + (1 + WEEK | USUBJID))
# from R nlme::lme (multilevel random = ~ 1 | SITE/USUBJID) and lme4/lmerTest, with
# Kenward-Roger inference from pbkrtest (+ emmeans) and cluster-robust (sandwich)
# covariances with sites as clusters from clubSandwich.
#
# Run from inside tests/reference/:   Rscript make_nested_refs.R
# Needs R with nlme, lme4, lmerTest, pbkrtest, clubSandwich, emmeans, numDeriv, jsonlite
# (Debian: r-cran-nlme r-cran-lme4 r-cran-lmertest r-cran-pbkrtest r-cran-clubsandwich
# r-cran-emmeans r-cran-numderiv r-cran-jsonlite).
#
# Writes (all in the current directory):
#   nested.csv         simulated multi-centre two-arm trial: 12 sites, 6-10 subjects per site
#                      (USUBJID unique across sites), ARM randomised within site, 3-6 visits
#                      at WEEK 0, 2, 4, 8, 12, 16 (monotone dropout); site and subject
#                      random intercepts and a subject random slope (SD_SLOPE)
#   nested_refs.json   list `cases`, one entry per fitted lme model:
#     nested_ri_reml     lme(Y ~ ARM * WEEK, random = ~ 1 | SITE/USUBJID)  (+ lmer / lmerTest)
#                        (+ pbkrtest / emmeans Kenward-Roger, clubSandwich CR0/CR2/CR3 by SITE)
#     nested_ri_ml       the same with method = "ML"
#     nested_slope_reml  random = list(SITE = ~ 1, USUBJID = ~ 1 + WEEK)    (+ lmer / lmerTest)
#                        (+ pbkrtest / emmeans Kenward-Roger, clubSandwich CR0/CR2/CR3 by SITE)
#     nested_ar1_reml    random = ~ 1 | SITE/USUBJID, correlation = corAR1(form = ~ VISN | SITE/USUBJID)
#                        (VISN = visit number 1..6 of WEEK; trialmlm: ar1(WEEK | USUBJID))
#                        (+ clubSandwich CR0/CR2/CR3 by SITE)
#     crossed_ri_reml    lmer(Y ~ ARM * WEEK + (1 | RATER) + (1 | USUBJID)) on crossed.csv (+ lmerTest):
#                        raters crossed with subjects (no lme fit; + pbkrtest / emmeans
#                        Kenward-Roger)
#   crossed.csv        nested.csv plus RATER (R1..R6, drawn per row) and Y + rater effect
#                      (see simulate_crossed)
#
# Every fit is made on the data as read back from nested.csv.  Each lme fit is followed by a
# polishing lme() call started at its estimates (BFGS at reltol = 1e-15 with finite-
# difference steps 1e-5, as in make_random_refs.R); the reported values come from the
# polished fit.  For every case the script also
#   * recomputes the (RE)ML log-likelihood with an independent implementation (one block per
#     site: V_s = sigma_site^2 J + blockdiag_i(Z_i G Z_i') + sigma^2 I) from the reported
#     site variance, subject G and sigma^2,
#   * recomputes the BLUPs of both levels (sigma_site^2 1' V_s^-1 r_s and G Z_i' V_s^-1 r_s)
#     and compares them with ranef(),
#   * evaluates the numerical gradient and one Newton step of that log-likelihood in the
#     natural parameters (site variance, G entries, sigma^2),
# and stops on any warning, non-convergence or failed check.  lmer fits use tight nloptwrap
# tolerances; their deviance gradient in theta is recorded and the lmer log-likelihood is
# compared with lme's.
#
# Deterministic: the only random numbers are those of the nested.csv simulation.

t_start <- Sys.time()
suppressPackageStartupMessages({
  library(nlme)
  library(lme4)
  library(lmerTest)
  library(numDeriv)
  library(jsonlite)
  library(pbkrtest)
  library(clubSandwich)
  library(emmeans)
})
PKGS <- c("nlme", "lme4", "lmerTest", "pbkrtest", "clubSandwich", "emmeans", "numDeriv", "jsonlite",
          "Matrix")
SEED_NESTED <- 20261124
# Subject random-slope SD (per week).  The brief's generating model has none (SD_SLOPE = 0
# reproduces it exactly: no extra random numbers are drawn), but then the REML fit of
# (1 + WEEK | USUBJID) lies on the boundary (lmer: singular G with correlation -1; lme:
# nlminb "singular convergence" and a different log-likelihood), which is no usable
# reference.  With 0.2 the slope model has an interior optimum.
SD_SLOPE <- 0.2
WEEKS <- c(0, 2, 4, 8, 12, 16)

no_warn <- function(expr) withCallingHandlers(expr, warning = function(w)
  stop("warning: ", conditionMessage(w)))
deparse1line <- function(x) paste(deparse(x, width.cutoff = 500L), collapse = " ")

## ---------------------------------------------------------------------------------------
## 1. Data
## ---------------------------------------------------------------------------------------
# nested.csv: sites S01..S12; per site (in order) the number of subjects n_s ~ U{6..10},
# arms sample(rep(c("PBO", "ACT"), length.out = n_s)) (balanced up to one, shuffled), the
# site effect u_s ~ N(0, 2^2); per subject (in order) the number of visits k ~ U{3..6}
# (visits at the first k of WEEKS), the subject effect v ~ N(0, 3^2) and k residuals
# e ~ N(0, 1.5^2), then (if SD_SLOPE > 0) the subject slope w ~ N(0, SD_SLOPE^2);
# Y = 20 - (0.3 + 0.2 ACT) WEEK + u_s + v + w WEEK + e, rounded to 3 dp.
simulate_nested <- function() {
  set.seed(SEED_NESTED)
  rows <- list()
  for (s in 1:12) {
    site <- sprintf("S%02d", s)
    n_s <- sample(6:10, 1)
    arm <- sample(rep(c("PBO", "ACT"), length.out = n_s))
    u <- rnorm(1, 0, 2)
    for (i in seq_len(n_s)) {
      k <- sample(3:6, 1)
      week <- WEEKS[seq_len(k)]
      v <- rnorm(1, 0, 3)
      e <- rnorm(k, 0, 1.5)
      w <- if (SD_SLOPE > 0) rnorm(1, 0, SD_SLOPE) else 0
      y <- 20 - (0.3 + 0.2 * (arm[i] == "ACT")) * week + u + v + w * week + e
      rows[[length(rows) + 1]] <- data.frame(
        SITE = site, USUBJID = sprintf("%s-%02d", site, i), ARM = arm[i], WEEK = week,
        Y = round(y, 3), stringsAsFactors = FALSE)
    }
  }
  do.call(rbind, rows)
}
write.csv(simulate_nested(), "nested.csv", row.names = FALSE)

# read back exactly what a user of the CSV file gets; factor levels alphabetical (ARM: ACT
# is the reference, coefficient ARMPBO)
nested <- read.csv("nested.csv", stringsAsFactors = FALSE)
nested$SITE <- factor(nested$SITE)
nested$USUBJID <- factor(nested$USUBJID)
nested$ARM <- factor(nested$ARM)
stopifnot(!anyNA(nested), identical(levels(nested$ARM), c("ACT", "PBO")),
          all(tapply(nested$SITE, nested$USUBJID, function(x) length(unique(x))) == 1))

## ---------------------------------------------------------------------------------------
## 2. lme fitting with polishing (as in make_random_refs.R)
## ---------------------------------------------------------------------------------------
CONTROL <- quote(lmeControl(maxIter = 500, msMaxIter = 500, niterEM = 50, msMaxEval = 2000))
NDEPS <- 1e-5
POLISH <- quote(lmeControl(maxIter = 500, msMaxIter = 5000, niterEM = 0, msTol = 1e-15,
                           opt = "optim", optimMethod = "BFGS"))

run_lme <- function(tag, fixed, data_name, random, method = "REML", control = CONTROL,
                    correlation = NULL) {
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
  cl2$control$ndeps <- call("rep", NDEPS, length(coef(fit1$modelStruct)))
  fit <- no_warn(eval(cl2, globalenv()))
  if (as.numeric(logLik(fit)) < as.numeric(logLik(fit1)) - 1e-9) stop("polish lost likelihood")
  list(fit = fit, fit1 = fit1, r_call = deparse1line(cl), r_polish_call = deparse1line(cl2),
       loglik_first_fit = as.numeric(logLik(fit1)))
}

## ---------------------------------------------------------------------------------------
## 3. Independent (RE)ML log-likelihood and BLUPs of the two-level model
## ---------------------------------------------------------------------------------------
# Natural parameters theta = (site variance, vech(G) column-major, sigma^2).
# One block per site: V_s = tau2 1 1' + blockdiag_i(Z_i G Z_i') + sigma2 I.
make_site_blocks <- function(dat, fixed, zterms) {
  X <- model.matrix(fixed, dat)
  y <- model.response(model.frame(fixed, dat))
  Z <- model.matrix(zterms, dat)
  sites <- as.character(dat$SITE)
  lapply(split(seq_len(nrow(X)), factor(sites, levels = unique(sites))), function(ii) {
    subj <- as.character(dat$USUBJID[ii])
    list(site = sites[ii[1]], subj = subj, X = X[ii, , drop = FALSE], y = y[ii],
         Z = Z[ii, , drop = FALSE], visn = match(dat$WEEK[ii], WEEKS))
  })
}

# With AR(1) residuals (ar1 = TRUE) theta ends with (sigma2, rho) and the residual of a
# subject is sigma2 * rho^|VISN_j - VISN_k|.
theta_parts <- function(theta, q, ar1 = FALSE) {
  G <- matrix(0, q, q)
  G[lower.tri(G, diag = TRUE)] <- theta[1 + seq_len(q * (q + 1) / 2)]
  G[upper.tri(G)] <- t(G)[upper.tri(G)]
  nq <- 1 + q * (q + 1) / 2
  list(tau2 = theta[1], G = G, sigma2 = theta[nq + 1], rho = if (ar1) theta[nq + 2] else 0)
}

site_V <- function(b, pp) {
  n <- length(b$y)
  V <- matrix(pp$tau2, n, n)
  for (s in unique(b$subj)) {
    jj <- which(b$subj == s)
    Zj <- b$Z[jj, , drop = FALSE]
    R <- pp$sigma2 * pp$rho^abs(outer(b$visn[jj], b$visn[jj], "-"))
    V[jj, jj] <- V[jj, jj] + Zj %*% pp$G %*% t(Zj) + R
  }
  V
}

nested_core <- function(theta, blocks, reml, ar1 = FALSE) {
  q <- ncol(blocks[[1]]$Z); p <- ncol(blocks[[1]]$X)
  pp <- theta_parts(theta, q, ar1)
  XtX <- matrix(0, p, p); Xty <- numeric(p); yty <- 0; logdet <- 0; N <- 0
  for (b in blocks) {
    U <- chol(site_V(b, pp))
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
  list(ll = ll, beta = beta, parts = pp)
}

# BLUPs: site u_s = tau2 1' V_s^-1 r_s; subject b_i = G Z_i' [V_s^-1 r_s]_i
nested_blups <- function(theta, blocks, reml, ar1 = FALSE) {
  st <- nested_core(theta, blocks, reml, ar1)
  pp <- st$parts
  site <- numeric(); subj <- list()
  for (b in blocks) {
    w <- solve(site_V(b, pp), b$y - drop(b$X %*% st$beta))
    site[b$site] <- pp$tau2 * sum(w)
    for (s in unique(b$subj)) {
      jj <- which(b$subj == s)
      subj[[s]] <- drop(pp$G %*% crossprod(b$Z[jj, , drop = FALSE], w[jj]))
    }
  }
  list(site = site, subj = do.call(rbind, subj))
}

newton_check <- function(theta, f) {
  g <- numDeriv::grad(f, theta)
  H <- numDeriv::hessian(f, theta)
  H <- (H + t(H)) / 2
  step <- -solve(H, g)
  A <- solve(-H)
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
lme_case <- function(tag, fixed, random, zterms, method, correlation = NULL) {
  r <- run_lme(tag, fixed, "nested", random, method, correlation = correlation)
  fit <- r$fit
  reml <- method == "REML"
  ar1 <- !is.null(correlation)
  rho <- if (ar1) unname(coef(fit$modelStruct$corStruct, unconstrained = FALSE)) else NULL
  sigma2 <- fit$sigma^2
  # relative pdMatrix * sigma^2 = variance components on the natural scale
  pdm <- pdMatrix(fit$modelStruct$reStruct)
  stopifnot(setequal(names(pdm), c("SITE", "USUBJID")))
  tau2 <- unname(pdm$SITE[1, 1] * sigma2)
  G <- pdm$USUBJID * sigma2
  terms <- colnames(G)
  attributes(G) <- list(dim = dim(G))
  q <- nrow(G)
  theta <- c(tau2, G[lower.tri(G, diag = TRUE)], sigma2, rho)
  ij <- which(lower.tri(G, diag = TRUE), arr.ind = TRUE)
  theta_names <- c("site_variance", sprintf("G[%s,%s]", terms[ij[, 1]], terms[ij[, 2]]),
                   "sigma2", if (ar1) "rho")
  # VarCorr check (printed character table: compare numerically)
  vc <- VarCorr(fit)
  vc_var <- suppressWarnings(as.numeric(vc[, "Variance"]))
  d_vc <- max(abs(sort(vc_var[!is.na(vc_var)]) - sort(c(tau2, diag(G), sigma2))) /
                sort(c(tau2, diag(G), sigma2)))
  blocks <- make_site_blocks(nested, fixed, zterms)
  stopifnot(identical(colnames(blocks[[1]]$X), names(fixef(fit))),
            identical(colnames(blocks[[1]]$Z), terms))
  ll_fun <- function(th) nested_core(th, blocks, reml, ar1)$ll
  ll <- as.numeric(logLik(fit))
  ll_direct <- ll_fun(theta)
  # BLUPs vs ranef()
  re <- ranef(fit)
  re_site <- re$SITE
  re_subj <- re$USUBJID
  subj_ids <- sub("^.*/", "", rownames(re_subj))
  stopifnot(identical(sub("/.*$", "", rownames(re_subj)),
                      as.character(nested$SITE[match(subj_ids, nested$USUBJID)])))
  bd <- nested_blups(theta, blocks, reml, ar1)
  d_blup_site <- max(abs(re_site[names(bd$site), "(Intercept)"] - bd$site)) / max(abs(bd$site))
  rs <- as.matrix(re_subj[, terms, drop = FALSE]); rownames(rs) <- subj_ids
  d_blup_subj <- max(abs(rs[rownames(bd$subj), , drop = FALSE] - bd$subj)) / max(abs(bd$subj))
  beta_direct <- nested_core(theta, blocks, reml, ar1)$beta
  d_beta <- max(abs(beta_direct - fixef(fit)) / sqrt(diag(vcov(fit))))
  nc <- newton_check(theta, ll_fun)
  if (abs(ll_direct - ll) > 1e-7) stop(tag, ": direct loglik differs: ", ll_direct - ll)
  if (d_vc > 1e-4) stop(tag, ": VarCorr differs: ", d_vc)   # VarCorr prints ~7 digits
  if (d_blup_site > 1e-6 || d_blup_subj > 1e-6) stop(tag, ": BLUPs differ")
  if (nc$newton_max_rel_step > 1e-4) stop(tag, ": not converged: Newton step ",
                                          nc$newton_max_rel_step)
  tt <- summary(fit)$tTable
  fixed_tab <- data.frame(name = rownames(tt), estimate = tt[, "Value"],
                          se = tt[, "Std.Error"], df_lme = tt[, "DF"], t = tt[, "t-value"],
                          p = tt[, "p-value"], row.names = NULL, stringsAsFactors = FALSE)
  blups_site <- data.frame(SITE = rownames(re_site), term = "(Intercept)",
                           estimate = re_site[, "(Intercept)"], stringsAsFactors = FALSE)
  blups_subj <- data.frame(USUBJID = rep(subj_ids, each = q), term = rep(terms, times = nrow(rs)),
                           estimate = as.vector(t(rs)), stringsAsFactors = FALSE)
  list(fit = fit, r = r, theta = theta, blocks = blocks, tau2 = tau2, G = G, terms = terms,
       out = list(
         loglik = ll, n_obs = fit$dims$N,
         n_sites = unname(fit$dims$ngrps["SITE"]),
         n_subjects = unname(fit$dims$ngrps["USUBJID"]),
         n_beta = length(fixef(fit)),
         variance_components = c(list(
           SITE = list(terms = I("(Intercept)"), variance = tau2),
           USUBJID = list(terms = I(terms),
                          type = if (q == 1) "intercept variance" else "unstructured",
                          matrix = G),
           sigma2 = sigma2), if (ar1) list(ar1_rho = rho)),
         fixed_effects = fixed_tab,
         blups = list(SITE = blups_site, USUBJID = blups_subj),
         checks = c(list(
           polish_loglik_gain = ll - r$loglik_first_fit,
           loglik_direct_minus_lme = ll_direct - ll,
           varcorr_max_rel_diff = d_vc,
           blup_site_max_rel_diff_vs_ranef = d_blup_site,
           blup_subject_max_rel_diff_vs_ranef = d_blup_subj,
           beta_gls_at_estimate_max_diff_in_se = d_beta,
           theta = I(theta), theta_names = I(theta_names)),
           nc)))
}

## ---------------------------------------------------------------------------------------
## 5. lmer / lmerTest
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

## ---------------------------------------------------------------------------------------
## 5a. Kenward-Roger (pbkrtest, emmeans) for an lmer fit
## ---------------------------------------------------------------------------------------
# pbkrtest uses the EXPECTED information W = 2 [tr(P V_h P V_j)]^-1 and parameters in which
# V is linear (variances and covariances: no second-derivative term R_hj).
#   vcov_adjusted   pbkrtest::vcovAdj(fit) (Phi_A), coefficient names in `names`
#   coef            per coefficient: Phi_A SE and pbkrtest::get_Lb_ddf(fit, unit row)
#   coef_lmertest   summary(fit, ddf = "Kenward-Roger")$coefficients (lmerTest -> pbkrtest)
#   joint           KRmodcomp(fit, L) for L = unit rows of `coefficients` (F after scaling,
#                   ddf, F.scaling; FstatU = F before scaling)
#   anova_type3     anova(fit, type = 3, ddf = "Kenward-Roger") (lmerTest)
#   emmeans         emmeans(fit, ~ ARM, at = list(WEEK = 16)) and at the mean WEEK, with
#                   trt.vs.ctrl differences (PBO - ACT), and emtrends(~ ARM, var = "WEEK"),
#                   all with lmer.df = "kenward-roger"
JOINT <- list(arm = c("ARMPBO", "ARMPBO:WEEK"), slopes = c("WEEK", "ARMPBO:WEEK"),
              all_but_intercept = c("ARMPBO", "WEEK", "ARMPBO:WEEK"))

emm_rows <- function(em) {
  s <- as.data.frame(summary(em, infer = c(TRUE, TRUE), adjust = "none"))
  est <- intersect(c("emmean", "estimate"), names(s))
  est <- c(est, grep("\\.trend$", names(s), value = TRUE))[1]
  key <- setdiff(names(s), c(est, "SE", "df", "t.ratio", "z.ratio", "p.value", "WEEK",
                             attr(s, "clNames")))
  out <- s[, key, drop = FALSE]
  out[] <- lapply(out, as.character)
  cbind(out, estimate = s[[est]], se = s$SE, df = s$df, t = s$t.ratio, p = s$p.value,
        lower = s[[attr(s, "clNames")[1]]], upper = s[[attr(s, "clNames")[2]]])
}

kr_section <- function(fit, fit_name) {
  nm <- names(fixef(fit))
  p <- length(nm)
  Va <- as.matrix(pbkrtest::vcovAdj(fit))
  attributes(Va) <- list(dim = dim(Va))
  df <- vapply(seq_len(p), function(j)
    pbkrtest::get_Lb_ddf(fit, matrix(diag(p)[j, ], nrow = 1)), numeric(1))
  joint <- lapply(names(JOINT), function(k) {
    L <- diag(p)[match(JOINT[[k]], nm), , drop = FALSE]
    st <- pbkrtest::KRmodcomp(fit, L)$stats
    list(name = k, coefficients = I(JOINT[[k]]), F = st$Fstat, F_unscaled = st$FstatU,
         num_df = st$ndf, den_df = st$ddf, F_scaling = st$F.scaling, p = st$p.value)
  })
  em_calls <- list(
    week16 = sprintf('emmeans(%s, ~ ARM, at = list(WEEK = 16), lmer.df = "kenward-roger")', fit_name),
    mean_week = sprintf('emmeans(%s, ~ ARM, lmer.df = "kenward-roger")', fit_name),
    differences = 'contrast(em, "trt.vs.ctrl", ref = "ACT", adjust = "none")',
    slopes = sprintf('emtrends(%s, ~ ARM, var = "WEEK", lmer.df = "kenward-roger")', fit_name))
  ev <- function(cl) suppressMessages(eval(parse(text = cl)[[1]], globalenv()))
  em16 <- ev(em_calls$week16)
  emm <- ev(em_calls$mean_week)
  et <- ev(em_calls$slopes)
  diff <- function(em) emm_rows(contrast(em, "trt.vs.ctrl", ref = "ACT", adjust = "none"))
  a <- anova(fit, type = 3, ddf = "Kenward-Roger")
  list(
    r_calls = c(list(vcov_adjusted = sprintf("pbkrtest::vcovAdj(%s)", fit_name),
                     df = sprintf("pbkrtest::get_Lb_ddf(%s, L) for each unit row L", fit_name),
                     coef_lmertest = sprintf('summary(%s, ddf = "Kenward-Roger")$coefficients', fit_name),
                     joint = sprintf("pbkrtest::KRmodcomp(%s, L)$stats, L = unit rows of coefficients",
                                     fit_name),
                     anova_type3 = sprintf('anova(%s, type = 3, ddf = "Kenward-Roger")', fit_name)),
                em_calls),
    names = I(nm), vcov_adjusted = Va,
    coef = data.frame(name = nm, estimate = unname(fixef(fit)), se = sqrt(diag(Va)), df = df,
                      stringsAsFactors = FALSE),
    coef_lmertest = coef_rows(fit, "Kenward-Roger"),
    joint = joint,
    anova_type3 = data.frame(term = rownames(a), num_df = a$NumDF, den_df = a$DenDF,
                             F = a[["F value"]], p = a[["Pr(>F)"]], stringsAsFactors = FALSE),
    emmeans = list(week16 = emm_rows(em16), week16_differences = diff(em16),
                   mean_week = emm_rows(emm), mean_week_differences = diff(emm),
                   mean_week_value = mean(model.frame(fit)$WEEK),
                   slopes = emm_rows(et)),
    checks = list(
      lmertest_se_max_rel_diff_vs_vcovAdj = max(abs(coef_rows(fit, "Kenward-Roger")$se /
                                                      sqrt(diag(Va)) - 1)),
      lmertest_df_max_rel_diff_vs_get_Lb_ddf = max(abs(coef_rows(fit, "Kenward-Roger")$df / df - 1))))
}

## ---------------------------------------------------------------------------------------
## 5b. Cluster-robust covariance (clubSandwich) for an lme fit, sites as clusters
## ---------------------------------------------------------------------------------------
# CR0 is also computed by hand from the independent site blocks of section 3 (bread
# (sum_s X_s'V_s^-1X_s)^-1, meat sum_s X_s'V_s^-1 r_s r_s'V_s^-1X_s) as a check of the
# cluster ordering clubSandwich uses.
sandwich_section <- function(res, fit_name, ar1 = FALSE) {
  fit <- res$fit
  pp <- theta_parts(res$theta, ncol(res$blocks[[1]]$Z), ar1)
  p <- length(fixef(fit))
  B <- matrix(0, p, p); M <- matrix(0, p, p)
  for (b in res$blocks) {
    Vi <- solve(site_V(b, pp))
    u <- crossprod(b$X, Vi %*% (b$y - b$X %*% fixef(fit)))
    M <- M + tcrossprod(u)
    B <- B + crossprod(b$X, Vi %*% b$X)
  }
  cr0_hand <- solve(B) %*% M %*% solve(B)
  out <- list(); calls <- list()
  for (type in c("CR0", "CR2", "CR3")) {
    cl <- sprintf('vcovCR(%s, cluster = nested$SITE, type = "%s")', fit_name, type)
    V <- eval(parse(text = cl)[[1]], globalenv())
    Vm <- unclass(V); attributes(Vm) <- list(dim = dim(V))
    calls[[type]] <- cl
    out[[type]] <- list(names = I(colnames(V)), matrix = Vm, se = I(unname(sqrt(diag(Vm)))))
  }
  c(list(r_calls = calls), out,
    list(checks = list(cr0_max_rel_diff_vs_hand = max(abs(out$CR0$matrix - cr0_hand)) /
                         max(abs(cr0_hand)),
                       n_clusters = nlevels(nested$SITE))))
}

lmer_section <- function(formula, res, fit_name) {
  lm <- run_lmer(formula, "nested")
  fit <- lm$fit
  assign(fit_name, fit, envir = globalenv())
  if (isSingular(fit)) stop(fit_name, ": singular fit")
  devfun <- update(fit, devFunOnly = TRUE)
  th <- getME(fit, "theta")
  vc <- VarCorr(fit)
  tau2 <- unname(vc$SITE[1, 1])
  G <- as.matrix(vc$USUBJID); attributes(G) <- list(dim = dim(G))
  sigma2 <- sigma(fit)^2
  theta_lmer <- c(tau2, G[lower.tri(G, diag = TRUE)], sigma2)
  ll <- as.numeric(logLik(fit))
  cf <- coef_rows(fit, "Satterthwaite")
  list(
    r_calls = list(fit = lm$r_call,
                   coef_satterthwaite = sprintf('summary(%s, ddf = "Satterthwaite")$coefficients',
                                                fit_name)),
    loglik = ll,
    variance_components = list(SITE = tau2, USUBJID = list(terms = I(colnames(vc$USUBJID)),
                                                           matrix = G), sigma2 = sigma2),
    coef_satterthwaite = cf,
    kenward_roger = kr_section(fit, fit_name),
    checks = list(
      loglik_lmer_minus_lme = ll - res$out$loglik,
      loglik_direct_at_lmer_estimates_minus_lmer =
        nested_core(theta_lmer, res$blocks, TRUE)$ll - ll,
      theta_natural_max_rel_diff_vs_lme = max(abs(theta_lmer - res$theta) / abs(res$theta)),
      fixef_max_abs_diff_vs_lme = max(abs(fixef(fit) - fixef(res$fit))),
      se_max_rel_diff_vs_lme = max(abs(cf$se / res$out$fixed_effects$se - 1)),
      theta_relative_cholesky = I(unname(th)),
      optimizer_message = fit@optinfo$message,
      deviance_gradient_at_theta = I(numDeriv::grad(devfun, th))))
}

## ---------------------------------------------------------------------------------------
## 6. Cases
## ---------------------------------------------------------------------------------------
cases <- list()
summary_lines <- character()
add_line <- function(name, res) {
  summary_lines <<- c(summary_lines, sprintf(
    "%-18s loglik %.10f  max|grad| %.1e  Newton rel step %.1e  gain %.1e  polish gain %.1e",
    name, res$out$loglik, res$out$checks$max_abs_gradient,
    res$out$checks$newton_max_rel_step, res$out$checks$newton_loglik_gain,
    res$out$checks$polish_loglik_gain))
}
add_lmer_line <- function(name, lm) {
  summary_lines <<- c(summary_lines, sprintf(
    "  lmer %-13s loglik %.10f (lmer - lme %.1e), |dev grad| %.1e", name, lm$loglik,
    lm$checks$loglik_lmer_minus_lme, max(abs(lm$checks$deviance_gradient_at_theta))))
}
make_case <- function(name, formula, method, res, extra = list()) {
  c(list(name = name, data = "nested.csv", formula = formula, method = method,
         r_calls = list(fit = res$r$r_call, polish = res$r$r_polish_call)),
    res$out[setdiff(names(res$out), "checks")],
    list(factor_levels = list(ARM = levels(nested$ARM))),
    extra, list(checks = res$out$checks))
}

### 6.1 random intercepts for site and subject within site, REML and ML -----------------
for (m in c("REML", "ML")) {
  nm <- paste0("nested_ri_", tolower(m))
  res <- lme_case(nm, Y ~ ARM * WEEK, quote(~ 1 | SITE/USUBJID), ~ 1, m)
  add_line(nm, res)
  extra <- list()
  if (m == "REML") {
    lm <- lmer_section(Y ~ ARM * WEEK + (1 | SITE) + (1 | USUBJID), res, "fit_lmer_ri")
    add_lmer_line(nm, lm)
    extra$lmer <- lm
    assign("fit_lme_ri", res$fit, envir = globalenv())
    extra$sandwich <- sandwich_section(res, "fit_lme_ri")
  }
  cases[[length(cases) + 1]] <- make_case(nm, "Y ~ ARM * WEEK + (1 | SITE) + (1 | USUBJID)",
                                          m, res, extra)
}

### 6.2 site intercept, subject intercept + slope (unstructured), REML ------------------
nm <- "nested_slope_reml"
res <- lme_case(nm, Y ~ ARM * WEEK, quote(list(SITE = ~ 1, USUBJID = ~ 1 + WEEK)),
                ~ 1 + WEEK, "REML")
add_line(nm, res)
lm <- lmer_section(Y ~ ARM * WEEK + (1 | SITE) + (1 + WEEK | USUBJID), res, "fit_lmer_slope")
add_lmer_line(nm, lm)
assign("fit_lme_slope", res$fit, envir = globalenv())
cases[[length(cases) + 1]] <- make_case(nm,
  "Y ~ ARM * WEEK + (1 | SITE) + (1 + WEEK | USUBJID)", "REML", res,
  list(lmer = lm, sandwich = sandwich_section(res, "fit_lme_slope")))

### 6.3 site and subject intercepts with AR(1) residuals in visit number, REML -------------
nested$VISN <- match(nested$WEEK, WEEKS)
nm <- "nested_ar1_reml"
res <- lme_case(nm, Y ~ ARM * WEEK, quote(~ 1 | SITE/USUBJID), ~ 1, "REML",
                correlation = quote(corAR1(form = ~ VISN | SITE/USUBJID)))
add_line(nm, res)
assign("fit_lme_ar1", res$fit, envir = globalenv())
cases[[length(cases) + 1]] <- make_case(nm,
  "Y ~ ARM * WEEK + (1 | SITE) + (1 | USUBJID) + ar1(WEEK | USUBJID)", "REML", res,
  list(sandwich = sandwich_section(res, "fit_lme_ar1", ar1 = TRUE)))

### 6.4 raters crossed with subjects (lmer only) ------------------------------------------
# crossed.csv: nested.csv plus RATER ~ U{R1..R6} per row and Y + rater effect, rater effects
# ~ N(0, 1.5^2) (drawn first, in rater order), then the raters of the rows (set.seed
# SEED_CROSSED); Y to 3 dp.  Subjects meet several raters: crossed, not nested.
SEED_CROSSED <- 20261125
simulate_crossed <- function() {
  set.seed(SEED_CROSSED)
  d <- read.csv("nested.csv", stringsAsFactors = FALSE)
  effect <- rnorm(6, 0, 1.5)
  k <- sample(1:6, nrow(d), replace = TRUE)
  d$RATER <- sprintf("R%d", k)
  d$Y <- round(d$Y + effect[k], 3)
  d
}
write.csv(simulate_crossed(), "crossed.csv", row.names = FALSE)
crossed <- read.csv("crossed.csv", stringsAsFactors = FALSE)
crossed$ARM <- factor(crossed$ARM)
crossed$RATER <- factor(crossed$RATER)
crossed$USUBJID <- factor(crossed$USUBJID)
stopifnot(any(tapply(crossed$RATER, crossed$USUBJID, function(x) length(unique(x))) > 1))

# independent dense (RE)ML log-likelihood: V = tau_r Z_r Z_r' + tau_s Z_s Z_s' + sigma2 I
crossed_ll <- function(theta, reml = TRUE) {
  X <- model.matrix(~ ARM * WEEK, crossed)
  Zr <- model.matrix(~ 0 + RATER, crossed)
  Zs <- model.matrix(~ 0 + USUBJID, crossed)
  V <- theta[1] * tcrossprod(Zr) + theta[2] * tcrossprod(Zs) + theta[3] * diag(nrow(X))
  U <- chol(V)
  Xs <- backsolve(U, X, transpose = TRUE); ys <- backsolve(U, crossed$Y, transpose = TRUE)
  A <- crossprod(Xs); beta <- solve(A, crossprod(Xs, ys))
  rss <- sum((ys - Xs %*% beta)^2); n <- nrow(X); p <- ncol(X)
  -0.5 * ((n - p) * log(2 * pi) + 2 * sum(log(diag(U))) + as.numeric(determinant(A)$modulus) + rss)
}
lmc <- run_lmer(Y ~ ARM * WEEK + (1 | RATER) + (1 | USUBJID), "crossed")
fit_lmer_crossed <- lmc$fit
if (isSingular(fit_lmer_crossed)) stop("crossed: singular fit")
vc <- VarCorr(fit_lmer_crossed)
theta_c <- c(unname(vc$RATER[1, 1]), unname(vc$USUBJID[1, 1]), sigma(fit_lmer_crossed)^2)
ll_c <- as.numeric(logLik(fit_lmer_crossed))
if (abs(crossed_ll(theta_c) - ll_c) > 1e-7) stop("crossed: direct loglik differs")
nc_c <- newton_check(theta_c, crossed_ll)
if (nc_c$newton_max_rel_step > 1e-4) stop("crossed: not converged")
re_c <- ranef(fit_lmer_crossed)
cases[[length(cases) + 1]] <- list(
  name = "crossed_ri_reml", data = "crossed.csv",
  formula = "Y ~ ARM * WEEK + (1 | RATER) + (1 | USUBJID)", method = "REML",
  r_calls = list(fit = lmc$r_call,
                 coef_satterthwaite = 'summary(fit_lmer_crossed, ddf = "Satterthwaite")$coefficients'),
  loglik = ll_c, n_obs = nrow(crossed), n_raters = nlevels(crossed$RATER),
  n_subjects = nlevels(crossed$USUBJID),
  variance_components = list(RATER = theta_c[1], USUBJID = theta_c[2], sigma2 = theta_c[3]),
  fixed_effects = coef_rows(fit_lmer_crossed, "Satterthwaite"),
  kenward_roger = kr_section(fit_lmer_crossed, "fit_lmer_crossed"),
  blups = list(
    RATER = data.frame(RATER = rownames(re_c$RATER), term = "(Intercept)",
                       estimate = re_c$RATER[, "(Intercept)"], stringsAsFactors = FALSE),
    USUBJID = data.frame(USUBJID = rownames(re_c$USUBJID), term = "(Intercept)",
                         estimate = re_c$USUBJID[, "(Intercept)"], stringsAsFactors = FALSE)),
  factor_levels = list(ARM = levels(crossed$ARM)),
  checks = c(list(loglik_direct_minus_lmer = crossed_ll(theta_c) - ll_c,
                  theta = I(theta_c), theta_names = I(c("rater_variance", "subject_variance", "sigma2")),
                  optimizer_message = fit_lmer_crossed@optinfo$message), nc_c))
summary_lines <- c(summary_lines, sprintf("%-18s loglik %.10f  max|grad| %.1e  Newton rel step %.1e",
                                          "crossed_ri_reml", ll_c, nc_c$max_abs_gradient,
                                          nc_c$newton_max_rel_step))

## ---------------------------------------------------------------------------------------
## 7. Write JSON and print a summary
## ---------------------------------------------------------------------------------------
pkg_versions <- vapply(PKGS, function(p) as.character(packageVersion(p)), "")
out <- list(
  source = paste0(R.version.string, "; ", paste(names(pkg_versions), pkg_versions,
                                               collapse = ", ")),
  generated = as.character(Sys.Date()),
  seed_nested = SEED_NESTED,
  seed_crossed = SEED_CROSSED,
  sd_slope_simulated = SD_SLOPE,
  data_files = list(
    nested.csv = paste(
      'nested <- read.csv("nested.csv", stringsAsFactors = FALSE);',
      'nested$SITE <- factor(nested$SITE); nested$USUBJID <- factor(nested$USUBJID);',
      'nested$ARM <- factor(nested$ARM)')),
  notes = list(
    general = paste(
      "loglik is logLik(fit) of the polished nlme::lme fit with all constants (SAS",
      "-2 Res Log Likelihood = -2 * loglik for REML). ARM levels are alphabetical (ACT is",
      "the reference; R coefficient names, e.g. ARMPBO, ARMPBO:WEEK). USUBJID is unique",
      "across sites, so nlme's nested ~ 1 | SITE/USUBJID equals lme4's crossed-syntax",
      "(1 | SITE) + (1 | USUBJID)."),
    variance_components = paste(
      "SITE.variance is the site random-intercept variance, USUBJID.matrix the subject G",
      "(natural scale, rows/columns in USUBJID.terms order), sigma2 = fit$sigma^2; all from",
      "pdMatrix(fit$modelStruct$reStruct) * fit$sigma^2 (checked against VarCorr(fit)).",
      "Marginal covariance of site s: V_s = SITE.variance * J + blockdiag_i(Z_i G Z_i') +",
      "sigma2 * I."),
    fixed_effects = paste(
      "estimate / se from the lme fit (vcov(fit) = (X'V^-1X)^-1 at the estimates); df_lme",
      "are nlme's containment df for the innermost level."),
    blups = paste(
      "blups are ranef(fit) of the lme fit: SITE from ranef(fit)$SITE, USUBJID from",
      "ranef(fit)$USUBJID with nlme's 'SITE/USUBJID' row name reduced to the plain",
      "USUBJID; long format (one row per subject and term)."),
    lmer = paste(
      "lmer sections (REML cases): same model fitted with lme4 (tight nloptwrap",
      "tolerances); coef_satterthwaite is the lmerTest summary table with Satterthwaite df."),
    kenward_roger = paste(
      "kenward_roger sections (lmer fits: nested_ri_reml, nested_slope_reml, crossed_ri_reml):",
      "pbkrtest 0.5.2 with its EXPECTED information W = 2 [tr(P V_h P V_j)]^-1 in the",
      "variance/covariance parameters (V linear in them, so no second-derivative term):",
      "vcov_adjusted = vcovAdj(fit); coef df = get_Lb_ddf(fit, unit row); joint =",
      "KRmodcomp(fit, L)$stats (F is the scaled statistic, F_unscaled FstatU); anova_type3 from",
      "lmerTest; emmeans tables with lmer.df = 'kenward-roger' (LS means of ARM at WEEK = 16",
      "and at the mean WEEK, trt.vs.ctrl PBO - ACT, emtrends slopes in WEEK)."),
    sandwich = paste(
      "sandwich sections (lme fits: nested_ri_reml, nested_slope_reml, nested_ar1_reml):",
      "clubSandwich vcovCR(fit, cluster = nested$SITE, type = CR0 / CR2 / CR3) on the",
      "polished REML lme fit, sites as clusters; CR0 is checked against a hand-computed",
      "site-block sandwich (checks$cr0_max_rel_diff_vs_hand)."),
    checks = paste(
      "checks: loglik_direct_minus_lme (independent (RE)ML code, one block per site), BLUPs",
      "of both levels vs ranef, and the distance from the optimum in theta = (site",
      "variance, vech(G), sigma2): numDeriv gradient and one Newton step",
      "(newton_max_rel_step, newton_max_step_in_se, newton_loglik_gain); theta_se /",
      "theta_corr are asymptotic SEs / correlations of theta from the Hessian."),
    nested = paste(
      "nested.csv: simulated (seed_nested) 12 sites S01..S12, each U{6..10} subjects",
      "(USUBJID 'Sss-ii'), ARM PBO/ACT balanced within site (shuffled), U{3..6} visits at",
      "the first k of WEEK 0, 2, 4, 8, 12, 16; Y = 20 - (0.3 + 0.2 ACT) WEEK + u_site +",
      "v_subject + w_subject WEEK + e, sd 2, 3, sd_slope_simulated, 1.5; Y to 3 dp.",
      "Per site the draws are n_s, arms, u; per subject k, v, e (k values), w.",
      "Without the subject slope (sd 0) the (1 + WEEK | USUBJID) REML fit is singular",
      "(boundary), hence sd_slope_simulated = 0.2.")),
  cases = cases)
write_json(out, "nested_refs.json", digits = NA, auto_unbox = TRUE, pretty = TRUE,
           null = "null", na = "null")

cat(summary_lines, sep = "\n")
cat(sprintf("\npackages: %s\n", paste(names(pkg_versions), pkg_versions, collapse = ", ")))
cat(sprintf("run time: %.1f s\n", as.numeric(difftime(Sys.time(), t_start, units = "secs"))))
