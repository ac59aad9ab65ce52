# Reference values for tests/test_gee_negbin.py and tests/test_gee_ordinal.py (issue 22).
# Run from the repository root:  Rscript tests/reference/gee_families/make_gee_families_refs.R
# Versions: R 4.2.2, MASS 7.3-58.2, geeM 0.10.1 (github.com/cran/geeM, built from source),
# ordinal 2022.11-16, multgee 1.9.0 (github.com/cran/multgee, built from source; gnm, VGAM from
# Debian), jsonlite 1.8.4.  Writes ordinal.csv and gee_families.json beside this script.
#
# Negative binomial (SAS GENMOD DIST=NB with REPEATED): k = 1/theta, theta the ML estimate of
# MASS::glm.nb on the pooled (independence) data, held fixed; the GEE with variance
# mu + k mu^2 is geeM::geem(family = MASS::negative.binomial(theta)) (geeM's moment estimators
# divide by N - p and by the number of pairs minus p, as SAS's; AR(1) from adjacent observed visits).
#
# Ordinal (SAS GENMOD DIST=MULTINOMIAL LINK=CLOGIT with REPEATED TYPE=IND): the independence GEE
# is the pooled ML fit.  SAS's parameters: P(Y <= k) = F(alpha_k + x'beta); MASS::polr and
# ordinal::clm fit logit P(Y <= k) = zeta_k - x'eta, so alpha = zeta, beta = -eta.  The robust
# covariance I^-1 (sum_i U_i U_i') I^-1 is computed below from the analytic per-row scores U
# (summed over a subject's rows) and the expected information I = sum_rows sum_c g_c g_c' / P_c,
# g_c = dP(Y = c)/d(alpha, beta); the model-based one is I^-1.  multgee::ordLORgee(LORstr =
# "independence") (same sign convention as SAS) is a second, independent check of both.
suppressPackageStartupMessages({library(MASS); library(geeM); library(ordinal); library(multgee)
  library(jsonlite)})
out_dir <- "tests/reference/gee_families"

# ---- negative binomial on the count endpoint of tests/reference/gee/trial.csv ---------------
trial <- read.csv("tests/reference/gee/trial.csv")
trial$AVISIT <- factor(trial$AVISIT, levels = paste0("W", (1:6) * 2))
trial$ARM <- factor(trial$ARM, levels = c("High", "Low", "Placebo"))
trial$LOGDAYS <- log(trial$DAYS)
trial$SUBJN <- as.integer(factor(trial$USUBJID))
trial <- trial[order(trial$SUBJN, trial$VISITN), ]
nb_formula <- EVENTS ~ BASE + ARM + AVISIT + offset(LOGDAYS)
nb <- glm.nb(nb_formula, data = trial, control = glm.control(epsilon = 1e-13, maxit = 200))
theta <- nb$theta
X <- model.matrix(nb)
mu <- fitted(nb)
k <- 1 / theta
pearson <- (trial$EVENTS - mu) / sqrt(mu + k * mu^2)
N <- nrow(X); p <- ncol(X)
phi_ind <- sum(pearson^2) / (N - p)
W <- mu^2 / (mu + k * mu^2)
info <- crossprod(X * sqrt(W))
Ui <- rowsum(X * ((trial$EVENTS - mu) / (mu + k * mu^2) * mu), trial$SUBJN)
robust_ind <- solve(info) %*% crossprod(Ui) %*% solve(info)
negbin <- list(
  python = list(data = "../gee/trial.csv", formula = "EVENTS ~ BASE + ARM + AVISIT", subject = "USUBJID",
                visit = "AVISIT", offset = "LOGDAYS"),
  theta = theta, k = k, twologlik = nb$twologlik, glm_nb_coef = as.list(coef(nb)),
  glm_nb_se = as.list(sqrt(diag(vcov(nb)))),
  independence = list(coef = as.list(coef(nb)), se = as.list(setNames(sqrt(diag(robust_ind)), colnames(X))),
                      se_naive = as.list(setNames(sqrt(diag(phi_ind * solve(info))), colnames(X))),
                      scale = phi_ind))
g <- geem(nb_formula, id = SUBJN, waves = VISITN, data = trial, family = negative.binomial(theta),
          corstr = "exchangeable", tol = 1e-12, maxit = 200)
geem_summary <- function(g) {
  list(coef = as.list(setNames(g$beta, g$coefnames)),
       se = as.list(setNames(sqrt(diag(as.matrix(g$var))), g$coefnames)),
       se_naive = as.list(setNames(sqrt(diag(as.matrix(g$naiv.var))), g$coefnames)),
       alpha = g$alpha, scale = g$phi, iterations = g$niter, converged = g$converged)
}
negbin$exchangeable <- geem_summary(g)
# AR(1) on the subjects observed at all six visits (trial_complete.csv): geem fills visit gaps
# with dummy rows (its dummyrows() fails with an offset), so the gaps are left out of this case;
# k is re-estimated on these subjects.
comp <- trial[ave(trial$VISITN, trial$SUBJN, FUN = length) == 6, ]
write.csv(comp[, c("USUBJID", "ARM", "BASE", "AVISIT", "VISITN", "EVENTS", "DAYS")],
          file.path(out_dir, "trial_complete.csv"), row.names = FALSE)
comp <- read.csv(file.path(out_dir, "trial_complete.csv"))
comp$AVISIT <- factor(comp$AVISIT, levels = paste0("W", (1:6) * 2))
comp$ARM <- factor(comp$ARM, levels = c("High", "Low", "Placebo"))
comp$LOGDAYS <- log(comp$DAYS)
comp$SUBJN <- as.integer(factor(comp$USUBJID))
nb_comp <- glm.nb(nb_formula, data = comp, control = glm.control(epsilon = 1e-13, maxit = 200))
g <- geem(nb_formula, id = SUBJN, waves = VISITN, data = comp, family = negative.binomial(nb_comp$theta),
          corstr = "ar1", tol = 1e-12, maxit = 200)
negbin$ar1_complete <- c(list(data = "trial_complete.csv", theta = nb_comp$theta, k = 1 / nb_comp$theta),
                         geem_summary(g))

# ---- ordinal: a simulated two-arm trial, 4 visits, a 4-category scale as text ---------------
set.seed(20260601)
n <- 180
arm <- sample(c("Active", "Placebo"), n, replace = TRUE)
base <- sample(1:4, n, replace = TRUE, prob = c(0.2, 0.35, 0.3, 0.15))
u <- rlogis(n) * 0.8
cats <- c("none", "mild", "moderate", "severe")
ord <- do.call(rbind, lapply(seq_len(n), function(i) {
  v <- 1:4
  eta <- 0.6 * (base[i] - 2.5) - ifelse(arm[i] == "Active", 0.25 * v, 0.05 * v) + u[i]
  lat <- eta + rlogis(4)
  y <- cut(lat, c(-Inf, -1.2, 0.3, 1.6, Inf), labels = cats)
  data.frame(USUBJID = sprintf("P%03d", i), TRT = arm[i], BASE = base[i], AVISIT = paste0("Week ", v * 4),
             VISITN = v, SEV = as.character(y))
}))
ord <- ord[runif(nrow(ord)) > 0.1, ]  # intermittent missing visits
ord$SEV[sample(nrow(ord), 5)] <- NA   # and missing responses
write.csv(ord, file.path(out_dir, "ordinal.csv"), row.names = FALSE, na = "")
ord <- read.csv(file.path(out_dir, "ordinal.csv"))
ord <- ord[!is.na(ord$SEV) & ord$SEV != "", ]
ord$SEV <- factor(ord$SEV, levels = cats, ordered = TRUE)
ord$AVISIT <- factor(ord$AVISIT, levels = paste0("Week ", (1:4) * 4))
ord$SUBJN <- as.integer(factor(ord$USUBJID))
ord <- ord[order(ord$SUBJN, ord$VISITN), ]

ordinal_case <- function(name, formula, python) {
  pol <- polr(formula, data = ord, method = "logistic", Hess = TRUE, control = list(reltol = 1e-14))
  cl <- clm(formula, data = ord, control = clm.control(gradTol = 1e-12, relTol = 1e-14))
  Xs <- model.matrix(formula, ord)[, -1, drop = FALSE]
  alpha <- cl$alpha; beta <- -cl$beta
  K <- length(alpha) + 1; q <- ncol(Xs); npar <- K - 1 + q
  eta <- drop(Xs %*% beta)
  y <- as.integer(ord$SEV)
  cum <- cbind(0, plogis(outer(eta, alpha, "+")), 1)          # F(alpha_k + eta), k = 0..K
  dens <- cbind(0, dlogis(outer(eta, alpha, "+")), 0)
  info <- matrix(0, npar, npar)
  score <- matrix(0, nrow(ord), npar)
  for (c in 1:K) {
    Pc <- cum[, c + 1] - cum[, c]
    G <- matrix(0, nrow(ord), npar)
    if (c < K) G[, c] <- dens[, c + 1]
    if (c > 1) G[, c - 1] <- -dens[, c]
    G[, K:npar] <- Xs * (dens[, c + 1] - dens[, c])
    info <- info + crossprod(G / sqrt(Pc))
    score[y == c, ] <- G[y == c, ] / Pc[y == c]
  }
  U <- rowsum(score, ord$SUBJN)
  bread <- solve(info)
  robust <- bread %*% crossprod(U) %*% bread
  names_sas <- c(paste0("Intercept", 1:(K - 1)), colnames(Xs))
  lor <- ordLORgee(update(formula, as.integer(SEV) ~ .), data = ord, id = SUBJN, repeated = VISITN,
                   LORstr = "independence", control = LORgee_control(tolerance = 1e-12, maxiter = 100))
  stopifnot(max(abs(coef(lor) - c(alpha, beta))) < 1e-6,
            max(abs(lor$robust.variance - robust) / abs(robust)) < 1e-5)
  list(name = name, python = python, levels = cats, names = names_sas,
       coef = as.list(setNames(c(alpha, beta), names_sas)),
       polr_zeta = as.list(pol$zeta), polr_coef = as.list(coef(pol)),
       loglik = as.numeric(logLik(cl)), score_at_estimate = colSums(score),
       robust = unname(robust), model = unname(bread),
       multgee = list(coef = unname(coef(lor)), robust = unname(lor$robust.variance),
                      naive = unname(lor$naive.variance)))
}
ordinal <- list(
  ordinal_case("trt_visit", SEV ~ BASE + TRT * AVISIT,
               list(data = "ordinal.csv", formula = "SEV ~ BASE + TRT * AVISIT", subject = "USUBJID",
                    visit = "AVISIT")),
  ordinal_case("trt_main", SEV ~ BASE + TRT + AVISIT,
               list(data = "ordinal.csv", formula = "SEV ~ BASE + TRT + AVISIT", subject = "USUBJID",
                    visit = "AVISIT")))
writeLines(toJSON(list(negbin = negbin, ordinal = ordinal, generated = format(Sys.Date())),
                  auto_unbox = TRUE, digits = NA, pretty = TRUE),
           file.path(out_dir, "gee_families.json"))
