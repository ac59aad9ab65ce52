# Reference values for approximate-Bayesian multiple imputation (trialmlm.missing.impute with ice= and
# analysis="ancova").  R 4.2, rbmi 1.5.2, mmrm 0.3.18, dplyr, jsonlite (installed as for make_condmean_refs.R,
# whose antidepressant.csv this reads).  Run in this folder:
#   Rscript make_approxbayes_refs.R        (about a minute: 500 + 5 mmrm fits)
# Writes approxbayes_refs.json and approxbayes_completed.csv.
#
# (b) distribution: draws(method_approxbayes(n_samples = 500)) with the quickstart's ICE table (JR), impute,
#     analyse(ancova, BASVAL), pool -- rbmi as shipped, set.seed(2718); the per-imputation ancova results
#     (est, se, df of every parameter) are stored too, so that Rubin's rules can be checked on the same numbers.
# (a) deterministic, with mmrm run to convergence (converged_mmrm.R):
#     bootstrap: five approximate-Bayesian draws on the "early" ICE table of make_condmean_refs.R (observed values
#       after non-MAR ICEs are left out of the fit) through rbmi's own get_draws_mle with use_samp_ids = TRUE,
#       so that the bootstrap subject ids are kept; for each draw the ids, the fitted means X beta of every
#       subject and visit of the data (design of rbmi's as_model_df) and the covariance matrix;
#     ancova: the first completed data set of (b) (written to approxbayes_completed.csv with GENDER
#       from antidepressant_data) analysed by rbmi's ancova with weights "counterfactual", "equal",
#       "proportional_em" for covariates BASVAL + GENDER and BASVAL * GENDER.
suppressPackageStartupMessages({library(rbmi); library(dplyr); library(jsonlite)})
dat <- read.csv("antidepressant.csv", colClasses = c(PATIENT = "character", VISIT = "character"))
dat$PATIENT <- factor(dat$PATIENT)
dat$VISIT <- factor(dat$VISIT)
dat$THERAPY <- factor(dat$THERAPY, levels = c("DRUG", "PLACEBO"))
dat_ice <- dat %>% arrange(PATIENT, VISIT) %>% filter(is.na(CHANGE)) %>% group_by(PATIENT) %>%
  slice(1) %>% ungroup() %>% select(PATIENT, VISIT) %>% mutate(strategy = "JR")
dat_ice <- as.data.frame(dat_ice[-which(dat_ice$PATIENT == 3618), ])
visits <- levels(dat$VISIT)
early <- dat_ice   # as in make_condmean_refs.R
index <- pmax(match(as.character(early$VISIT), visits) - 1, 1)
early$VISIT <- factor(visits[index], levels = visits)
early$strategy <- rep(c("JR", "MAR", "CIR", "LMCF", "CR"), length.out = nrow(early))
early$strategy[early$strategy == "LMCF" & index == 1] <- "JR"

vars <- set_vars(outcome = "CHANGE", visit = "VISIT", subjid = "PATIENT", group = "THERAPY",
                 covariates = c("BASVAL*VISIT", "THERAPY*VISIT"))
vars_an <- set_vars(subjid = "PATIENT", outcome = "CHANGE", visit = "VISIT", group = "THERAPY",
                    covariates = c("BASVAL"))
references <- c("DRUG" = "PLACEBO", "PLACEBO" = "PLACEBO")
ice_list <- function(ice) list(PATIENT = as.character(ice$PATIENT), VISIT = as.character(ice$VISIT),
                               strategy = ice$strategy)

# (b) distribution, rbmi as shipped
M <- if (length(commandArgs(TRUE))) as.integer(commandArgs(TRUE)[1]) else 500   # a smaller M to try the script
set.seed(2718)
seconds <- system.time({
  d <- draws(dat, dat_ice, vars, method_approxbayes(n_samples = M), quiet = TRUE)
  imp <- impute(d, references = references)
  ana <- analyse(imp, ancova, vars = vars_an)
})[["elapsed"]]
pooled <- as.data.frame(pool(ana))
parameters <- names(ana$results[[1]])
per_imputation <- lapply(parameters, function(p) list(
  est = vapply(ana$results, function(r) r[[p]]$est, numeric(1)),
  se = vapply(ana$results, function(r) r[[p]]$se, numeric(1)),
  df = vapply(ana$results, function(r) r[[p]]$df, numeric(1))))
names(per_imputation) <- parameters
distribution <- list(n_imputations = M, seed = 2718, seconds = seconds, n_failures = d$n_failures,
                     ice = ice_list(dat_ice), pooled = pooled, per_imputation = per_imputation)

# (a) deterministic, mmrm run to convergence
source("converged_mmrm.R")
method <- method_approxbayes(n_samples = 5)
longdata <- rbmi:::longDataConstructor$new(dat, vars)
longdata$set_strategies(early)
set.seed(31)
boot <- rbmi:::get_draws_mle(longdata, method, sample_stack = rbmi:::get_bootstrap_stack(longdata, method),
                             n_target_samples = 5, first_sample_orig = FALSE, use_samp_ids = TRUE,
                             quiet = TRUE)
grid <- dat
grid$CHANGE <- 0   # the design of every subject and visit (as_model_df drops rows with a missing outcome)
design <- as.matrix(rbmi:::as_model_df(grid, longdata$formula)[, -1])
# get_data renames repeated subjects "new_pt_<k>"; the original ids are in longdata's idmap of the sample
samples <- lapply(boot$samples, function(s) list(
  ids = as.character(s$ids), mu = as.vector(design %*% s$beta), sigma = s$sigma[[1]]))
bootstrap <- list(ice = ice_list(early), PATIENT = as.character(dat$PATIENT), VISIT = as.character(dat$VISIT),
                  samples = samples)

full <- extract_imputed_dfs(imp, index = 1, idmap = TRUE)[[1]]   # the first completed data set of (b)
full$PATIENT <- attr(full, "idmap")[as.character(full$PATIENT)]
data("antidepressant_data")
gender <- unique(as.data.frame(antidepressant_data)[, c("PATIENT", "GENDER")])
full$GENDER <- factor(gender$GENDER[match(as.character(full$PATIENT), as.character(gender$PATIENT))])
full <- full[order(full$PATIENT, full$VISIT), ]
write.csv(full[, c("PATIENT", "VISIT", "THERAPY", "BASVAL", "GENDER", "CHANGE")], "approxbayes_completed.csv",
          row.names = FALSE)
ancova_runs <- list()
for (covariates in list(c("BASVAL", "GENDER"), c("BASVAL*GENDER"))) {
  v <- set_vars(subjid = "PATIENT", outcome = "CHANGE", visit = "VISIT", group = "THERAPY",
                covariates = covariates)
  for (w in c("counterfactual", "equal", "proportional_em")) {
    res <- ancova(full, v, weights = w)
    ancova_runs[[length(ancova_runs) + 1]] <- list(
      covariates = paste(covariates, collapse = " + "), weights = w,
      parameter = names(res), est = vapply(res, function(r) r$est, numeric(1)),
      se = vapply(res, function(r) r$se, numeric(1)), df = vapply(res, function(r) r$df, numeric(1)))
  }
}

writeLines(toJSON(list(source = paste("R", getRversion(), "rbmi", packageVersion("rbmi"), "mmrm",
                                      packageVersion("mmrm")),
                       generated = format(Sys.Date()),
                       imputation_model = "CHANGE ~ THERAPY + VISIT + BASVAL*VISIT + THERAPY*VISIT, us(VISIT | PATIENT), REML",
                       analysis_model = "ancova per visit: CHANGE ~ THERAPY + BASVAL",
                       references = as.list(references), distribution = distribution,
                       bootstrap = bootstrap, ancova = ancova_runs),
                  digits = NA, auto_unbox = TRUE, pretty = TRUE), "approxbayes_refs.json")
