# make_mcar_refs.R -- reference values for trialmlm.missing's dropout model and Little's
# MCAR test.
#
# Run from inside tests/reference/:   Rscript make_mcar_refs.R
# Needs R with jsonlite and lavaan (Debian: r-base-core r-cran-jsonlite r-cran-lavaan).
#
# Writes (all in the current directory):
#   mcar_trial.csv          simulated 3-arm trial with MAR dropout (depends on the last
#                           observed response), intermittent gaps, a gap at the first visit,
#                           two subjects never observed, and dropouts whose later rows are
#                           absent rather than NA
#   mcar_dropout_data.csv   the person-visit tables built here (case, subject, visit,
#                           last_response, dropout) -- built in R from the raw long data,
#                           independently of trialmlm
#   mcar_refs.json          glm(family = binomial) fits (coefficients, SEs, z, p, Wald
#                           limits, log-likelihoods, LR test of the last response) and
#                           Little's (1988) test (EM mean and covariance, d2, df, p) per case
#
# Dropout model (Diggle & Kenward 1994 style logistic check of MCAR against MAR):
#   visits v1 < ... < vK; L = last visit with an observed response; the subject drops out at
#   visit L + 1 (none if L = K).  For each visit t >= 2 up to the dropout visit, a row with
#   outcome 1 at the dropout visit, 0 at a visit with an observed response; a visit with a
#   missing response before L (intermittent gap) gives no row; a visit before the first
#   observed response gives no row (no last response).  last_response = response at the
#   last visit before t with an observed response (carried over across gaps).
#   Visit levels whose rows all have the same outcome (e.g. no dropout at that visit) are
#   left out: with visit as a factor their coefficient is infinite, and the maximum
#   likelihood estimates of the other coefficients are those of the fit without them.
#   The glm fits use epsilon = 1e-14 so that the reported values are the exact optimum.
#
# Little's test: EM maximum-likelihood (divisor n) mean and covariance of the wide
# responses (and covariates), computed twice -- lavaan's EM for the unrestricted (h1)
# model through its public API, with tolerance 1e-13, and the independent EM below -- and
# required to agree to 1e-9; then d2 = sum_j n_j (ybar_j - mu_j)' Sigma_j^-1 (ybar_j - mu_j)
# over missingness patterns j, df = sum_j p_j - p.  Subjects with no observed value are
# left out (they contribute nothing to the likelihood).

suppressPackageStartupMessages({
  library(jsonlite)
  library(lavaan)
})

SEED <- 20240611
VISITS <- c("W1", "W2", "W4", "W8", "W12")   # natural order; "W12" sorts after "W8"
K <- length(VISITS)

## ---------------------------------------------------------------------------------------
## 1. Simulate mcar_trial.csv
## ---------------------------------------------------------------------------------------
simulate <- function() {
  set.seed(SEED)
  n <- 160
  usubjid <- sprintf("P%03d", seq_len(n))
  arm <- sample(rep(c("PBO", "LOW", "HIGH"), c(70, 55, 35)))   # unbalanced
  sex <- sample(c("F", "M"), n, replace = TRUE)
  base <- round(rnorm(n, 25, 4), 2)
  mu <- rbind(PBO  = c(-0.5, -1.0, -1.5, -1.8, -2.0),
              LOW  = c(-0.8, -1.6, -2.4, -3.0, -3.4),
              HIGH = c(-1.0, -2.2, -3.2, -4.0, -4.6))
  sds <- c(2, 2.4, 2.8, 3.2, 3.6)
  S <- diag(sds) %*% (0.6^abs(outer(1:K, 1:K, "-"))) %*% diag(sds)
  L <- t(chol(S))
  rows <- vector("list", n)
  for (i in seq_len(n)) {
    y <- mu[arm[i], ] + 0.4 * (base[i] - 25) + as.vector(L %*% rnorm(K))
    last <- K
    for (t in 2:K) {   # MAR dropout: depends on the previous response
      p <- plogis(-2.0 + 0.35 * y[t - 1] + c(0, 0.2, -0.1, 0.3)[t - 1] - 0.3 * (arm[i] == "HIGH"))
      if (runif(1) < p) { last <- t - 1; break }
    }
    obs <- seq_len(K) <= last
    if (runif(1) < 0.12 && last >= 3) obs[sample(2:(last - 1), 1)] <- FALSE   # interior gap
    y[!obs] <- NA
    d <- data.frame(USUBJID = usubjid[i], TRT = arm[i], SEX = sex[i], BASE = base[i],
                    AVISIT = VISITS, CHG = round(y, 3))
    if (last < K && i %% 2 == 0) d <- d[seq_len(last), ]   # rows after dropout absent
    rows[[i]] <- d
  }
  d <- do.call(rbind, rows)
  d$CHG[d$USUBJID == "P005" & d$AVISIT == "W1"] <- NA      # gap at the first visit
  d$CHG[d$USUBJID %in% c("P011", "P012")] <- NA            # never observed
  d
}

write.csv(simulate(), "mcar_trial.csv", row.names = FALSE)
mcar <- read.csv("mcar_trial.csv", stringsAsFactors = FALSE)
trial3 <- read.csv("trial3.csv", stringsAsFactors = FALSE)
demo <- read.csv("demo_trial.csv", stringsAsFactors = FALSE)

## ---------------------------------------------------------------------------------------
## 2. Person-visit table, built from the long data
## ---------------------------------------------------------------------------------------
wide_matrix <- function(d, visits, response = "CHG") {
  subjects <- sort(unique(d$USUBJID))
  Y <- matrix(NA_real_, length(subjects), length(visits), dimnames = list(subjects, visits))
  for (r in seq_len(nrow(d))) Y[d$USUBJID[r], d$AVISIT[r]] <- d[[response]][r]
  Y
}

person_visit <- function(d, visits) {
  Y <- wide_matrix(d, visits)
  out <- list()
  for (s in rownames(Y)) {
    y <- Y[s, ]
    obs <- which(!is.na(y))
    if (length(obs) == 0) next
    last <- max(obs)
    for (t in 2:length(visits)) {
      if (t > last + 1) break
      before <- obs[obs < t]
      if (length(before) == 0) next               # no response yet
      if (t <= last && is.na(y[t])) next          # intermittent gap
      out[[length(out) + 1]] <- data.frame(USUBJID = s, AVISIT = visits[t],
                                           last_response = y[max(before)],
                                           dropout = as.integer(t == last + 1))
    }
  }
  pv <- do.call(rbind, out)
  subj <- d[!duplicated(d$USUBJID), setdiff(names(d), c("AVISIT", "CHG", "VISN", "TIME", "WT"))]
  pv <- merge(pv, subj, by = "USUBJID", sort = FALSE)
  pv <- pv[order(pv$USUBJID, match(pv$AVISIT, visits)), ]
  rownames(pv) <- NULL
  pv
}

drop_constant_visits <- function(pv) {
  rate <- tapply(pv$dropout, pv$AVISIT, mean)
  keep <- names(rate)[rate > 0 & rate < 1]
  list(data = pv[pv$AVISIT %in% keep, ], left_out = setdiff(names(rate), keep))
}

glm_case <- function(name, d, visits, arm = NULL, baseline = NULL, covariates = character()) {
  pv <- person_visit(d, visits)
  kept <- drop_constant_visits(pv)
  pv <- kept$data
  pv$AVISIT <- factor(pv$AVISIT, levels = intersect(visits, unique(pv$AVISIT)))
  if (!is.null(arm)) pv[[arm]] <- factor(pv[[arm]], levels = sort(unique(pv[[arm]])))
  for (cv in covariates) if (is.character(pv[[cv]])) pv[[cv]] <- factor(pv[[cv]], levels = sort(unique(pv[[cv]])))
  rhs <- c("last_response", arm, "AVISIT", baseline, covariates)
  f1 <- reformulate(rhs, "dropout")
  f0 <- reformulate(setdiff(rhs, "last_response"), "dropout")
  ctl <- glm.control(epsilon = 1e-14, maxit = 100)
  m1 <- glm(f1, family = binomial, data = pv, control = ctl)
  m0 <- glm(f0, family = binomial, data = pv, control = ctl)
  stopifnot(m1$converged, m0$converged, nrow(model.frame(m1)) == nrow(pv))
  co <- summary(m1)$coefficients
  # R reports the covariance from the IRLS weights of the last iteration (computed at the
  # previous coefficients); also give (X'WX)^-1 with W at the final fitted values
  X <- model.matrix(m1); pr <- fitted(m1)
  se_final <- sqrt(diag(solve(crossprod(X, X * (pr * (1 - pr))))))
  # coefficient names as trialmlm writes them: Intercept, TRT[T.LOW], AVISIT[T.W4], ...
  tm <- rownames(co); tm[tm == "(Intercept)"] <- "Intercept"
  for (f in names(m1$xlevels)) for (lev in m1$xlevels[[f]])
    tm[tm == paste0(f, lev)] <- sprintf("%s[T.%s]", f, lev)
  ci <- confint.default(m1)
  lr <- anova(m0, m1, test = "LRT")
  cat(sprintf("%-22s rows %4d  dropouts %3d  LR = %.6f  left out: %s\n", name, nrow(pv),
              sum(pv$dropout), lr$Deviance[2], paste(kept$left_out, collapse = ",")))
  tab <- data.frame(case = name, USUBJID = pv$USUBJID, AVISIT = as.character(pv$AVISIT),
                    last_response = pv$last_response, dropout = pv$dropout)
  list(json = list(
    call = paste0("glm(", deparse(f1), ", family = binomial, control = glm.control(epsilon = 1e-14))"),
    arm = arm, baseline = baseline, covariates = I(covariates),
    left_out_visits = I(kept$left_out),
    n_rows = nrow(pv), n_dropout = sum(pv$dropout),
    terms = tm, estimate = unname(co[, 1]), se = unname(co[, 2]), se_final_weights = unname(se_final),
    z = unname(co[, 3]), p = unname(co[, 4]),
    lower = unname(ci[, 1]), upper = unname(ci[, 2]),
    loglik = as.numeric(logLik(m1)), loglik_reduced = as.numeric(logLik(m0)),
    lr_statistic = lr$Deviance[2], lr_df = lr$Df[2], lr_p = lr[["Pr(>Chi)"]][2]),
    table = tab)
}

# the subjects of mcar_trial.csv whose last observed visit is W1 left out: no dropout at W2
seen <- !is.na(mcar$CHG)
W2_DROPOUTS <- names(which(tapply(match(mcar$AVISIT[seen], VISITS), mcar$USUBJID[seen], max) == 1))
mcar_no_w2 <- mcar[!mcar$USUBJID %in% W2_DROPOUTS, ]
glm_cases <- list(
  glm_case("mcar_full", mcar, VISITS, arm = "TRT", baseline = "BASE", covariates = "SEX"),
  glm_case("mcar_no_w2_dropout", mcar_no_w2, VISITS, arm = "TRT"),
  glm_case("mcar_minimal", mcar, VISITS),
  glm_case("trial3_arm_base", trial3, c("W1", "W2", "W4", "W8", "W12", "W16"), arm = "TRT", baseline = "BASE"),
  glm_case("demo_arm", demo, c("V1", "V2", "V3", "V4", "V5"), arm = "TRT")
)
names(glm_cases) <- c("mcar_full", "mcar_no_w2_dropout", "mcar_minimal", "trial3_arm_base", "demo_arm")
write.csv(do.call(rbind, lapply(glm_cases, `[[`, "table")), "mcar_dropout_data.csv", row.names = FALSE)

## ---------------------------------------------------------------------------------------
## 3. Little's MCAR test
## ---------------------------------------------------------------------------------------
# Independent EM for the multivariate normal with missing values (ML, divisor n).
em_mvn <- function(Y, tol = 1e-13, max_iter = 100000) {
  n <- nrow(Y); p <- ncol(Y)
  mu <- colMeans(Y, na.rm = TRUE)
  S <- diag(apply(Y, 2, var, na.rm = TRUE) * 1, p)
  for (it in seq_len(max_iter)) {
    T1 <- numeric(p); T2 <- matrix(0, p, p)
    for (i in seq_len(n)) {
      o <- !is.na(Y[i, ]); m <- !o
      yhat <- Y[i, ]; C <- matrix(0, p, p)
      if (any(m)) {
        B <- S[m, o, drop = FALSE] %*% solve(S[o, o, drop = FALSE])
        yhat[m] <- mu[m] + B %*% (Y[i, o] - mu[o])
        C[m, m] <- S[m, m, drop = FALSE] - B %*% S[o, m, drop = FALSE]
      }
      T1 <- T1 + yhat; T2 <- T2 + tcrossprod(yhat) + C
    }
    mu_new <- T1 / n; S_new <- T2 / n - tcrossprod(mu_new)
    delta <- max(abs(c(mu_new - mu, S_new - S)))
    mu <- mu_new; S <- S_new
    if (delta < tol) break
  }
  stopifnot(delta < tol)
  list(mu = mu, sigma = S, iterations = it)
}

little_d2 <- function(Y, mu, S) {
  key <- apply(!is.na(Y), 1, function(r) paste(as.integer(r), collapse = ""))
  d2 <- 0; dfs <- 0
  for (k in unique(key)) {
    rows <- Y[key == k, , drop = FALSE]
    o <- !is.na(rows[1, ])
    ybar <- colMeans(rows[, o, drop = FALSE])
    dev <- ybar - mu[o]
    d2 <- d2 + nrow(rows) * as.numeric(t(dev) %*% solve(S[o, o, drop = FALSE], dev))
    dfs <- dfs + sum(o)
  }
  list(statistic = d2, df = dfs - ncol(Y), n_patterns = length(unique(key)))
}

little_case <- function(name, d, visits, covariates = character()) {
  Y <- wide_matrix(d, visits)
  if (length(covariates)) {
    first <- d[!duplicated(d$USUBJID), ]
    X <- as.matrix(first[match(rownames(Y), first$USUBJID), covariates, drop = FALSE])
    Y <- cbind(Y, X)
  }
  Y <- Y[rowSums(!is.na(Y)) > 0, , drop = FALSE]
  own <- em_mvn(Y)
  # lavaan: unrestricted (h1) moments by EM through the public API
  vars <- paste0("y", seq_len(ncol(Y)))
  Yl <- as.data.frame(Y); names(Yl) <- vars
  pairs <- which(upper.tri(diag(length(vars)), diag = TRUE), arr.ind = TRUE)
  model <- paste(vars[pairs[, 1]], "~~", vars[pairs[, 2]], collapse = "\n")   # saturated
  fit <- sem(model, data = Yl, missing = "ml", meanstructure = TRUE,
             em.h1.tol = 1e-13, em.h1.iter.max = 100000L, do.fit = FALSE)
  h1 <- lavInspect(fit, "h1")
  mu_l <- as.numeric(h1$mean[vars]); S_l <- unclass(h1$cov)[vars, vars]
  dev_mu <- max(abs(mu_l - own$mu)); dev_S <- max(abs(S_l - own$sigma))
  stopifnot(dev_mu < 1e-9, dev_S < 1e-9)
  t <- little_d2(Y, mu_l, S_l)
  p <- pchisq(t$statistic, t$df, lower.tail = FALSE)
  cat(sprintf("%-22s n %4d  d2 = %.8f  df = %d  p = %.6g  (lavaan vs own EM: %.1e, %.1e)\n",
              name, nrow(Y), t$statistic, t$df, p, dev_mu, dev_S))
  list(variables = I(colnames(Y)), n_subjects = nrow(Y), statistic = t$statistic, df = t$df,
       p = p, n_patterns = t$n_patterns, mean = mu_l, covariance = unname(S_l),
       em_iterations_own = own$iterations, max_abs_dev_lavaan_vs_own = max(dev_mu, dev_S))
}

little_cases <- list(
  mcar = little_case("mcar", mcar, VISITS),
  mcar_base = little_case("mcar_base", mcar, VISITS, covariates = "BASE"),
  trial3 = little_case("trial3", trial3, c("W1", "W2", "W4", "W8", "W12", "W16")),
  demo = little_case("demo", demo, c("V1", "V2", "V3", "V4", "V5"))
)

out <- list(
  generated = format(Sys.Date()),
  software = list(R = R.version.string,
                  lavaan = as.character(packageVersion("lavaan")),
                  jsonlite = as.character(packageVersion("jsonlite"))),
  dropout_model = lapply(glm_cases, `[[`, "json"),
  little = little_cases
)
write_json(out, "mcar_refs.json", digits = NA, auto_unbox = TRUE, pretty = TRUE)
