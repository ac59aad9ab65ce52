# make_ancova_refs.R -- reference values for the linear model (ANCOVA) and for pairwise
# comparisons in trialmlm.
#
# Run from inside tests/reference/:   Rscript make_ancova_refs.R
# Needs R with emmeans, nlme, car, sandwich, clubSandwich, lme4, lmerTest, pbkrtest and
# jsonlite (Debian: r-cran-emmeans r-cran-nlme r-cran-car r-cran-sandwich
# r-cran-clubsandwich r-cran-lme4 r-cran-lmertest r-cran-pbkrtest r-cran-jsonlite).
#
# 1. Writes ancova.csv: a simulated single-visit ANCOVA data set, one row per subject:
#    three unbalanced arms (Placebo 40, Xanomeline Low Dose 35, Xanomeline High Dose 30
#    subjects), a site factor SITEGR1 with four unbalanced levels, a continuous baseline
#    BASE and the change CHG at Week 24, six responses and one baseline missing.
# 2. Fits lm(CHG ~ TRTP + SITEGR1 + BASE) ("main") and lm(CHG ~ TRTP * SITEGR1 + BASE)
#    ("interaction") on the complete rows and records: coefficients (treatment coding, first
#    level as reference, the coding trialmlm uses), sigma^2 and residual df; the REML and
#    ML log-likelihoods of nlme::gls (= SAS PROC MIXED without RANDOM/REPEATED, checked
#    against logLik(lm, REML = TRUE)); AIC/AICC/BIC as SAS defines them for this model
#    (d = 1 covariance parameter for REML, p + 1 for ML; BIC with n - p (REML) or n (ML)
#    observations, SAS's rule for one subject and no RANDOM statement; AICC with
#    n* = n - p (REML) or n (ML)); emmeans LS means with equal and proportional (SAS OM)
#    weights; differences from Placebo; pairs() with adjust = none, tukey, bonferroni,
#    holm (per site for the interaction model); type III F tests from car::Anova(type = 3)
#    on the contr.sum refit (= SAS type III; checked against drop1(test = "F")); the
#    sandwich covariances HC0, HC2, HC3 (sandwich::vcovHC; checked against clubSandwich
#    CR0/CR2/CR3 with every row its own cluster).
# 3. MMRM pairs: the random-intercept model of make_inference_refs.R case B on trial3.csv
#    (lme4 = SAS TYPE=CS), emmeans pairs(~ TRT | AVISIT) and pairs(~ TRT) with lmerTest
#    Satterthwaite and pbkrtest Kenward-Roger df, adjust = none, tukey, bonferroni, holm.
#
# Writes ancova_refs.json.  Deterministic (set.seed for the simulated data).

suppressPackageStartupMessages({
  library(emmeans)
  library(nlme)
  library(car)
  library(sandwich)
  library(clubSandwich)
  library(lmerTest)
  library(jsonlite)
})
PKGS <- c("emmeans", "nlme", "car", "sandwich", "clubSandwich", "lme4", "lmerTest", "pbkrtest",
          "jsonlite")
ARMS <- c("Placebo", "Xanomeline High Dose", "Xanomeline Low Dose")   # trialmlm's level order
SITES <- c("S1", "S2", "S3", "S4")
ADJUST <- c("none", "tukey", "bonferroni", "holm")

## ---------------------------------------------------------------------------------------
## 1. Data
## ---------------------------------------------------------------------------------------
set.seed(20240611)
n_arm <- c(Placebo = 40, `Xanomeline Low Dose` = 35, `Xanomeline High Dose` = 30)
trt <- sample(rep(names(n_arm), n_arm))
n <- length(trt)
site <- sample(SITES, n, replace = TRUE, prob = c(0.35, 0.3, 0.2, 0.15))
base <- round(rnorm(n, 25, 6), 1)
effect <- c(Placebo = 0, `Xanomeline Low Dose` = -2, `Xanomeline High Dose` = -3.5)[trt]
site_eff <- c(S1 = 0, S2 = 1.5, S3 = -1, S4 = 2)[site]
chg <- round(1 - 0.3 * (base - 25) + effect + site_eff + rnorm(n, 0, 5), 1)
chg[sample(n, 6)] <- NA
base[sample(which(!is.na(chg)), 1)] <- NA
ancova <- data.frame(USUBJID = sprintf("01-%03d", seq_len(n)), TRTP = trt, SITEGR1 = site,
                     AVISIT = "Week 24", BASE = base, CHG = chg, stringsAsFactors = FALSE)
write.csv(ancova, "ancova.csv", row.names = FALSE, na = "")

d <- read.csv("ancova.csv", stringsAsFactors = FALSE)
d$TRTP <- factor(d$TRTP, levels = ARMS)
d$SITEGR1 <- factor(d$SITEGR1, levels = SITES)
used <- d[complete.cases(d[, c("CHG", "BASE", "TRTP", "SITEGR1")]), ]

## ---------------------------------------------------------------------------------------
## 2. Linear models
## ---------------------------------------------------------------------------------------
table_rows <- function(s, facs) {
  s <- as.data.frame(s)
  out <- s[, intersect(facs, names(s)), drop = FALSE]
  out[] <- lapply(out, as.character)
  cl <- attr(s, "clNames")
  res <- cbind(out, estimate = if ("emmean" %in% names(s)) s$emmean else s$estimate,
               se = s$SE, df = s$df)
  if ("t.ratio" %in% names(s)) res <- cbind(res, t = s$t.ratio, p = s$p.value)
  cbind(res, lower = s[[cl[1]]], upper = s[[cl[2]]])
}
contrast_rows <- function(ct, by, adjust) {
  s <- summary(ct, infer = c(TRUE, TRUE), adjust = adjust)
  cbind(contrast = as.character(s$contrast), table_rows(s, by))
}

sas_criteria <- function(ll, d, n_star, n_bic) {
  list(aic = -2 * ll + 2 * d, aicc = -2 * ll + 2 * d * n_star / (n_star - d - 1),
       bic = -2 * ll + d * log(n_bic))
}

linear_case <- function(name, rhs, by_site) {
  f <- as.formula(paste("CHG ~", rhs))
  fit <- lm(f, data = used)
  n_used <- nrow(used); p <- fit$rank
  g_reml <- gls(f, data = used, method = "REML")
  g_ml <- gls(f, data = used, method = "ML")
  ll_reml <- as.numeric(logLik(g_reml)); ll_ml <- as.numeric(logLik(g_ml))
  stopifnot(abs(ll_reml - as.numeric(logLik(fit, REML = TRUE))) < 1e-9,
            abs(ll_ml - as.numeric(logLik(fit))) < 1e-9)
  cf <- summary(fit)$coefficients
  specs <- if (by_site) ~ TRTP | SITEGR1 else ~ TRTP
  by <- if (by_site) c("TRTP", "SITEGR1") else "TRTP"
  em <- emmeans(fit, specs)
  em_om <- emmeans(fit, specs, weights = "proportional")
  pairs_tables <- setNames(lapply(ADJUST, function(a) contrast_rows(pairs(em), by, a)), ADJUST)
  # type III: sum-to-zero contrasts (SAS GLM type III = car type 3 with contr.sum)
  fit_sum <- lm(f, data = used, contrasts = list(TRTP = "contr.sum", SITEGR1 = "contr.sum"))
  a3 <- Anova(fit_sum, type = 3)
  a3 <- a3[!(rownames(a3) %in% c("(Intercept)", "Residuals")), ]
  dr <- drop1(fit_sum, . ~ ., test = "F")
  stopifnot(max(abs(dr[rownames(a3), "F value"] / a3[["F value"]] - 1)) < 1e-10)
  sandwiches <- lapply(c(HC0 = "HC0", HC2 = "HC2", HC3 = "HC3"), function(t) vcovHC(fit, type = t))
  club <- lapply(c(HC0 = "CR0", HC2 = "CR2", HC3 = "CR3"), function(t)
    as.matrix(vcovCR(fit, cluster = seq_len(n_used), type = t)))
  club_diff <- max(mapply(function(a, b) max(abs(a - b)) / max(abs(a)), sandwiches, club))
  stopifnot(club_diff < 1e-10)
  list(
    name = name,
    formula = paste("CHG ~", rhs),
    r_calls = list(fit = sprintf("lm(CHG ~ %s, data = used)", rhs),
                   loglik = "logLik(gls(f, data = used, method = 'REML' / 'ML'))",
                   lsmeans = sprintf("emmeans(fit, %s)", deparse(specs)),
                   lsmeans_om = sprintf("emmeans(fit, %s, weights = 'proportional')", deparse(specs)),
                   diffs = "contrast(em, 'trt.vs.ctrl', ref = 1, adjust = 'none')",
                   pairs = "summary(pairs(em), infer = c(TRUE, TRUE), adjust = <adjust>)",
                   type3 = "car::Anova(lm(f, contrasts = contr.sum for TRTP, SITEGR1), type = 3)",
                   sandwich = "sandwich::vcovHC(fit, type = 'HC0' / 'HC2' / 'HC3')"),
    n_read = nrow(d), n_used = n_used, n_dropped = nrow(d) - n_used,
    coef = data.frame(name = rownames(cf), estimate = cf[, 1], se = cf[, 2], t = cf[, 3],
                      p = cf[, 4], row.names = NULL),
    sigma2 = summary(fit)$sigma^2, df_residual = fit$df.residual,
    loglik_reml = ll_reml, loglik_ml = ll_ml,
    criteria_reml = sas_criteria(ll_reml, 1, n_used - p, n_used - p),
    criteria_ml = sas_criteria(ll_ml, p + 1, n_used, n_used),
    lsmeans = table_rows(summary(em, infer = c(TRUE, FALSE)), by),
    lsmeans_om = table_rows(summary(em_om, infer = c(TRUE, FALSE)), by),
    diffs = contrast_rows(contrast(em, "trt.vs.ctrl", ref = 1), setdiff(by, "TRTP"), "none"),
    pairs = lapply(pairs_tables, function(t) { t$TRTP <- NULL; t }),
    type3 = data.frame(term = rownames(a3), num_df = a3$Df, den_df = fit$df.residual,
                       F = a3[["F value"]], p = a3[["Pr(>F)"]]),
    sandwich = lapply(sandwiches, function(v) list(se = unname(sqrt(diag(v))), vcov = unname(v))),
    checks = list(sandwich_vs_clubsandwich_max_rel_diff = club_diff,
                  type3_drop1_max_rel_diff = max(abs(dr[rownames(a3), "F value"] /
                                                       a3[["F value"]] - 1))))
}
linear <- list(linear_case("main", "TRTP + SITEGR1 + BASE", FALSE),
               linear_case("interaction", "TRTP * SITEGR1 + BASE", TRUE))

## ---------------------------------------------------------------------------------------
## 3. MMRM pairs: random intercept (SAS TYPE=CS) on trial3, as make_inference_refs.R case B
## ---------------------------------------------------------------------------------------
trial3 <- read.csv("trial3.csv", stringsAsFactors = FALSE)
trial3$TRT <- factor(trial3$TRT, levels = c("PBO", "LOW", "HIGH"))
trial3$REGION <- factor(trial3$REGION, levels = sort(unique(trial3$REGION)))
trial3$AVISIT <- factor(trial3$AVISIT, levels = c("W1", "W2", "W4", "W8", "W12", "W16"))
trial3_complete <- trial3[!is.na(trial3$CHG), ]
lmer_call <- quote(lmer(CHG ~ BASE + REGION + TRT * AVISIT + (1 | USUBJID),
                        data = trial3_complete, REML = TRUE,
                        control = lmerControl(optimizer = "nloptwrap",
                          optCtrl = list(xtol_abs = 1e-14, ftol_abs = 1e-16,
                                         xtol_rel = 1e-14, ftol_rel = 1e-16, maxeval = 1e5))))
fit_lmer <- eval(lmer_call)
mmrm_pairs <- lapply(c(satterthwaite = "satterthwaite", `kenward-roger` = "kenward-roger"),
  function(df_method) {
    em <- emmeans(fit_lmer, ~ TRT | AVISIT, lmer.df = df_method)
    ov <- suppressMessages(emmeans(fit_lmer, ~ TRT, lmer.df = df_method))
    list(by_visit = setNames(lapply(ADJUST, function(a) contrast_rows(pairs(em), "AVISIT", a)),
                             ADJUST),
         overall = setNames(lapply(ADJUST, function(a) contrast_rows(pairs(ov), character(), a)),
                            ADJUST))
  })

out <- list(
  generated = format(Sys.Date()),
  r_version = R.version.string,
  packages = setNames(lapply(PKGS, function(p) as.character(packageVersion(p))), PKGS),
  data = "ancova.csv",
  arms = ARMS,
  linear = linear,
  mmrm_pairs = list(data = "trial3.csv",
                    formula = "CHG ~ BASE + REGION + TRT * AVISIT + cs(AVISIT | USUBJID)",
                    r_call = paste(deparse(lmer_call, width.cutoff = 500L), collapse = " "),
                    pairs_call = paste("summary(pairs(emmeans(fit_lmer, ~ TRT | AVISIT, lmer.df =",
                                       "<df>)), infer = c(TRUE, TRUE), adjust = <adjust>)"),
                    loglik = as.numeric(logLik(fit_lmer)),
                    tables = mmrm_pairs),
  notes = paste(
    "Contrast order as emmeans pairs(): level i - level j for i before j. Tukey: emmeans",
    "ptukey(sqrt(2)|t|, k, df) with each contrast's df, k = number of means in the family",
    "(per site / per visit). Holm CIs are unadjusted (emmeans). Linear-model loglik is",
    "SAS's: REML includes log|X'X| (nlme gls = logLik(lm, REML = TRUE))."))
writeLines(toJSON(out, auto_unbox = TRUE, digits = I(15), pretty = TRUE, na = "null"),
           "ancova_refs.json")
cat(sprintf("main: loglik REML %.10f ML %.10f sigma2 %.8f\n", linear[[1]]$loglik_reml,
            linear[[1]]$loglik_ml, linear[[1]]$sigma2))
