## Checks the SAS PROC GLIMMIX values printed in PSIAIMS/CAMIS (sas_printed.json, see README.md)
## against lme4::glmer on the same data, and writes the data as respiratory.csv.
## Run from this folder:  Rscript make_sas_check.R   (~20 s)  -> respiratory.csv glmer_check.json
suppressPackageStartupMessages({library(lme4); library(geepack); library(jsonlite)})
source("../glmm/agq_loglik.R")

data(respiratory, package = "geepack")
g <- respiratory
d <- data.frame(usubjid = sprintf("%d-%02d", g$center, g$id), center = g$center, id = g$id,
                trtp = as.character(g$treat), sex = as.character(g$sex), age = g$age,
                base = g$baseline, avisitn = g$visit, outcome = g$outcome)
write.csv(d, "respiratory.csv", row.names = FALSE)

d$trtp <- factor(d$trtp, levels = c("P", "A"))        # SAS class trtp(ref="P")
d$avisitn <- factor(d$avisitn, levels = 1:4)           # SAS class avisitn(ref='1')
form <- outcome ~ trtp * avisitn + (1 | usubjid)
ctrl <- glmerControl(optimizer = "bobyqa", optCtrl = list(maxfun = 1e5), tolPwrss = 1e-12)
sas <- fromJSON("sas_printed.json", simplifyVector = FALSE)

fit_one <- function(nAGQ, label) {
  fit <- glmer(form, d, binomial, nAGQ = nAGQ, control = ctrl)
  X <- getME(fit, "X"); grp <- as.integer(factor(d$usubjid))
  dev <- update(fit, devFunOnly = TRUE)
  par <- c(getME(fit, "theta"), fixef(fit))
  H <- numDeriv::hessian(function(p) dev(p), par)      # deviance in (theta, beta)
  V <- 2 * solve(H)
  se <- sqrt(diag(V))[-1]
  own <- agq_loglik(fixef(fit), matrix(getME(fit, "theta")^2), d$outcome, X, matrix(1, nrow(d), 1), grp,
                    family = "binomial", nAGQ = nAGQ)
  printed <- sas$fits[[label]]
  est_sas <- unlist(printed$estimate); se_sas <- unlist(printed$se)
  ## how far SAS's printed estimates are from the maximum: the variance maximised with beta held at
  ## SAS's printed values, the log-likelihood lost there, and SAS's GCONV criterion g'H^{-1}g/|f| there
  ## (f = -loglik; GLIMMIX stops when it falls below 1e-8)
  at_sas <- optimize(function(t) dev(c(t, est_sas)), c(0.5, 5), tol = 1e-10)
  p_sas <- c(at_sas$minimum, est_sas)
  g <- numDeriv::grad(dev, p_sas); Hs <- numDeriv::hessian(dev, p_sas)
  list(nAGQ = nAGQ, names = names(fixef(fit)), fixef = unname(fixef(fit)), se_fixef_numderiv = unname(se),
       variance = unname(getME(fit, "theta")^2), loglik = as.numeric(logLik(fit)) +
         if (nAGQ > 1) sum(dbinom(d$outcome, 1, d$outcome, log = TRUE)) else 0,
       loglik_own_agq = own, convergence = fit@optinfo$conv$opt,
       max_abs_diff_fixef_vs_sas = max(abs(fixef(fit) - est_sas)),
       max_abs_diff_se_vs_sas = max(abs(se - se_sas)),
       loglik_gap_at_sas_estimates = (at_sas$objective - dev(par)) / 2,
       gconv_at_sas_estimates = sum(g * solve(Hs, g)) / 2 / (at_sas$objective / 2))
}
out <- list(generated = format(Sys.time(), "%Y-%m-%d"),
            packages = lapply(c(lme4 = "lme4", geepack = "geepack", numDeriv = "numDeriv"),
                              function(p) as.character(packageVersion(p))),
            fits = list(ghq5 = fit_one(5, "glimmix_quad5"), laplace = fit_one(1, "glimmix_laplace")))
for (k in names(out$fits)) cat(k, "max |glmer - SAS| fixef", out$fits[[k]]$max_abs_diff_fixef_vs_sas,
                               "se", out$fits[[k]]$max_abs_diff_se_vs_sas, "loglik", out$fits[[k]]$loglik,
                               "gap at SAS estimates", out$fits[[k]]$loglik_gap_at_sas_estimates,
                               "GCONV there", out$fits[[k]]$gconv_at_sas_estimates, "\n")
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE), "glmer_check.json")
