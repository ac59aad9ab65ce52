# make_fev_refs.R -- the FEV data of the R mmrm package as CSV, and nlme fits of the
# independence (SAS TYPE=VC) and heterogeneous diagonal (SAS TYPE=UN(1)) models on it.
#
# Run from inside tests/reference/:   Rscript make_fev_refs.R PATH/TO/fev_data.rda
# PATH/TO/fev_data.rda is data/fev_data.rda of https://github.com/openpharma/mmrm
# (used at commit ec290b2695b25057b31bc98e27c39d3f498cd0d6).  Needs nlme and jsonlite
# (Debian: r-cran-nlme r-cran-jsonlite).
#
# 1. Writes fev_data.csv: 200 subjects (USUBJID) x 4 visits (AVISIT), 800 rows; FEV1 is
#    missing in 263 rows and 3 subjects have no FEV1 at all.  The SAS PROC MIXED listings
#    under the mmrm repository's design/ folder come from this data set (their numbers
#    are in sas_fev_refs.json).
# 2. Fits nlme::gls(FEV1 ~ ARMCD * AVISIT + RACE + SEX) on the rows with FEV1, REML and
#    ML, without weights (R = sigma^2 I, SAS TYPE=VC) and with varIdent(form = ~ 1 | AVISIT)
#    (R = diag(sigma^2_VIS1..sigma^2_VIS4), SAS TYPE=UN(1)), and records -2 log-likelihood
#    (the SAS definition: the VC REML value equals SAS's iteration-0 -2 Res Log Like of
#    design/SAS/sas_log_reml.txt, 3535.97413376) and the variances in visit order.
#
# Writes fev_gls_refs.json.  Deterministic.

library(nlme)
library(jsonlite)

args <- commandArgs(trailingOnly = TRUE)
stopifnot(length(args) == 1)
load(args[1])
write.csv(fev_data, "fev_data.csv", row.names = FALSE, na = "")

used <- fev_data[!is.na(fev_data$FEV1), ]
formula <- FEV1 ~ ARMCD * AVISIT + RACE + SEX
control <- glsControl(tolerance = 1e-10, msTol = 1e-12)
out <- list(formula = "FEV1 ~ ARMCD * AVISIT + RACE + SEX", generated = format(Sys.Date()),
            nlme = as.character(packageVersion("nlme")))
for (method in c("REML", "ML")) {
  vc <- gls(formula, data = used, method = method, control = control)
  un1 <- gls(formula, data = used, method = method, control = control,
             weights = varIdent(form = ~ 1 | AVISIT))
  ratio <- coef(un1$modelStruct$varStruct, unconstrained = FALSE, allCoef = TRUE)
  variances <- sigma(un1)^2 * ratio[levels(used$AVISIT)]^2
  out[[method]] <- list(
    vc = list(m2loglik = -2 * as.numeric(logLik(vc)), residual = sigma(vc)^2),
    un1 = list(m2loglik = -2 * as.numeric(logLik(un1)), variances = unname(variances))
  )
}
write_json(out, "fev_gls_refs.json", digits = NA, auto_unbox = TRUE, pretty = TRUE)
