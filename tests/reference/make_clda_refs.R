# make_clda_refs.R -- constrained longitudinal data analysis (cLDA) reference values for trialmlm.
#
# Run from inside tests/reference/:   Rscript make_clda_refs.R
# Needs R mmrm 0.3.18 (see make_sandwich_df_refs.R) and jsonlite.
#
# cLDA (Liang & Zeger 2000; Liu et al. 2009): the baseline is one of the repeated measurements
# of the response (AVAL), the arms share one baseline mean and the treatment enters after
# baseline only.  The design is built as R users build it (mmrm issues #183, #448, #551):
# model.matrix(~ AVISIT * TRT01P) with the treatment main-effect columns dropped, so that
# the only treatment columns are the interactions AVISITk:TRT01Pa of the post-baseline visits
# (visit levels: Baseline first; arms: Placebo first).  These numeric columns X1..Xp go into
#   mmrm(AVAL ~ 0 + X1 + ... + Xp + STRUCT(AVISIT | [TRT01P /] USUBJID))
# (REML unless said; optim BFGS with reltol 1e-14, else nlminb with rel.tol 1e-10, as
# converged_mmrm.R, so that the fit is at the optimum).  Their
# order is trialmlm's for "AVAL ~ clda(TRT01P, AVISIT) + STRUCT(AVISIT | USUBJID)":
# Intercept, AVISIT[T.Week k], TRT01P[T.a]:AVISIT[Week k] (arm outer, visit inner).
#
# Data.  dep: ../../sample_data/depression_trial.csv, HAMD17 records that are the baseline
# (ABLFL = "Y") or analysis records (ANL01FL = "Y"): 300 subjects, 1607 rows, dropout.
# unbalanced: written to clda_unbalanced.csv from dep by fixed rules (no random numbers):
# with subjects numbered in USUBJID order within their arm, Drug 20 mg keeps its odd-numbered
# subjects only (50 of 100), Placebo subjects numbered 1, 11, 21, ... keep their baseline only
# (10 subjects without any post-baseline value), Drug 10 mg subjects numbered 3, 10, 17, ...
# miss Week 4 (intermittent gaps).
#
# For each case: REML log-likelihood, coefficients and SEs; per arm and visit the LS mean
# (l'beta; every arm has the same baseline mean), the LS mean of the change from baseline
# (l_ak - l_0)'beta and, after baseline, arm - Placebo (= tau_ak), each with estimate, SE and
# df from mmrm::df_1d; the joint F test of the treatment columns (mmrm::df_md).  With
# Satterthwaite df, and for the "kr" cases (us) the same from a fit with method = "Kenward-Roger",
# vcov = "Kenward-Roger-Linear": SAS's UN is linear in its parameters sigma_ij, so SAS DDFM=KR
# has no second-derivative term there, which is mmrm's linear variant (as demo_trial_mmrm.R);
# mmrm's full KR differentiates its Cholesky parameterisation of us twice and is not SAS's.  dep_us also gives the ML log-likelihood.

suppressPackageStartupMessages({
  library(mmrm)
  library(jsonlite)
})

visits <- c("Baseline", "Week 1", "Week 2", "Week 4", "Week 6", "Week 8")
arms <- c("Placebo", "Drug 10 mg", "Drug 20 mg")

d <- read.csv("../../sample_data/depression_trial.csv", stringsAsFactors = FALSE)
d <- d[d$PARAMCD == "HAMD17" & ((!is.na(d$ABLFL) & d$ABLFL == "Y") | (!is.na(d$ANL01FL) & d$ANL01FL == "Y")),
       c("USUBJID", "TRT01P", "AVISIT", "AVAL")]

number_in_arm <- function(data) {
  ids <- unique(data[, c("USUBJID", "TRT01P")])
  ids <- ids[order(ids$TRT01P, ids$USUBJID), ]
  ids$k <- ave(seq_len(nrow(ids)), ids$TRT01P, FUN = seq_along)
  ids$k[match(data$USUBJID, ids$USUBJID)]
}
k <- number_in_arm(d)
drop <- (d$TRT01P == "Drug 20 mg" & k %% 2 == 0) |
  (d$TRT01P == "Placebo" & k %% 10 == 1 & d$AVISIT != "Baseline") |
  (d$TRT01P == "Drug 10 mg" & k %% 7 == 3 & d$AVISIT == "Week 4")
unbalanced <- d[!drop, ]
write.csv(unbalanced, "clda_unbalanced.csv", row.names = FALSE, quote = TRUE)

prepare <- function(data) {
  data$AVISIT <- factor(data$AVISIT, levels = visits)
  data$TRT01P <- factor(data$TRT01P, levels = arms)
  data$USUBJID <- factor(data$USUBJID)
  X <- model.matrix(~ AVISIT * TRT01P, data)
  X <- X[, !colnames(X) %in% paste0("TRT01P", arms[-1]), drop = FALSE]   # no arm effect at baseline
  # trialmlm's order: arm outer, visit inner (model.matrix has visit fastest already)
  colnames(X) <- sprintf("X%02d", seq_len(ncol(X)))
  list(data = cbind(data, X), names = colnames(X))
}

fit_clda <- function(p, cov, reml = TRUE, method = "Satterthwaite", vcov = NULL) {
  f <- as.formula(paste("AVAL ~ 0 +", paste(p$names, collapse = " + "), "+", cov))
  with_optimizer <- function(optimizer, optimizer_control)
    mmrm(f, data = p$data, reml = reml,
         control = mmrm_control(method = method, vcov = vcov, optimizer = optimizer,
                                optimizer_control = optimizer_control))
  tryCatch(with_optimizer("BFGS", list(reltol = 1e-14, maxit = 2000)),
           error = function(e) with_optimizer("nlminb", list(rel.tol = 1e-10, iter.max = 2000, eval.max = 4000)))
}

# l of arm a at visit k over the coefficients (Intercept, visit effects, arm x post-baseline)
lsmean_row <- function(a, v) {
  l <- numeric(1 + 5 + 2 * 5)
  l[1] <- 1
  j <- match(v, visits)
  i <- match(a, arms)
  if (j > 1) l[j] <- 1
  if (j > 1 && i > 1) l[6 + (i - 2) * 5 + (j - 1)] <- 1
  l
}

row_of <- function(fit, l) {
  r <- df_1d(fit, l)
  list(estimate = r$est, se = r$se, df = r$df)
}

tables <- function(fit) {
  lsm <- list(); chg <- list(); dif <- list()
  for (v in visits) for (a in arms) {
    lsm[[length(lsm) + 1]] <- c(list(arm = a, visit = v), row_of(fit, lsmean_row(a, v)))
    if (v != "Baseline") {
      chg[[length(chg) + 1]] <- c(list(arm = a, visit = v),
                                  row_of(fit, lsmean_row(a, v) - lsmean_row(a, "Baseline")))
      if (a != "Placebo")
        dif[[length(dif) + 1]] <- c(list(arm = a, visit = v),
                                    row_of(fit, lsmean_row(a, v) - lsmean_row("Placebo", v)))
    }
  }
  L <- diag(16)[7:16, , drop = FALSE]
  joint <- df_md(fit, L)
  list(lsmeans = lsm, change = chg, differences = dif,
       joint = list(num_df = joint$num_df, den_df = joint$denom_df, F = joint$f_stat, p = joint$p_val))
}

case <- function(data, cov, structure, kr = FALSE, ml = FALSE) {
  message(cov, " on ", nrow(data), " rows")
  p <- prepare(data)
  fit <- fit_clda(p, cov)
  out <- list(formula = paste0("AVAL ~ clda(TRT01P, AVISIT) + ", structure), mmrm_covariance = cov,
              n_obs = nrow(p$data), n_subjects = length(unique(p$data$USUBJID)),
              converged = component(fit, "convergence") == 0,
              reml_loglik = as.numeric(logLik(fit)), estimate = unname(coef(fit)),
              se = unname(sqrt(diag(vcov(fit)))),
              satterthwaite = tables(fit))
  if (kr) {
    fk <- fit_clda(p, cov, method = "Kenward-Roger", vcov = "Kenward-Roger-Linear")
    out$kenward_roger <- c(tables(fk), list(se = unname(sqrt(diag(vcov(fk))))))
  }
  if (ml) out$ml_loglik <- as.numeric(logLik(fit_clda(p, cov, reml = FALSE)))
  out
}

out <- list(
  generated = format(Sys.Date()), R = R.version.string, mmrm = as.character(packageVersion("mmrm")),
  visits = visits, arms = arms,
  cases = list(
    dep_us = case(d, "us(AVISIT | USUBJID)", "us(AVISIT | USUBJID)", kr = TRUE, ml = TRUE),
    dep_toeph = case(d, "toeph(AVISIT | USUBJID)", "toeph(AVISIT | USUBJID)"),
    dep_cs_group = case(d, "cs(AVISIT | TRT01P / USUBJID)", "cs(AVISIT | TRT01P / USUBJID)"),
    unbalanced_us = case(unbalanced, "us(AVISIT | USUBJID)", "us(AVISIT | USUBJID)", kr = TRUE),
    unbalanced_ar1h = case(unbalanced, "ar1h(AVISIT | USUBJID)", "ar1h(AVISIT | USUBJID)")
  )
)
writeLines(toJSON(out, digits = NA, pretty = TRUE, auto_unbox = TRUE), "clda_refs.json")
