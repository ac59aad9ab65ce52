# Reference values for conditional mean imputation with jackknife (trialmlm.missing.condmean).
# R 4.2, rbmi 1.5.2 (not in Debian: `git archive --prefix=rbmi/` of github.com/insightsengineering/rbmi
# at commit c872d4ac (release v1.5.2), `R CMD INSTALL`; Imports mmrm, R6, assertthat, jinjar, fs, stringr,
# pkgload, Matrix from Debian), mmrm 0.3.18, dplyr, jsonlite.  Run in this folder:
#   Rscript make_condmean_refs.R        (about two minutes: six jackknifes of 172 mmrm fits)
# rbmi fits the imputation model with mmrm's default optimizer (L-BFGS-B), which stops short of the
# REML optimum (log-likelihood 3e-6 below it on these data; covariances differ in the 4th-5th digit).
# The references `scenarios` are therefore computed with rbmi unchanged except that mmrm is run to
# convergence (optim BFGS with reltol 1e-14, else nlminb with rel.tol 1e-10: REML optima agree with
# trialmlm's to 12 digits); `as_shipped`
# holds rbmi's pooled results with mmrm's defaults, for the MAR and JR scenarios.
# Writes antidepressant.csv (rbmi's antidepressant_data, expanded to one row per subject and visit as in
# rbmi's quickstart vignette) and condmean_refs.json.
suppressPackageStartupMessages({library(rbmi); library(dplyr); library(jsonlite)})
data("antidepressant_data")
dat <- expand_locf(antidepressant_data, PATIENT = levels(antidepressant_data$PATIENT),
                   VISIT = levels(antidepressant_data$VISIT), vars = c("BASVAL", "THERAPY"),
                   group = c("PATIENT"), order = c("PATIENT", "VISIT"))
write.csv(dat[, c("PATIENT", "VISIT", "THERAPY", "BASVAL", "CHANGE")], "antidepressant.csv",
          row.names = FALSE, na = "")

# the quickstart's ICE table: first terminal missing visit, JR; subject 3618 (intermittent gap) is MAR
dat_ice <- dat %>% arrange(PATIENT, VISIT) %>% filter(is.na(CHANGE)) %>% group_by(PATIENT) %>%
  slice(1) %>% ungroup() %>% select(PATIENT, VISIT) %>% mutate(strategy = "JR")
dat_ice <- dat_ice[-which(dat_ice$PATIENT == 3618), ]
dat_ice <- as.data.frame(dat_ice)

# "early": every ICE one visit earlier (not before the first visit), strategies cycling over subjects,
# so that observed values follow non-MAR ICEs (excluded from the imputation model) and MAR ICEs (used)
visits <- levels(dat$VISIT)
early <- dat_ice
index <- pmax(match(as.character(early$VISIT), visits) - 1, 1)
early$VISIT <- factor(visits[index], levels = visits)
early$strategy <- rep(c("JR", "MAR", "CIR", "LMCF", "CR"), length.out = nrow(early))
early$strategy[early$strategy == "LMCF" & index == 1] <- "JR"

vars <- set_vars(outcome = "CHANGE", visit = "VISIT", subjid = "PATIENT", group = "THERAPY",
                 covariates = c("BASVAL*VISIT", "THERAPY*VISIT"))
vars_an <- set_vars(subjid = "PATIENT", outcome = "CHANGE", visit = "VISIT", group = "THERAPY",
                    covariates = c("BASVAL"))
references <- c("DRUG" = "PLACEBO", "PLACEBO" = "PLACEBO")

summarise_run <- function(draws_obj, update = NULL) {
  imp <- impute(draws_obj, references = references, update_strategy = update)
  full <- extract_imputed_dfs(imp, index = 1, idmap = TRUE)[[1]]   # rbmi renames subjects new_pt_1, ...
  full$PATIENT <- attr(full, "idmap")[as.character(full$PATIENT)]
  ana <- analyse(imp, ancova, vars = vars_an)
  pooled <- as.data.frame(pool(ana))
  list(pooled = pooled,
       completed = list(PATIENT = as.character(full$PATIENT), VISIT = as.character(full$VISIT),
                        CHANGE = full$CHANGE),
       n_jackknife = length(imp$imputations) - 1)
}

method <- method_condmean(type = "jackknife")   # us, REML = TRUE, same_cov = TRUE
as_shipped <- list()
for (name in c("MAR", "JR")) {
  ice <- if (name == "MAR") mutate(dat_ice, strategy = "MAR") else dat_ice
  d <- draws(dat, ice, vars, method, quiet = TRUE)
  as_shipped[[name]] <- as.data.frame(pool(analyse(impute(d, references = references), ancova, vars = vars_an)))
}

source("converged_mmrm.R")   # mmrm run to convergence

scenarios <- list()
timing <- list()
for (name in c("MAR", "JR", "early")) {
  ice <- switch(name, MAR = mutate(dat_ice, strategy = "MAR"), JR = dat_ice, early = early)
  timing[[name]] <- system.time(d <- draws(dat, ice, vars, method, quiet = TRUE))[["elapsed"]]
  scenarios[[name]] <- c(list(ice = list(PATIENT = as.character(ice$PATIENT),
                                         VISIT = as.character(ice$VISIT), strategy = ice$strategy)),
                         summarise_run(d))
  if (name == "JR") {
    for (s in c("CR", "CIR", "LMCF")) {
      scenarios[[s]] <- c(list(ice = list(PATIENT = as.character(dat_ice$PATIENT),
                                          VISIT = as.character(dat_ice$VISIT),
                                          strategy = rep(s, nrow(dat_ice)))),
                          summarise_run(d, mutate(dat_ice, strategy = s)))
    }
  }
}
writeLines(toJSON(list(source = paste("R", getRversion(), "rbmi", packageVersion("rbmi"), "mmrm",
                                      packageVersion("mmrm"),
                                      "draws(method_condmean(type = 'jackknife')), impute, analyse(ancova), pool;",
                                      "scenarios: mmrm run to convergence (BFGS reltol 1e-14, else nlminb rel.tol 1e-10)"),
                       generated = format(Sys.Date()),
                       imputation_model = "CHANGE ~ THERAPY + VISIT + BASVAL*VISIT + THERAPY*VISIT, us(VISIT | PATIENT), REML",
                       analysis_model = "ancova per visit: CHANGE ~ THERAPY + BASVAL, counterfactual LS means",
                       references = as.list(references), draws_seconds = timing, scenarios = scenarios,
                       as_shipped = as_shipped),
                  digits = NA, auto_unbox = TRUE, pretty = TRUE), "condmean_refs.json")
