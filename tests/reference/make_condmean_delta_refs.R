# Reference values for delta adjustment of conditional mean imputation (trialmlm.missing.condmean(delta=)
# and trialmlm.missing.delta_template).  R 4.2, rbmi 1.5.2, mmrm 0.3.18, dplyr, jsonlite (installed as for
# make_condmean_refs.R, whose antidepressant.csv this reads).  Run in this folder:
#   Rscript make_condmean_delta_refs.R        (about a minute: one jackknife of 172 mmrm fits)
# As in make_condmean_refs.R, mmrm is run to convergence (BFGS reltol 1e-14, else nlminb rel.tol 1e-10).
# The quickstart's ICE table (JR), then analyse(ancova, delta = ...) with
#   constant: delta 2 on every imputed value of the DRUG arm (rbmi's delta_template edited by hand);
#   dlag:     delta_template(imp, delta = c(0.5, 1, 1.5, 2), dlag = c(1, 1, 0.5, 0.25)) (missing_only = TRUE),
#             whose delta column (one row per subject and visit) is stored as `template`.
# Writes condmean_delta_refs.json.
suppressPackageStartupMessages({library(rbmi); library(dplyr); library(jsonlite)})
dat <- read.csv("antidepressant.csv", colClasses = c(PATIENT = "character", VISIT = "character"))
dat$PATIENT <- factor(dat$PATIENT)
dat$VISIT <- factor(dat$VISIT)
dat$THERAPY <- factor(dat$THERAPY, levels = c("DRUG", "PLACEBO"))
dat_ice <- dat %>% arrange(PATIENT, VISIT) %>% filter(is.na(CHANGE)) %>% group_by(PATIENT) %>%
  slice(1) %>% ungroup() %>% select(PATIENT, VISIT) %>% mutate(strategy = "JR")
dat_ice <- as.data.frame(dat_ice[-which(dat_ice$PATIENT == 3618), ])

vars <- set_vars(outcome = "CHANGE", visit = "VISIT", subjid = "PATIENT", group = "THERAPY",
                 covariates = c("BASVAL*VISIT", "THERAPY*VISIT"))
vars_an <- set_vars(subjid = "PATIENT", outcome = "CHANGE", visit = "VISIT", group = "THERAPY",
                    covariates = c("BASVAL"))
references <- c("DRUG" = "PLACEBO", "PLACEBO" = "PLACEBO")

source("converged_mmrm.R")   # mmrm run to convergence

d <- draws(dat, dat_ice, vars, method_condmean(type = "jackknife"), quiet = TRUE)
imp <- impute(d, references = references)

constant <- delta_template(imp)
constant$delta <- ifelse(constant$is_missing & constant$THERAPY == "DRUG", 2, 0)
dlag <- delta_template(imp, delta = c(0.5, 1, 1.5, 2), dlag = c(1, 1, 0.5, 0.25))
pooled <- function(delta) as.data.frame(pool(analyse(imp, ancova, delta = delta, vars = vars_an)))
scenarios <- list(
  constant = list(delta = 2, arm = "DRUG", pooled = pooled(constant)),
  dlag = list(delta = c(0.5, 1, 1.5, 2), dlag = c(1, 1, 0.5, 0.25), pooled = pooled(dlag),
              template = list(PATIENT = as.character(dlag$PATIENT), VISIT = as.character(dlag$VISIT),
                              is_mar = dlag$is_mar, is_missing = dlag$is_missing,
                              is_post_ice = dlag$is_post_ice, strategy = dlag$strategy, delta = dlag$delta)))
writeLines(toJSON(list(source = paste("R", getRversion(), "rbmi", packageVersion("rbmi"), "mmrm",
                                      packageVersion("mmrm"),
                                      "draws(method_condmean(type = 'jackknife')), impute, delta_template,",
                                      "analyse(ancova, delta = ...), pool; mmrm run to convergence"),
                       generated = format(Sys.Date()),
                       ice = list(PATIENT = as.character(dat_ice$PATIENT), VISIT = as.character(dat_ice$VISIT),
                                  strategy = dat_ice$strategy),
                       scenarios = scenarios),
                  digits = NA, auto_unbox = TRUE, pretty = TRUE), "condmean_delta_refs.json")
