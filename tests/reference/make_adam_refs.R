# make_adam_refs.R -- an independent analysis of a real, SAS-written ADaM file for trialmlm.
#
# Run from inside tests/reference/:   Rscript make_adam_refs.R
# Needs R with foreign (recommended package), nlme, emmeans, jsonlite
# (Debian: r-base-core r-cran-nlme r-cran-emmeans r-cran-jsonlite).
#
# Reads ../data/cdiscpilot01_adcibc.xpt (CDISC pilot CDISCPILOT01, ADCIBC, written by SAS 9.3)
# with foreign::read.xport -- a reader independent of ReadStat/pyreadstat -- selects the
# records as the ADaM conventions say, in base R, and writes adam_refs.json:
#
#   records       counts after each step: read; EFFFL = "Y"; ANL01FL = "Y"; DTYPE blank
#                 (subjects and records), and records by arm and visit analysed
#   mmrm_us       AVAL ~ SITEGR1 + TRTP * AVISIT with unstructured covariance over AVISIT
#                 within USUBJID (gls corSymm + varIdent, REML, tight tolerances; = SAS
#                 REPEATED AVISIT / TYPE=UN): -2 res log-likelihood, LS means by arm and
#                 visit and differences from Placebo (emmeans; estimates and SEs, which do
#                 not depend on the df method)
#   ancova_locf   Week 24 with the LOCF records kept (DTYPE = "LOCF" allowed), the pilot's
#                 CIBIC+ analysis: lm(AVAL ~ TRTP + SITEGR1); LS means and differences from
#                 Placebo with residual df (emmeans), type III F of TRTP (drop1)
#
# Deterministic; the output is identical on every run apart from the `generated` date.
suppressPackageStartupMessages({
  library(foreign)
  library(nlme)
  library(emmeans)
  library(jsonlite)
})

raw <- read.xport("../data/cdiscpilot01_adcibc.xpt")
for (v in names(raw)) if (is.factor(raw[[v]])) raw[[v]] <- trimws(as.character(raw[[v]]))
count <- function(d) list(records = nrow(d), subjects = length(unique(d$USUBJID)))
records <- list(read = count(raw))
d <- raw[raw$EFFFL == "Y", ]
records$population <- count(d)
d <- d[d$ANL01FL %in% "Y", ]
records$analysis_flag <- count(d)
locf <- d
d <- d[is.na(d$DTYPE) | d$DTYPE == "", ]
records$dtype <- count(d)
records$zero_trtpn <- sum(raw$TRTPN == 0)

arms <- c("Placebo", "Xanomeline Low Dose", "Xanomeline High Dose")  # TRTPN 0, 54, 81
d$TRTP <- factor(d$TRTP, levels = arms)
d$AVISIT <- factor(d$AVISIT, levels = c("Week 8", "Week 16", "Week 24"))
d$SITEGR1 <- factor(d$SITEGR1)
d$VIS <- as.integer(d$AVISIT)
d <- d[order(d$USUBJID, d$VIS), ]
by_cell <- as.data.frame(table(arm = d$TRTP, visit = d$AVISIT))

fit <- gls(AVAL ~ SITEGR1 + TRTP * AVISIT, data = d, method = "REML",
           correlation = corSymm(form = ~ VIS | USUBJID), weights = varIdent(form = ~ 1 | AVISIT),
           control = glsControl(maxIter = 500, msMaxIter = 500, tolerance = 1e-12, msTol = 1e-14,
                                opt = "nlminb"))
emm <- emmeans(fit, ~ TRTP | AVISIT, mode = "df.error")
ls <- as.data.frame(summary(emm))
dif <- as.data.frame(summary(contrast(emm, "trt.vs.ctrl", ref = 1, adjust = "none")))
mmrm <- list(m2loglik = -2 * as.numeric(logLik(fit)), n_obs = nrow(d),
             lsmeans = data.frame(arm = as.character(ls$TRTP), visit = as.character(ls$AVISIT),
                                  estimate = ls$emmean, se = ls$SE),
             differences = data.frame(contrast = as.character(dif$contrast),
                                      visit = as.character(dif$AVISIT), estimate = dif$estimate,
                                      se = dif$SE))

w24 <- locf[locf$AVISIT == "Week 24", ]
w24$TRTP <- factor(w24$TRTP, levels = arms)
w24$SITEGR1 <- factor(w24$SITEGR1)
lfit <- lm(AVAL ~ TRTP + SITEGR1, data = w24)
lemm <- emmeans(lfit, ~ TRTP)
lls <- as.data.frame(summary(lemm))
ldif <- as.data.frame(summary(contrast(lemm, "trt.vs.ctrl", ref = 1, adjust = "none"), infer = TRUE))
options(contrasts = c("contr.sum", "contr.poly"))
t3 <- drop1(lm(AVAL ~ TRTP + SITEGR1, data = w24), test = "F")
ancova <- list(n_obs = nrow(w24), n_locf = sum(w24$DTYPE %in% "LOCF"), df_residual = lfit$df.residual,
               sigma = summary(lfit)$sigma,
               lsmeans = data.frame(arm = as.character(lls$TRTP), estimate = lls$emmean, se = lls$SE,
                                    df = lls$df),
               differences = data.frame(contrast = as.character(ldif$contrast), estimate = ldif$estimate,
                                        se = ldif$SE, df = ldif$df, lower = ldif$lower.CL,
                                        upper = ldif$upper.CL, p = ldif$p.value),
               type3 = data.frame(term = rownames(t3)[-1], F = t3$`F value`[-1], num_df = t3$Df[-1],
                                  p = t3$`Pr(>F)`[-1]))

out <- list(generated = format(Sys.Date()), R = R.version.string,
            packages = list(nlme = as.character(packageVersion("nlme")),
                            emmeans = as.character(packageVersion("emmeans"))),
            records = records, by_cell = by_cell, mmrm_us = mmrm, ancova_locf = ancova)
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE), "adam_refs.json")
cat("wrote adam_refs.json\n")
