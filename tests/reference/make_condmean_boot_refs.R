# Reference values for conditional mean imputation with bootstrap inference and for bootstrapped ML
# multiple imputation (trialmlm.missing.condmean(type = "bootstrap"), trialmlm.missing.bmlmi).
# R 4.2, rbmi 1.5.2, mmrm 0.3.18 (installed as described in make_condmean_refs.R), dplyr, jsonlite.
# Run in this folder:   Rscript make_condmean_boot_refs.R     (about three minutes: 20 + 10 + 100 + 1000 mmrm fits)
# mmrm is run to convergence (converged_mmrm.R), as for condmean_refs.json.
# Data: antidepressant.csv (written by make_condmean_refs.R), the quickstart's ICE table (JR from the
# first terminal missing visit; subject 3618 MAR), references DRUG -> PLACEBO.
# Writes condmean_boot_refs.json:
#   condmean: draws(method_condmean(type = "bootstrap", n_samples = 20)): for the full data (sample 0)
#     and each bootstrap sample the subject ids, the fitted means (model matrix %*% beta, one per row of
#     antidepressant.csv) and the covariance matrix; the analyse(ancova) estimate of every parameter per
#     sample; pool(type = "percentile") and pool(type = "normal").
#   bmlmi: draws(method_bmlmi(B = 10, D = 2)): the same per bootstrap sample, the B * D per-imputation
#     analysis estimates (in rbmi's order: sample 1 imputations 1..D, sample 2, ...) and pool().
#   bmlmi_large: method_bmlmi(B = 100, D = 5) (distribution check, 500 imputations): the subject ids of each
#     bootstrap sample, the per-imputation analysis estimates and pool().
#   bmlmi_1000: pool() of method_bmlmi(B = 1000, D = 2) (distribution check of the bootstrap sampling too).
suppressPackageStartupMessages({library(rbmi); library(dplyr); library(jsonlite)})
dat <- read.csv("antidepressant.csv", colClasses = c(PATIENT = "character", VISIT = "character",
                                                     THERAPY = "character"))
dat$PATIENT <- factor(dat$PATIENT)
dat$VISIT <- factor(dat$VISIT)
dat$THERAPY <- factor(dat$THERAPY, levels = c("DRUG", "PLACEBO"))
dat <- dat[order(dat$PATIENT, dat$VISIT), ]

dat_ice <- dat %>% filter(is.na(CHANGE)) %>% group_by(PATIENT) %>% slice(1) %>% ungroup() %>%
  select(PATIENT, VISIT) %>% mutate(strategy = "JR")
dat_ice <- as.data.frame(dat_ice[dat_ice$PATIENT != "3618", ])

vars <- set_vars(outcome = "CHANGE", visit = "VISIT", subjid = "PATIENT", group = "THERAPY",
                 covariates = c("BASVAL*VISIT", "THERAPY*VISIT"))
vars_an <- set_vars(subjid = "PATIENT", outcome = "CHANGE", visit = "VISIT", group = "THERAPY",
                    covariates = c("BASVAL"))
references <- c("DRUG" = "PLACEBO", "PLACEBO" = "PLACEBO")
source("converged_mmrm.R")   # mmrm run to convergence

samples_of <- function(d) {
  filled <- dat
  filled$CHANGE <- 0
  X <- as.matrix(rbmi:::as_model_df(filled, d$formula)[, -1])
  lapply(d$samples, function(s) list(ids = as.character(s$ids), mean = as.vector(X %*% s$beta),
                                     sigma = as.vector(s$sigma[["DRUG"]])))
}
estimates_of <- function(ana) {
  pars <- names(ana$results[[1]])
  setNames(lapply(pars, function(p) vapply(ana$results, function(r) r[[p]]$est, numeric(1))), pars)
}

set.seed(20260501)
t_cm <- system.time(d_cm <- draws(dat, dat_ice, vars, method_condmean(type = "bootstrap", n_samples = 20),
                                  quiet = TRUE))[["elapsed"]]
ana_cm <- analyse(impute(d_cm, references = references), ancova, vars = vars_an)
condmean <- list(samples = samples_of(d_cm), estimates = estimates_of(ana_cm),
                 percentile = as.data.frame(pool(ana_cm, type = "percentile")),
                 normal = as.data.frame(pool(ana_cm, type = "normal")),
                 percentile_90 = as.data.frame(pool(ana_cm, type = "percentile", conf.level = 0.9)))

set.seed(20260502)
t_bm <- system.time(d_bm <- draws(dat, dat_ice, vars, method_bmlmi(B = 10, D = 2), quiet = TRUE))[["elapsed"]]
ana_bm <- analyse(impute(d_bm, references = references), ancova, vars = vars_an)
bmlmi <- list(samples = samples_of(d_bm), estimates = estimates_of(ana_bm), D = 2,
              pooled = as.data.frame(pool(ana_bm)))

set.seed(20260503)
t_large <- system.time(d_large <- draws(dat, dat_ice, vars, method_bmlmi(B = 100, D = 5),
                                        quiet = TRUE))[["elapsed"]]
ana_large <- analyse(impute(d_large, references = references), ancova, vars = vars_an)
bmlmi_large <- list(B = 100, D = 5, ids = lapply(d_large$samples, function(s) as.character(s$ids)),
                    estimates = estimates_of(ana_large), pooled = as.data.frame(pool(ana_large)))

set.seed(20260504)
t_1000 <- system.time(d_1000 <- draws(dat, dat_ice, vars, method_bmlmi(B = 1000, D = 2), quiet = TRUE))[["elapsed"]]
bmlmi_1000 <- list(B = 1000, D = 2, pooled = as.data.frame(pool(analyse(impute(d_1000, references = references),
                                                                       ancova, vars = vars_an))))

writeLines(toJSON(list(source = paste("R", getRversion(), "rbmi", packageVersion("rbmi"), "mmrm",
                                      packageVersion("mmrm"), "draws(method_condmean(type = 'bootstrap',",
                                      "n_samples = 20)), draws(method_bmlmi(B = 10, D = 2)),",
                                      "draws(method_bmlmi(B = 100, D = 5)), draws(method_bmlmi(B = 1000, D = 2)); impute, analyse(ancova), pool;",
                                      "mmrm run to convergence (BFGS reltol 1e-14, else nlminb rel.tol 1e-10)"),
                       generated = format(Sys.Date()),
                       imputation_model = "CHANGE ~ THERAPY + VISIT + BASVAL*VISIT + THERAPY*VISIT, us(VISIT | PATIENT), REML",
                       analysis_model = "ancova per visit: CHANGE ~ THERAPY + BASVAL, counterfactual LS means",
                       ice = list(PATIENT = as.character(dat_ice$PATIENT), VISIT = as.character(dat_ice$VISIT),
                                  strategy = dat_ice$strategy),
                       draws_seconds = list(condmean_bootstrap_20 = t_cm, bmlmi_10_2 = t_bm, bmlmi_100_5 = t_large,
                                           bmlmi_1000_2 = t_1000),
                       condmean = condmean, bmlmi = bmlmi, bmlmi_large = bmlmi_large,
                       bmlmi_1000 = bmlmi_1000),
                  digits = NA, auto_unbox = TRUE), "condmean_boot_refs.json")
