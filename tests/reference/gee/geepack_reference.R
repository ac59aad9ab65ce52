# Reference values for tests/test_gee.py: R geepack::geeglm (geepack 1.3.9, R 4.2).
# Run from the repository root:  Rscript tests/reference/gee/geepack_reference.R
# Writes the data sets (ohio.csv, respiratory.csv, trial.csv) and geepack.json beside this
# script.  geeglm runs to tight convergence: geese.control(epsilon = 1e-10, maxit = 100).
# waves = the visit's level number (geeglm: as.integer(factor(waves))), as trialmlm's visit=.
library(geepack)
library(jsonlite)
out_dir <- "tests/reference/gee"
ctl <- geese.control(epsilon = 1e-10, maxit = 100)

data(ohio)
write.csv(ohio, file.path(out_dir, "ohio.csv"), row.names = FALSE)
data(respiratory)
resp <- respiratory
resp$visit <- paste0("V", resp$visit)
resp$site <- paste0("C", resp$center)
resp$sid <- paste(resp$center, resp$id, sep = "-")
resp <- resp[order(resp$sid, resp$visit), ]
resp$sidn <- as.integer(factor(resp$sid))  # geeglm needs a numeric or factor id
write.csv(resp, file.path(out_dir, "respiratory.csv"), row.names = FALSE)

# A simulated three-arm trial (unbalanced arms), 6 visits, intermittent and monotone missing
# visits; a binary responder flag (Y/N text) and an event count with an exposure (days).
set.seed(20260522)
n <- 240
arm <- sample(c("Placebo", "Low", "High"), n, replace = TRUE, prob = c(0.4, 0.3, 0.3))
base <- round(rnorm(n, 20, 4), 1)
u <- rnorm(n, 0, 1)
trial <- do.call(rbind, lapply(seq_len(n), function(i) {
  v <- 1:6
  eff <- c(Placebo = 0, Low = 0.15, High = 0.3)[arm[i]] * v
  p <- plogis(-1 + eff - 0.05 * (base[i] - 20) + 0.8 * u[i])
  days <- sample(20:35, 6, replace = TRUE)
  rate <- exp(-2.5 - 0.08 * eff + 0.03 * (base[i] - 20) + 0.5 * u[i])
  data.frame(USUBJID = sprintf("S%03d", i), ARM = arm[i], BASE = base[i], AVISIT = paste0("W", v * 2),
             VISITN = v, RESP = ifelse(runif(6) < p, "Y", "N"), EVENTS = rpois(6, rate * days),
             DAYS = days)
}))
drop_after <- sample(2:7, n, replace = TRUE, prob = c(0.05, 0.05, 0.05, 0.05, 0.1, 0.7))
keep <- trial$VISITN < drop_after[match(trial$USUBJID, sprintf("S%03d", seq_len(n)))]
keep <- keep & runif(nrow(trial)) > 0.08  # intermittent missing visits
trial <- trial[keep, ]
trial$AVISIT <- factor(trial$AVISIT, levels = paste0("W", (1:6) * 2))
trial$ARM <- factor(trial$ARM, levels = c("High", "Low", "Placebo"))
write.csv(trial, file.path(out_dir, "trial.csv"), row.names = FALSE)
trial <- read.csv(file.path(out_dir, "trial.csv"))  # the data exactly as the test reads them
trial$AVISIT <- factor(trial$AVISIT, levels = paste0("W", (1:6) * 2))
trial$RESPN <- as.integer(trial$RESP == "Y")
trial$SUBJN <- as.integer(factor(trial$USUBJID))
trial$LOGDAYS <- log(trial$DAYS)

summarise <- function(name, fit, data, python) {
  naive <- matrix(fit$geese$vbeta.naiv, length(coef(fit)))
  qic <- QIC(fit)
  list(name = name, python = python,
       coef = as.list(coef(fit)), se = as.list(sqrt(diag(vcov(fit)))),
       se_naive = as.list(setNames(sqrt(diag(naive)), names(coef(fit)))),
       alpha = unname(fit$geese$alpha), scale = unname(fit$geese$gamma),
       qic = unname(qic["QIC"]), qicu = unname(qic["QICu"]), quasi = unname(qic["Quasi Lik"]))
}

cases <- list()
for (cs in c("independence", "exchangeable", "ar1", "unstructured")) {
  f <- geeglm(resp ~ age + smoke, id = id, waves = age, data = ohio, family = binomial, corstr = cs,
              control = ctl)
  cases[[length(cases) + 1]] <- summarise(paste0("ohio_", cs), f, ohio, list(
    data = "ohio.csv", formula = "resp ~ age + smoke", family = "binomial", link = "logit", working = cs,
    subject = "id", visit = "age"))
}
for (lk in c("logit", "probit")) {
  f <- geeglm(outcome ~ site + treat * visit + sex + age + baseline, id = sidn, waves = as.integer(factor(visit)), data = resp,
              family = binomial(link = lk), corstr = "exchangeable", control = ctl)
  cases[[length(cases) + 1]] <- summarise(paste0("respiratory_", lk), f, resp, list(
    data = "respiratory.csv", formula = "outcome ~ site + treat * visit + sex + age + baseline",
    family = "binomial", link = lk, working = "exchangeable", subject = "sid", visit = "visit"))
}
# binomial with the identity link: geeglm loops without end here (geese's update_beta halves
# the step while a mean is outside (0, 1), with no limit), so no identity-link case.
# unstructured is left out: geeglm aborts R on these data (intermittent missing visits)
for (cs in c("exchangeable", "ar1")) {
  f <- geeglm(RESPN ~ BASE + ARM * AVISIT, id = SUBJN, waves = as.integer(AVISIT), data = trial, family = binomial,
              corstr = cs, control = ctl)
  cases[[length(cases) + 1]] <- summarise(paste0("trial_binary_", cs), f, trial, list(
    data = "trial.csv", formula = "RESP ~ BASE + ARM * AVISIT", family = "binomial", link = "logit",
    working = cs, subject = "USUBJID", visit = "AVISIT"))
}
for (cs in c("independence", "exchangeable", "ar1")) {
  f <- geeglm(EVENTS ~ BASE + ARM + AVISIT + offset(LOGDAYS), id = SUBJN, waves = as.integer(AVISIT), data = trial,
              family = poisson, corstr = cs, control = ctl)
  cases[[length(cases) + 1]] <- summarise(paste0("trial_count_", cs), f, trial, list(
    data = "trial.csv", formula = "EVENTS ~ BASE + ARM + AVISIT", family = "poisson", link = "log",
    working = cs, subject = "USUBJID", visit = "AVISIT", offset = "LOGDAYS"))
}
writeLines(toJSON(cases, auto_unbox = TRUE, digits = NA, pretty = TRUE), file.path(out_dir, "geepack.json"))
