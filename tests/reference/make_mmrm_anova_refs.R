# make_mmrm_anova_refs.R -- type II and type III F tests of R mmrm (car::Anova method of
# mmrm, Satterthwaite and Kenward-Roger) on mmrm's FEV data, with the SAS PROC MIXED
# results that mmrm's own tests compare against.
#
# Written with R 4.2.2, mmrm 0.3.18 (built from github.com/openpharma/mmrm at commit
# ec290b2695b25057b31bc98e27c39d3f498cd0d6 with Debian's TMB 1.9.2: git archive + R CMD
# INSTALL), car 3.1-1, jsonlite 1.8.4.
#
# Run from the repository root:   Rscript tests/reference/make_mmrm_anova_refs.R
# (also works from inside tests/reference/; about 30 s).
#
# Reads tests/reference/fev_data.csv (mmrm's fev_data, written by make_fev_refs.R) and
# sources tests/reference/converged_mmrm.R (its optimiser settings: BFGS reltol 1e-14,
# else nlminb rel.tol 1e-10) so that every fit is at the optimum.  Writes
# mmrm_anova_refs.json (structure in its "notes" entry).
#
# car 3.1-1 (Debian) is older than the car >= 3.1.2 that mmrm needs to register its
# Anova method on load, so the method is called directly as mmrm:::Anova.mmrm(fit, type);
# this is the function car::Anova(fit, type) dispatches to with a newer car.
#
# Factors are levelled alphabetically (SEX: Female, Male; mmrm's own fev_data has Male,
# Female) to match trialmlm's coding; "coding_check" repeats model 1 with mmrm's order.
#
# SAS numbers: design/anova/test2_1.csv, test2_2.csv, test3_1.csv, test3_2.csv and
# design/anova/type2/anova_ii.sas7bdat, solution.sas7bdat of github.com/openpharma/mmrm
# (commit ec290b2), copied here by hand (full precision as stored in those files).
# tests/testthat/test-interop-car.R of that repository compares car::Anova(fit, "2"/"3")
# with the .csv values using the ar1 models below.

suppressPackageStartupMessages({
  library(mmrm)
  library(jsonlite)
})

ref_dir <- if (file.exists("tests/reference/fev_data.csv")) "tests/reference" else "."
source(file.path(ref_dir, "converged_mmrm.R"))  # defines mmrm_as_shipped, replaces mmrm::mmrm

fev_raw <- read.csv(file.path(ref_dir, "fev_data.csv"), stringsAsFactors = FALSE)
make_fev <- function(sex_levels = c("Female", "Male")) {
  fev <- fev_raw
  for (v in c("AVISIT", "ARMCD", "RACE")) fev[[v]] <- factor(as.character(fev[[v]]))
  fev$SEX <- factor(fev$SEX, levels = sex_levels)
  fev$USUBJID <- factor(as.character(fev$USUBJID))
  fev
}
fev <- make_fev()

# The optimiser settings of converged_mmrm.R, with the df method as an argument.
fit_converged <- function(formula, data, method = "Satterthwaite") {
  fit_with <- function(optimizer, optimizer_control) {
    mmrm_as_shipped(formula = formula, data = data, reml = TRUE,
                    control = mmrm_control(method = method, optimizer = optimizer,
                                           optimizer_control = optimizer_control))
  }
  warns <- character(0)
  fit <- withCallingHandlers(
    tryCatch(fit_with("BFGS", list(reltol = 1e-14, maxit = 1000)),
             error = function(e) fit_with("nlminb", list(rel.tol = 1e-10, eval.max = 1000, iter.max = 1000))),
    warning = function(w) {
      warns <<- c(warns, conditionMessage(w))
      invokeRestart("muffleWarning")
    })
  default_fit <- suppressWarnings(mmrm_as_shipped(formula = formula, data = data, reml = TRUE,
                                                  control = mmrm_control(method = method)))
  attr(fit, "fit_warnings") <- warns
  attr(fit, "logLik_default_optimizer") <- as.numeric(logLik(default_fit))
  fit
}

anova_list <- function(fit, type) {
  warns <- character(0)
  a <- withCallingHandlers(mmrm:::Anova.mmrm(fit, type = type, test.statistic = "F"),
                           warning = function(w) {
                             warns <<- c(warns, conditionMessage(w))
                             invokeRestart("muffleWarning")
                           })
  ch <- suppressWarnings(mmrm:::Anova.mmrm(fit, type = type, test.statistic = "Chisq"))
  list(term = rownames(a), Df = unname(a$Df), Res.Df = unname(a$Res.Df), F = unname(a$F),
       p = unname(a[["Pr(>F)"]]), Chisq = unname(ch$Chisq), p_Chisq = unname(ch[["Pr(>Chisq)"]]),
       warnings = I(warns))
}

fit_summary <- function(fit) {
  cf <- coef(summary(fit))
  list(
    method = component(fit, "method"),
    vcov = fit$vcov,
    logLik_REML = as.numeric(logLik(fit)),
    logLik_REML_default_optimizer = attr(fit, "logLik_default_optimizer"),
    convergence_code = component(fit, "convergence"),
    conv_message = component(fit, "conv_message"),
    optimizer = component(fit, "optimizer"),
    fit_warnings = I(attr(fit, "fit_warnings")),
    n_obs = component(fit, "n_obs"),
    n_subjects = component(fit, "n_subjects"),
    theta = unname(component(fit, "theta_est")),
    varcor = unname(VarCorr(fit)),
    coef = list(term = rownames(cf), estimate = unname(cf[, "Estimate"]),
                se = unname(cf[, "Std. Error"]), df = unname(cf[, "df"]),
                t = unname(cf[, "t value"]), p = unname(cf[, "Pr(>|t|)"]))
  )
}

run_model <- function(formula, data = fev, description = "", sas = NULL) {
  res <- list(formula = paste(deparse(formula, width.cutoff = 500L), collapse = " "),
              description = description)
  for (method in c("Satterthwaite", "Kenward-Roger")) {
    fit <- fit_converged(formula, data, method)
    key <- if (method == "Satterthwaite") "satterthwaite" else "kenward_roger"
    res[[key]] <- c(fit_summary(fit),
                    list(type2 = anova_list(fit, "II"), type3 = anova_list(fit, "III")))
  }
  if (!is.null(sas)) res$sas <- sas
  cat(res$formula, ": logLik", res$satterthwaite$logLik_REML, "\n")
  res
}

sas_csv <- function(file, effect, NumDF, DenDF, ChiSq, FValue, ProbChiSq, ProbF) {
  list(file = paste0("openpharma/mmrm@ec290b2:", file), Effect = effect, NumDF = NumDF,
       DenDF = DenDF, ChiSq = ChiSq, FValue = FValue, ProbChiSq = ProbChiSq, ProbF = ProbF)
}

sas_2_2 <- list(
  statements = paste(
    "PROC MIXED DATA = fev cl method=reml; CLASS ... ARMCD USUBJID AVISIT;",
    "MODEL FEV1 = ARMCD SEX SEX*ARMCD FEV1_BL*ARMCD / ddfm=satterthwaite htype=2 (or 3);",
    "REPEATED AVISIT / subject=USUBJID type=ar(1);  (the csv files hold only the table; the",
    "model is the one mmrm's tests/testthat/test-interop-car.R fits against them:",
    "FEV1 ~ ARMCD * SEX + ARMCD * FEV1_BL - FEV1_BL + ar1(AVISIT | USUBJID), Satterthwaite)"),
  type2 = sas_csv("design/anova/test2_2.csv",
                  c("ARMCD", "SEX", "SEX*ARMCD", "FEV1_BL*ARMCD"), c(1, 1, 1, 2),
                  c(196.700026021882, 186.404412481085, 186.11901853766, 194.942672335072),
                  c(0.03093826913613, 0.10489707559679, 0.46643535342468, 12.2296433517045),
                  c(0.03093826913613, 0.10489707559679, 0.46643535342468, 6.11482167585228),
                  c(0.86037817970071, 0.74603026404544, 0.49463165974308, 0.00220986980743),
                  c(0.86055912789767, 0.74639336822641, 0.49548089306181, 0.0026566780461)),
  type3 = sas_csv("design/anova/test3_2.csv",
                  c("ARMCD", "SEX", "SEX*ARMCD", "FEV1_BL*ARMCD"), c(1, 1, 1, 2),
                  c(197.423866403271, 186.119018537661, 186.11901853766, 194.942672335072),
                  c(0.04875135180324, 0.09277653315012, 0.46643535342468, 12.2296433517045),
                  c(0.04875135180324, 0.09277653315012, 0.46643535342468, 6.11482167585228),
                  c(0.82525043506483, 0.76067660529697, 0.49463165974308, 0.00220986980743),
                  c(0.82547861285648, 0.76101691812013, 0.49548089306181, 0.0026566780461))
)
sas_2_1 <- list(
  statements = paste(
    "As test2_2/test3_2 but MODEL FEV1 = ARMCD FEV1_BL FEV1_BL*ARMCD; mmrm's test fits",
    "FEV1 ~ ARMCD * FEV1_BL + ar1(AVISIT | USUBJID), Satterthwaite"),
  type2 = sas_csv("design/anova/test2_1.csv", c("ARMCD", "FEV1_BL", "FEV1_BL*ARMCD"), c(1, 1, 1),
                  c(199.582314485653, 196.41571750149, 198.163532037944),
                  c(0.03099660681111, 11.5301174147263, 0.7644368094469),
                  c(0.03099660681111, 11.5301174147263, 0.7644368094469),
                  c(0.86024795837881, 0.00068477688975, 0.38194359117097),
                  c(0.86042646803505, 0.00082860861048, 0.38300197080559)),
  type3 = sas_csv("design/anova/test3_1.csv", c("ARMCD", "FEV1_BL", "FEV1_BL*ARMCD"), c(1, 1, 1),
                  c(199.582314485653, 198.163532037936, 198.163532037944),
                  c(0.03099660681111, 11.0435094615508, 0.7644368094469),
                  c(0.03099660681111, 11.0435094615508, 0.7644368094469),
                  c(0.86024795837881, 0.00088998227841, 0.38194359117097),
                  c(0.86042646803505, 0.00105994994938, 0.38300197080559))
)
sas_noint <- list(
  statements = paste(
    "(design/anova/type2/type2_anova.Rmd) data: fev_data without FEV1-missing rows, female =",
    "(SEX == 'Female'), ARMCD relevelled TRT first; PROC MIXED DATA=WORK.fev_data METHOD=REML",
    "COVTEST; CLASS USUBJID AVISIT ARMCD(REF='PBO'); MODEL FEV1 = FEV1_BL ARMCD*FEV1_BL",
    "ARMCD*female / NOINT SOLUTION HTYPE=2 DDFM=SATTERTHWAITE CHISQ E2; REPEATED AVISIT /",
    "SUBJECT=USUBJID TYPE=AR(1);  mmrm equivalent: FEV1 ~ ARMCD:FEV1_BL + FEV1_BL - 1 +",
    "ARMCD:female + ar1(AVISIT | USUBJID) (FEV1_BL:ARMCDPBO is aliased)"),
  type2 = list(file = "openpharma/mmrm@ec290b2:design/anova/type2/anova_ii.sas7bdat",
               Effect = c("FEV1_BL", "FEV1_BL*ARMCD", "female*ARMCD"), NumDF = c(1, 1, 2),
               DenDF = c(181.53783543915745, 181.00975448177442, 180.79318910171054),
               ChiSq = c(1450.6591731242536, 6.7400474242054695, 10.415418207396575),
               FValue = c(1450.6591731242536, 6.7400474242054695, 5.207709103698288),
               ProbChiSq = c(0.0, 0.009427211895706583, 0.0054742001586375365),
               ProbF = c(1.664486474363927e-88, 0.010201349849733088, 0.006325125496563864)),
  solution = list(file = "openpharma/mmrm@ec290b2:design/anova/type2/solution.sas7bdat",
                  Effect = c("FEV1_BL", "FEV1_BL*ARMCD", "FEV1_BL*ARMCD", "female*ARMCD", "female*ARMCD"),
                  ARMCD = c("", "TRT", "PBO", "TRT", "PBO"),
                  Estimate = c(0.8939769030449485, 0.1306263887336231, 0.0, 3.8597820754349694, 5.096968682173699),
                  StdErr = c(0.03395407465808482, 0.05031522793576705, NA, 2.0569435156439004, 1.9411850407097053),
                  DF = c(184.96861509746375, 181.00975448177442, NA, 177.0749377828757, 184.67280433525949))
)

models <- list()
models$armcd_sex_fev1bl_us <- run_model(
  FEV1 ~ ARMCD * SEX + ARMCD:FEV1_BL + us(AVISIT | USUBJID),
  description = "model 1 of the brief (us). SAS listings exist only for the ar1 version (next entry)")
models$armcd_sex_fev1bl_ar1 <- run_model(
  FEV1 ~ ARMCD * SEX + ARMCD:FEV1_BL + ar1(AVISIT | USUBJID),
  description = "model 1 with ar1: the model of SAS design/anova/test2_2.csv and test3_2.csv (ARMCD:FEV1_BL: 2 num df, F = 6.1148, den df 194.94)",
  sas = sas_2_2)
models$armcd_fev1bl_ar1 <- run_model(
  FEV1 ~ ARMCD * FEV1_BL + ar1(AVISIT | USUBJID),
  description = "the model of SAS design/anova/test2_1.csv and test3_1.csv",
  sas = sas_2_1)
models$armcd_avisit_race_sex_fev1bl_us <- run_model(
  FEV1 ~ ARMCD * AVISIT + RACE + SEX + FEV1_BL + us(AVISIT | USUBJID),
  description = "model 2 of the brief (no SAS listing)")

# no-intercept model with an aliased column (SAS type2 folder); type II only is from SAS
fev_noint <- fev[!is.na(fev$FEV1), ]
fev_noint$female <- as.integer(fev_noint$SEX == "Female")
fev_noint$ARMCD <- factor(as.character(fev_noint$ARMCD), levels = c("TRT", "PBO"))
models$noint_aliased_ar1 <- run_model(
  FEV1 ~ ARMCD:FEV1_BL + FEV1_BL - 1 + ARMCD:female + ar1(AVISIT | USUBJID), data = fev_noint,
  description = paste("design/anova/type2/type2_anova.Rmd: rows with FEV1 dropped, female = 0/1,",
                      "ARMCD levels TRT, PBO; no intercept, FEV1_BL:ARMCDPBO aliased; type III",
                      "warns for models without intercept"),
  sas = sas_noint)

# Coding check: model 1 (us, Satterthwaite) with mmrm's own SEX order (Male, Female)
fev_mf <- make_fev(c("Male", "Female"))
fit_mf <- fit_converged(FEV1 ~ ARMCD * SEX + ARMCD:FEV1_BL + us(AVISIT | USUBJID), fev_mf)
fit_mf_ar1 <- fit_converged(FEV1 ~ ARMCD * SEX + ARMCD:FEV1_BL + ar1(AVISIT | USUBJID), fev_mf)
coding_check <- list(
  description = "model 1 (us and ar1, Satterthwaite) with SEX levels Male, Female (mmrm's fev_data order)",
  us = list(logLik_REML = as.numeric(logLik(fit_mf)),
            type2 = anova_list(fit_mf, "II"), type3 = anova_list(fit_mf, "III")),
  ar1 = list(logLik_REML = as.numeric(logLik(fit_mf_ar1)),
             type2 = anova_list(fit_mf_ar1, "II"), type3 = anova_list(fit_mf_ar1, "III"))
)

out <- list(
  generated = format(Sys.Date()),
  R_version = R.version.string,
  packages = list(mmrm = as.character(packageVersion("mmrm")),
                  mmrm_source = "github.com/openpharma/mmrm commit ec290b2695b25057b31bc98e27c39d3f498cd0d6",
                  TMB = as.character(packageVersion("TMB")),
                  car = as.character(packageVersion("car")),
                  jsonlite = as.character(packageVersion("jsonlite"))),
  data = "fev_data.csv (mmrm::fev_data; 800 rows, rows with FEV1 missing are dropped by every fit); factors levelled alphabetically (SEX Female, Male)",
  notes = paste(
    "models.<name>.<satterthwaite|kenward_roger>: one mmrm REML fit with method =",
    "'Satterthwaite' (vcov Asymptotic) or 'Kenward-Roger' (vcov Kenward-Roger), optimiser of",
    "converged_mmrm.R (logLik_REML_default_optimizer: same model with mmrm's default optimiser).",
    "type2 / type3: mmrm:::Anova.mmrm(fit, type = 'II' / 'III') (= car::Anova with car >= 3.1.2),",
    "per-term arrays term, Df, Res.Df, F, p (Pr(>F)), Chisq, p_Chisq (test.statistic = 'Chisq'),",
    "warnings. coef: coef(summary(fit)) (estimate, se, df, t, p). theta: mmrm's internal",
    "covariance parameters; varcor: the estimated covariance matrix (row-major).",
    "sas: SAS PROC MIXED tables copied from the named files of openpharma/mmrm (Effect naming",
    "is SAS's; NumDF/DenDF/FValue/ProbF correspond to Df/Res.Df/F/p). The brief's 'us' model has",
    "no SAS listing: the SAS numbers F = 6.1148, den df 194.94 for ARMCD:FEV1_BL belong to the ar1",
    "model (models.armcd_sex_fev1bl_ar1). coding_check: model 1 refitted with SEX levels",
    "Male, Female to show whether mmrm's type II/III results depend on the factor coding."),
  models = models,
  coding_check = coding_check
)
write_json(out, file.path(ref_dir, "mmrm_anova_refs.json"), digits = NA, auto_unbox = TRUE,
           pretty = TRUE, null = "null", na = "null")
cat("wrote", file.path(ref_dir, "mmrm_anova_refs.json"), "\n")
