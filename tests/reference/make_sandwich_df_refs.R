# make_sandwich_df_refs.R -- degrees of freedom with a sandwich covariance, and
# between-within df, on the FEV data of R mmrm.
#
# Run from inside tests/reference/:   Rscript make_sandwich_df_refs.R
# Needs R mmrm (built from the package sources: R CMD INSTALL; Debian has r-cran-tmb,
# r-cran-rcppeigen, r-cran-checkmate, ... for its dependencies), nlme, clubSandwich and
# jsonlite (Debian r-cran-nlme r-cran-clubsandwich r-cran-jsonlite).
#
# Reads fev_data.csv (mmrm's fev_data, written by make_fev_refs.R: 200 subjects x 4 visits,
# FEV1 missing in 263 rows)
# and writes sandwich_df_refs.json with
#
#   mmrm_<s>     mmrm REML fits of FEV1 ~ RACE + SEX + ARMCD * AVISIT + <s>(AVISIT | USUBJID)
#                (s = us, cs, ar1) with method = "Satterthwaite" and vcov = "Empirical",
#                "Empirical-Bias-Reduced", "Empirical-Jackknife": coefficient table (estimate,
#                se, df), the TRT - PBO difference at each visit (df_1d) and two joint tests
#                (df_md): the ARMCD:AVISIT interaction columns, and the four differences;
#                also method = "Between-Within" (vcov = "Asymptotic"): coefficient df and the
#                joint tests.
#   club_cs      nlme::gls of the same mean model with corCompSymm (= mmrm cs), clubSandwich
#                coef_test(vcovCR(type = "CR2"/"CR0"), test = "Satterthwaite"): se, df.
#
# Factors are re-levelled in alphabetical order (SEX: Female, Male) so the treatment coding
# matches trialmlm's.  mmrm's optimiser is tightened (nlminb, rel.tol 1e-14) so that the
# fits are at the optimum to ~1e-9.

suppressPackageStartupMessages({
  library(mmrm)
  library(nlme)
  library(clubSandwich)
  library(jsonlite)
})

fev <- read.csv("fev_data.csv", stringsAsFactors = FALSE)  # written by make_fev_refs.R
for (v in c("AVISIT", "ARMCD", "RACE", "SEX")) fev[[v]] <- factor(as.character(fev[[v]]))
fev$USUBJID <- factor(as.character(fev$USUBJID))

MEAN <- "FEV1 ~ RACE + SEX + ARMCD * AVISIT"
TIGHT <- mmrm_control(optimizer = "nlminb",
                      optimizer_control = list(rel.tol = 1e-14, iter.max = 1000, eval.max = 2000))

fit_mmrm <- function(struct, method, vcov) {
  f <- as.formula(sprintf("%s + %s(AVISIT | USUBJID)", MEAN, struct))
  ctl <- TIGHT
  ctl$method <- method
  ctl$vcov <- vcov
  mmrm(f, data = fev, reml = TRUE, control = ctl)
}

contrasts_of <- function(names) {
  visits <- levels(fev$AVISIT)
  diffs <- t(vapply(visits, function(v) {
    l <- setNames(numeric(length(names)), names)
    l["ARMCDTRT"] <- 1
    inter <- paste0("ARMCDTRT:AVISIT", v)
    if (inter %in% names) l[inter] <- 1
    l
  }, numeric(length(names))))
  inter <- diag(length(names))[grepl("^ARMCDTRT:AVISIT", names), , drop = FALSE]
  colnames(inter) <- names
  list(diffs = diffs, interaction = inter)
}

summarise_fit <- function(fit) {
  cf <- component(fit, "beta_est")
  names_ <- names(cf)
  ct <- contrasts_of(names_)
  tab <- summary(fit)$coefficients
  one <- lapply(seq_len(nrow(ct$diffs)), function(i) df_1d(fit, ct$diffs[i, ]))
  list(
    coef_names = names_,
    estimate = unname(tab[, "Estimate"]), se = unname(tab[, "Std. Error"]), df = unname(tab[, "df"]),
    diffs_L = unname(ct$diffs),
    diffs = list(estimate = sapply(one, `[[`, "est"), se = sapply(one, `[[`, "se"),
                 df = sapply(one, `[[`, "df")),
    joint = lapply(list(interaction = ct$interaction, diffs = ct$diffs), function(L) {
      r <- df_md(fit, L)
      list(L = unname(L), num_df = r$num_df, denom_df = r$denom_df, f_stat = r$f_stat)
    }),
    reml_loglik = as.numeric(logLik(fit)))
}

cases <- list()
for (struct in c("us", "cs", "ar1")) {
  out <- list()
  for (vcov in c("Empirical", "Empirical-Bias-Reduced", "Empirical-Jackknife")) {
    out[[vcov]] <- summarise_fit(fit_mmrm(struct, "Satterthwaite", vcov))
  }
  out[["Between-Within"]] <- summarise_fit(fit_mmrm(struct, "Between-Within", "Asymptotic"))
  cases[[paste0("mmrm_", struct)]] <- c(
    list(r_call = sprintf(paste0("mmrm(%s + %s(AVISIT | USUBJID), data = fev, reml = TRUE, control = ",
                                 "mmrm_control(method = <method>, vcov = <vcov>, optimizer = \"nlminb\", ",
                                 "optimizer_control = list(rel.tol = 1e-14)))"),
                          MEAN, struct),
         trialmlm_formula = sprintf("%s + %s(AVISIT | USUBJID)", MEAN, struct)),
    out)
}

# clubSandwich on the equivalent gls fit (compound symmetry), polished to the optimum
cc <- fev[!is.na(fev$FEV1), ]
gfit <- gls(as.formula(MEAN), data = cc, correlation = corCompSymm(form = ~ 1 | USUBJID),
            method = "REML", control = glsControl(tolerance = 1e-12, msTol = 1e-12, msMaxIter = 1000,
                                                    maxIter = 1000, returnObject = TRUE))
club <- list()
for (type in c("CR0", "CR2")) {
  ct <- coef_test(gfit, vcov = vcovCR(gfit, cluster = cc$USUBJID, type = type), test = "Satterthwaite")
  club[[type]] <- list(coef_names = names(coef(gfit)), estimate = unname(ct$beta), se = unname(ct$SE),
                       df = unname(ct$df_Satt))
}
mm_cs <- cases$mmrm_cs
cases$club_cs <- c(
  list(r_call = paste("gls(", MEAN, ", correlation = corCompSymm(form = ~ 1 | USUBJID), method = 'REML');",
                      "coef_test(gfit, vcov = vcovCR(gfit, cluster = USUBJID, type = <type>),",
                      "test = 'Satterthwaite')"),
       trialmlm_formula = sprintf("%s + cs(AVISIT | USUBJID)", MEAN),
       reml_loglik = as.numeric(logLik(gfit)),
       checks = list(
         cr2_df_max_rel_diff_vs_mmrm = max(abs(club$CR2$df / mm_cs$`Empirical-Bias-Reduced`$df - 1)),
         cr0_df_max_rel_diff_vs_mmrm = max(abs(club$CR0$df / mm_cs$Empirical$df - 1)),
         cr2_se_max_rel_diff_vs_mmrm = max(abs(club$CR2$se / mm_cs$`Empirical-Bias-Reduced`$se - 1)))),
  club)

pkg_version <- function(p) as.character(packageVersion(p))
out <- list(
  generated = format(Sys.Date()),
  r_version = R.version.string,
  versions = as.list(sapply(c("mmrm", "nlme", "clubSandwich", "jsonlite"), pkg_version)),
  data = "fev_data.csv (mmrm::fev_data; rows with FEV1 missing are dropped by every fit)",
  cases = cases)
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE), "sandwich_df_refs.json")
str(cases$club_cs$checks)
