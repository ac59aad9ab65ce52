# Reference values for tests/test_glmm_multilevel.py: lme4 glmer by the Laplace approximation
# (nAGQ = 1, the only choice lme4 allows with several random-effect terms) for nested and crossed
# grouping factors, with treatment contrasts (first level the reference), as trialmlm encodes them.
# Run from this folder: Rscript make_multilevel_refs.R  (writes *.csv and multilevel_refs.json)
suppressPackageStartupMessages({library(lme4); library(numDeriv); library(jsonlite)})
options(contrasts = c("contr.treatment", "contr.poly"))
# tolPwrss = 1e-12: lme4's default (1e-7) stops the penalised IRLS for the conditional modes early
# enough to move the Laplace log-likelihood by ~1e-3 (tests/reference/glmm/README.md).
ctrl <- glmerControl(optimizer = "bobyqa", optCtrl = list(maxfun = 1e5), tolPwrss = 1e-12)

# (a) lme4's VerbAgg: 316 respondents (id) crossed with 24 items
verb <- with(lme4::VerbAgg, data.frame(id = as.integer(as.character(id)), item = as.character(item),
                                      Anger = Anger, Gender = as.character(Gender),
                                      btype = as.character(btype), situ = as.character(situ),
                                      r2 = as.character(r2)))
write.csv(verb, "verbagg.csv", row.names = FALSE)

# (b) a nested binary trial: 20 sites, 300 subjects (15 per site), 5 visits, arm x visit
set.seed(20261207)
n_site <- 20; per_site <- 15; weeks <- 0:4
n <- n_site * per_site
subj <- data.frame(USUBJID = sprintf("S%02d-%03d", rep(1:n_site, each = per_site), 1:n),
                   SITE = sprintf("S%02d", rep(1:n_site, each = per_site)),
                   TRT = sample(rep(c("Active", "Placebo"), length.out = n)))
nest <- subj[rep(1:n, each = length(weeks)), ]
nest$WEEK <- rep(weeks, n)
nest$AVISIT <- sprintf("Week %d", nest$WEEK)
site_b <- rnorm(n_site, 0, 0.5)[as.integer(factor(nest$SITE))]
u <- MASS::mvrnorm(n, c(0, 0), matrix(c(2.0, -0.2, -0.2, 0.3), 2))[as.integer(factor(nest$USUBJID)), ]
eta <- -0.6 + 0.08 * nest$WEEK + 0.12 * (nest$TRT == "Active") * nest$WEEK + site_b + u[, 1] + u[, 2] * nest$WEEK
nest$CRIT1FL <- rbinom(nrow(nest), 1, plogis(eta))
# a Poisson count per visit with a log exposure offset, same sites and subjects
nest$EXPOSURE <- round(runif(nrow(nest), 0.5, 2), 2)
nest$LOGEXP <- log(nest$EXPOSURE)
nest$COUNT <- rpois(nrow(nest), exp(0.3 - 0.4 * (nest$TRT == "Active") + 0.03 * nest$WEEK + site_b + u[, 1] + nest$LOGEXP))
rownames(nest) <- NULL
write.csv(nest, "nested_trial.csv", row.names = FALSE)

# (c) lme4's cbpp with an observation-level random effect (overdispersion)
cbpp_obs <- transform(lme4::cbpp, herd = as.character(herd), period = paste0("P", period),
                      obs = seq_len(nrow(lme4::cbpp)))
write.csv(cbpp_obs, "cbpp_obs.csv", row.names = FALSE)

loglik_constant <- function(fit) {
  y <- getME(fit, "y"); w <- weights(fit)
  if (family(fit)$family == "binomial") return(sum(lchoose(w, round(y * w))))
  -sum(lgamma(y + 1))
}

record_fit <- function(label, formula, data, family, call_text) {
  fit <- glmer(formula, data = data, family = family, control = ctrl)
  # bobyqa can stop early on a flat surface (VerbAgg: 0.027 below the optimum, deviance gradient
  # up to 1.7): restart it from its own estimates until the log-likelihood gains less than 1e-9
  restarts <- 0
  repeat {
    again <- glmer(formula, data = data, family = family, control = ctrl,
                   start = list(theta = getME(fit, "theta"), fixef = fixef(fit)))
    gain <- as.numeric(logLik(again)) - as.numeric(logLik(fit))
    if (gain > 0) fit <- again
    restarts <- restarts + 1
    if (gain < 1e-9 || restarts >= 20) break
  }
  conv <- fit@optinfo$conv
  stopifnot(conv$opt == 0, !isSingular(fit))
  devfun <- update(fit, devFunOnly = TRUE)   # deviance of (theta, beta), Laplace
  theta <- getME(fit, "theta"); beta <- fixef(fit)
  par <- c(theta, beta)
  stopifnot(abs(devfun(par) + 2 * as.numeric(logLik(fit))) < 1e-8)
  grad <- numDeriv::grad(devfun, par, method = "Richardson")
  stopifnot(max(abs(grad)) < 1e-3)
  hess <- numDeriv::hessian(devfun, par)
  se <- sqrt(diag(2 * solve(hess)))         # inverse observed information of (theta, beta)
  nth <- length(theta)
  vc <- VarCorr(fit)
  terms <- lapply(names(vc), function(f) {
    G <- as.matrix(vc[[f]]); attr(G, "stddev") <- NULL; attr(G, "correlation") <- NULL
    re <- ranef(fit)[[f]]
    list(factor = f, names = colnames(G), G = unname(lapply(seq_len(nrow(G)), function(i) G[i, ])),
         levels = rownames(re), modes = unname(lapply(seq_len(ncol(re)), function(j) re[[j]])))
  })
  cat(sprintf("%-28s loglik %.8f  max|grad| %.1e\n", label, as.numeric(logLik(fit)), max(abs(grad))))
  list(label = label, call = call_text, n_obs = nobs(fit), n_groups = as.list(ngrps(fit)),
       coef_names = names(beta), fixef = unname(beta),
       se_fixef_numderiv = unname(se[-seq_len(nth)]),
       se_fixef_lme4 = unname(sqrt(diag(as.matrix(vcov(fit))))),
       theta = unname(theta), theta_names = names(theta), terms = terms,
       loglik = as.numeric(logLik(fit)), loglik_constant = loglik_constant(fit),
       n_par = attr(logLik(fit), "df"), aic = AIC(fit), bic = BIC(fit),
       convergence = list(opt_code = conv$opt, lme4_messages = unlist(conv$lme4$messages),
                          max_abs_grad_deviance = max(abs(grad)), restarts = restarts, feval = fit@optinfo$feval))
}

fits <- list()
fits$verbagg <- record_fit("verbagg", r2 ~ Anger + Gender + btype + situ + (1 | id) + (1 | item),
  # lme4's own level order of id and item (the optimizer's path depends on the column order of Z)
  transform(verb, r2 = factor(r2, levels = c("N", "Y")), id = factor(id, levels = levels(lme4::VerbAgg$id)),
            item = factor(item, levels = levels(lme4::VerbAgg$item))), binomial,
  "glmer(r2 ~ Anger + Gender + btype + situ + (1 | id) + (1 | item), VerbAgg, binomial)")
fits$nested_ri <- record_fit("nested_ri", CRIT1FL ~ TRT * AVISIT + (1 | SITE) + (1 | USUBJID), nest, binomial,
  "glmer(CRIT1FL ~ TRT * AVISIT + (1 | SITE) + (1 | USUBJID), nested_trial, binomial)")
fits$nested_slope <- record_fit("nested_slope", CRIT1FL ~ TRT * AVISIT + (1 | SITE) + (1 + WEEK | USUBJID), nest, binomial,
  "glmer(CRIT1FL ~ TRT * AVISIT + (1 | SITE) + (1 + WEEK | USUBJID), nested_trial, binomial)")
fits$nested_poisson <- record_fit("nested_poisson", COUNT ~ TRT * AVISIT + offset(LOGEXP) + (1 | SITE) + (1 | USUBJID),
  nest, poisson, "glmer(COUNT ~ TRT * AVISIT + offset(LOGEXP) + (1 | SITE) + (1 | USUBJID), nested_trial, poisson)")
fits$cbpp_obs <- record_fit("cbpp_obs", cbind(incidence, size - incidence) ~ period + (1 | herd) + (1 | obs),
  cbpp_obs, binomial, "glmer(cbind(incidence, size - incidence) ~ period + (1 | herd) + (1 | obs), cbpp, binomial)")

out <- list(generated = format(Sys.Date()), control = "glmerControl(optimizer = 'bobyqa', optCtrl = list(maxfun = 1e5), tolPwrss = 1e-12)",
            contrasts = "contr.treatment", packages = list(R = R.version.string, lme4 = as.character(packageVersion("lme4")),
            numDeriv = as.character(packageVersion("numDeriv"))), fits = fits)
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE), "multilevel_refs.json")
