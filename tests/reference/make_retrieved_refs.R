# Reference values for retrieved-dropout imputation models and user-defined imputation strategies
# (trialmlm.missing.condmean with time-varying covariates and strategies=).
# R 4.2, rbmi 1.5.2 (built as described in make_condmean_refs.R), mmrm 0.3.18, dplyr, jsonlite.
# Run in this folder:   Rscript make_retrieved_refs.R      (about five minutes: five jackknifes)
# mmrm is run to convergence (nlminb with rel.tol 1e-12, else BFGS with reltol 1e-14; see below).
#
# 1. rbmi's vignette "retrieved_dropout": data from simulate_data() with the vignette's seed and
#    parameters (two arms x 100 subjects, 4 visits, treatment discontinuation ind_ice1 with 50% study
#    dropout after it); the vignette's three imputation models with data_ice = NULL (everyone MAR):
#      basic MAR  change ~ outcome_bl*visit + group*visit
#      RD1        change ~ outcome_bl*visit + group*visit + time_since_ice1*group
#      RD2        change ~ outcome_bl*visit + group*visit + ind_ice1*group*visit
#    conditional mean imputation with jackknife, ANCOVA per visit on outcome_bl.  Also RD2 with the
#    observed post-discontinuation values of Control at visit 1 removed ("RD2_empty_cell"): the
#    imputation model is then rank-deficient and rbmi stops; its error message is stored, with mmrm's
#    for that model and for a cell left with one subject's value, refitted without that subject.
# 2. rbmi's vignette "advanced": data from simulate_data() with that vignette's seed (6 visits), the
#    ICE table data_ice_CIR with the strategy CIR replaced by the user-defined strategy AVG
#    (strategy_AVG of the vignette: after the ICE the average of the own-arm and reference means,
#    the own arm's covariance), impute(strategies = getStrategies(AVG = strategy_AVG)); and a second
#    user-defined strategy W75 (after the ICE 0.25 x own + 0.75 x reference mean, the reference
#    covariance), by update_strategy on the same draws.
# Writes retrieved_dropout.csv, advanced_ice.csv and retrieved_refs.json.
suppressPackageStartupMessages({library(rbmi); library(dplyr); library(jsonlite)})

## 1. retrieved dropout ----------------------------------------------------------------------------
set.seed(1392)
time <- c(0, 3, 6, 9, 12)
muC <- c(50.0, 52.5, 55.0, 57.5, 60.0)
muT <- c(50.0, 52.5, 55.0, 56.25, 57.50)
sd_error <- 2.5
covRE <- rbind(c(25.0, 6.25), c(6.25, 25.0))
Sigma <- cbind(1, time / 12) %*% covRE %*% rbind(1, time / 12) + diag(sd_error^2, nrow = length(time))
parsC <- set_simul_pars(mu = muC, sigma = Sigma, n = 100, prob_ice1 = 0.03, or_outcome_ice1 = 1.10,
                        prob_post_ice1_dropout = 0.5)
parsT <- parsC
parsT$mu <- muT
parsT$prob_ice1 <- 0.04
rd <- simulate_data(pars_c = parsC, pars_t = parsT, post_ice1_traj = "CIR") %>%
  select(-c(outcome_noICE, ind_ice2))
rd <- rd %>% filter(visit != "0") %>%
  mutate(change = outcome - outcome_bl, visit = factor(visit, levels = unique(visit)))
rd <- rd %>% group_by(id) %>% mutate(time_since_ice1 = cumsum(ind_ice1) * 3) %>% ungroup() %>%
  as.data.frame()
write.csv(rd[, c("id", "group", "visit", "outcome_bl", "ind_ice1", "time_since_ice1", "change")],
          "retrieved_dropout.csv", row.names = FALSE, na = "")

## 2. the advanced vignette's data ----------------------------------------------------------------
set.seed(122)
n <- 100
time <- c(0, 2, 4, 6, 8, 10, 12)
muC <- c(50.0, 51.66667, 53.33333, 55.0, 56.66667, 58.33333, 60.0)
muT <- c(50.0, 51.66667, 53.33333, 54.16667, 55.0, 55.83333, 56.66667)
Sigma <- cbind(1, time / 12) %*% covRE %*% rbind(1, time / 12) + diag(sd_error^2, nrow = length(time))
parsC <- set_simul_pars(mu = muC, sigma = Sigma, n = n, prob_ice1 = 0.02, or_outcome_ice1 = 1.10,
                        prob_post_ice1_dropout = 0.5)
parsT <- parsC
parsT$mu <- muT
parsT$prob_ice1 <- 0.03
adv <- simulate_data(pars_c = parsC, pars_t = parsT, post_ice1_traj = "CIR")
data_ice_CIR <- adv %>% group_by(id) %>% filter(ind_ice1 == 1) %>%
  mutate(strategy = ifelse(group == "Intervention", "CIR", "MAR")) %>%
  summarise(visit = visit[1], strategy = strategy[1])
adv <- adv %>% filter(visit != 0) %>%
  mutate(change = outcome - outcome_bl, visit = factor(visit, levels = unique(visit))) %>% as.data.frame()
data_ice_CIR <- data_ice_CIR %>% mutate(visit = factor(as.character(visit), levels = levels(adv$visit))) %>%
  as.data.frame()
write.csv(adv[, c("id", "group", "visit", "outcome_bl", "change")], "advanced_ice.csv", row.names = FALSE,
          na = "")

strategy_AVG <- function(pars_group, pars_ref, index_mar) {
  mu_mean <- (pars_group$mu + pars_ref$mu) / 2
  x <- pars_group
  x$mu[!index_mar] <- mu_mean[!index_mar]
  return(x)
}
strategy_W75 <- function(pars_group, pars_ref, index_mar) {
  mu <- pars_group$mu
  mu[!index_mar] <- 0.25 * pars_group$mu[!index_mar] + 0.75 * pars_ref$mu[!index_mar]
  list(mu = mu, sigma = pars_ref$sigma)
}

## runs -------------------------------------------------------------------------------------------
source("converged_mmrm.R")
# On the advanced vignette's data (6 visits, 21 covariance parameters) BFGS with reltol 1e-14 stops
# ~1e-7 short in the coefficients (log-likelihood 1e-13 below nlminb's optimum): nlminb first here.
converged_mmrm <- function(formula, data, reml, n_cores, accept_singular) {
  fit_with <- function(optimizer, optimizer_control) {
    mmrm_as_shipped(formula = formula, data = data, reml = reml,
                    control = mmrm::mmrm_control(n_cores = n_cores, accept_singular = accept_singular,
                                                 optimizer = optimizer, optimizer_control = optimizer_control))
  }
  tryCatch(fit_with("nlminb", list(rel.tol = 1e-12, eval.max = 2000, iter.max = 2000)),
           error = function(e) fit_with("BFGS", list(reltol = 1e-14, maxit = 1000)))
}
assignInNamespace("mmrm", converged_mmrm, ns = "mmrm")
method <- method_condmean(type = "jackknife")   # us, REML = TRUE, same_cov = TRUE
vars_of <- function(covariates, strategy = NULL) {
  v <- set_vars(subjid = "id", visit = "visit", outcome = "change", group = "group", covariates = covariates)
  if (!is.null(strategy)) v$strategy <- strategy
  v
}
vars_an <- vars_of("outcome_bl")
references <- c("Control" = "Control", "Intervention" = "Control")
summarise_run <- function(imp) {
  full <- extract_imputed_dfs(imp, index = 1, idmap = TRUE)[[1]]
  full$id <- attr(full, "idmap")[as.character(full$id)]
  list(pooled = as.data.frame(pool(analyse(imp, ancova, vars = vars_an))),
       completed = list(id = as.character(full$id), visit = as.character(full$visit), change = full$change),
       n_jackknife = length(imp$imputations) - 1)
}

models <- list(
  basic_MAR = c("outcome_bl*visit", "group*visit"),
  RD1 = c("outcome_bl*visit", "group*visit", "time_since_ice1*group"),
  RD2 = c("outcome_bl*visit", "group*visit", "ind_ice1*group*visit"))
retrieved <- list()
timing <- list()
for (name in names(models)) {
  timing[[name]] <- system.time(d <- draws(rd, NULL, vars_of(models[[name]]), method, quiet = TRUE))[["elapsed"]]
  retrieved[[name]] <- c(list(covariates = models[[name]]), summarise_run(impute(d, references = references)))
}

empty <- rd
empty$change[empty$group == "Control" & empty$visit == "1" & empty$ind_ice1 == 1] <- NA
empty_error <- tryCatch({
  draws(empty, NULL, vars_of(models$RD2), method, quiet = TRUE)
  "no error"
}, error = function(e) conditionMessage(e))
# the reason, from mmrm itself: the empty cell, and a cell left with one subject's value (the first
# observed Control x visit 1 x off-treatment value kept) refitted without that subject (its jackknife refit)
rd2 <- change ~ 1 + group + visit + outcome_bl*visit + group*visit + ind_ice1*group*visit + us(visit | id)
mmrm_error <- function(dat) {
  dat$id <- factor(dat$id)
  tryCatch({
    mmrm_as_shipped(rd2, data = dat, accept_singular = FALSE)
    "no error"
  }, error = function(e) conditionMessage(e))
}
cell <- rd$group == "Control" & rd$visit == "1" & rd$ind_ice1 == 1 & !is.na(rd$change)
single <- rd
single$change[cell & seq_len(nrow(rd)) != which(cell)[1]] <- NA
single_id <- as.character(rd$id[which(cell)[1]])
mmrm_errors <- list(empty_cell = mmrm_error(empty), single_subject = single_id,
                    single_full_data = mmrm_error(single),
                    single_without_subject = mmrm_error(single[single$id != single_id, ]))

ice_avg <- data_ice_CIR %>% mutate(strategy = ifelse(strategy == "CIR", "AVG", strategy))
ice_w75 <- data_ice_CIR %>% mutate(strategy = ifelse(strategy == "CIR", "W75", strategy))
vars_adv <- vars_of(c("visit*outcome_bl", "visit*group"), strategy = "strategy")
user <- getStrategies(AVG = strategy_AVG, W75 = strategy_W75)
timing$advanced <- system.time(d <- draws(adv, ice_avg, vars_adv, method, quiet = TRUE))[["elapsed"]]
table_of <- function(ice) list(id = as.character(ice$id), visit = as.character(ice$visit), strategy = ice$strategy)
advanced <- list(
  AVG = c(list(ice = table_of(ice_avg)), summarise_run(impute(d, references = references, strategies = user))),
  W75 = c(list(ice = table_of(ice_w75)),
          summarise_run(impute(d, references = references, strategies = user, update_strategy = ice_w75))))

writeLines(toJSON(list(source = paste("R", getRversion(), "rbmi", packageVersion("rbmi"), "mmrm",
                                      packageVersion("mmrm"),
                                      "draws(method_condmean(type = 'jackknife')), impute, analyse(ancova), pool;",
                                      "mmrm run to convergence (nlminb rel.tol 1e-12, else BFGS reltol 1e-14)"),
                       generated = format(Sys.Date()),
                       imputation_model = "change ~ group + visit + <covariates>, us(visit | id), REML",
                       analysis_model = "ancova per visit: change ~ group + outcome_bl, counterfactual LS means",
                       references = as.list(references), draws_seconds = timing,
                       retrieved = retrieved, empty_cell_error = empty_error, mmrm_errors = mmrm_errors,
                       advanced = advanced),
                  digits = NA, auto_unbox = TRUE, pretty = TRUE), "retrieved_refs.json")
