## Reference values for the inference of trialmlm.glmm (issue 23, glmm-inference).
## Run from this folder:  Rscript make_inference_refs.R   (~2 min)  -> inference_refs.json
## Reads ../glmm/toenail.csv, ../glmm/epil.csv and ../glmm_own/binary_slopes.csv (written by ../glmm/make_glmer_refs.R).
## Numeric 0/1 indicators (terb, prog, placebo) replace the treatment factors where a coefficient itself is
## compared, so that R's and SAS's factor codings do not enter.
suppressPackageStartupMessages({
  library(lme4); library(GLMMadaptive); library(emmeans); library(numDeriv); library(jsonlite)
})
toenail <- read.csv("../glmm/toenail.csv")
toenail$terb <- as.integer(toenail$treatment == "terbinafine")
toenail$fvisit <- factor(toenail$visit)
toenail$treatment <- factor(toenail$treatment)
binary <- read.csv("../glmm_own/binary_slopes.csv")
binary$placebo <- as.integer(binary$TRT == "Placebo")
epil <- read.csv("../glmm/epil.csv")
epil$prog <- as.integer(epil$trt == "progabide")
epil$Visit <- (2 * epil$period - 5) / 10
epil$fperiod <- factor(epil$period)
epil$trt <- factor(epil$trt)
epil$subject <- factor(epil$subject)
ctrl <- glmerControl(optimizer = "bobyqa", optCtrl = list(maxfun = 1e5), tolPwrss = 1e-12)
rows <- function(m) unname(lapply(seq_len(nrow(m)), function(i) unname(m[i, ])))

## A. GLMMadaptive: vcov(fit) and vcov(fit, sandwich = TRUE).  Both are over GLMMadaptive's
##    parameters (beta, log-Cholesky of D); the beta block of H^-1 (sum_i g_i g_i') H^-1 does not depend on
##    how D is parameterised (the Jacobian of the change is block diagonal with identity for beta).
gctrl <- list(tol3 = 1e-12, iter_qN_outer = 50, update_GH_every = 1)
adaptive <- function(label, fixed, random, data, family, nAGQ) {
  fit <- mixed_model(fixed, random = random, data = data, family = family, nAGQ = nAGQ, control = gctrl)
  p <- length(fixef(fit))
  V <- vcov(fit); S <- vcov(fit, sandwich = TRUE)
  cat(sprintf("%-28s loglik %.6f\n", label, as.numeric(logLik(fit))))
  list(call = paste(deparse(fixed), "random =", deparse(random), "nAGQ =", nAGQ),
       fixef = as.list(fixef(fit)), loglik = as.numeric(logLik(fit)), D = rows(fit$D),
       se_fixef = unname(sqrt(diag(V))[seq_len(p)]),
       se_fixef_sandwich = unname(sqrt(diag(S))[seq_len(p)]),
       vcov_fixef_sandwich = rows(S[seq_len(p), seq_len(p)]))
}
## toenail (y ~ terb * time, ~ 1 | id) is not used: GLMMadaptive's nAGQ = 11 log-likelihood (-625.151) stays
## below the AGQ maximum that glmer and trialmlm reach (-625.075), and started from that maximum it moves away
## (to -625.161); its grid is not accurate enough for a random-intercept variance of 16.  Contraception
## (../glmm/glmmadaptive_refs.json) is not used either: GLMMadaptive stops 8.5e-6 below the maximum there and
## its SEs differ from those at the maximum by up to 3e-4 (model) and 6e-4 (sandwich) relative.
sandwich <- list(
  binary_ri_agq11 = adaptive("binary_ri_agq11", CRIT1FL ~ placebo * WEEK, ~ 1 | USUBJID, binary, binomial(), 11),
  binary_ris_agq11 = adaptive("binary_ris_agq11", CRIT1FL ~ placebo * WEEK, ~ WEEK | USUBJID, binary,
                              binomial(), 11),
  epil_ris_agq11 = adaptive("epil_ris_agq11", y ~ lbase * prog + lage + Visit, ~ Visit | subject, epil,
                            poisson(), 11))

## B. likelihood-ratio tests: anova(reduced, full) of glmer fits (Laplace), and the test of the random
##    intercept's variance against the GLM (glm logLik), whose p-value under H0: variance 0 is the 50:50
##    mixture of chi-square(0) and chi-square(1) (Self & Liang 1987; SAS GLIMMIX COVTEST).
full <- glmer(y ~ terb * time + (1 | id), toenail, binomial, control = ctrl)
reduced <- glmer(y ~ terb + time + (1 | id), toenail, binomial, control = ctrl)
a <- anova(reduced, full)
g0 <- glm(y ~ terb * time, toenail, family = binomial)
lrt <- list(
  anova = list(call = "anova(glmer(y ~ terb + time + (1 | id)), glmer(y ~ terb * time + (1 | id))) (Laplace)",
               loglik = unname(a$logLik), n_par = unname(a$npar), chisq = a$Chisq[2], df = a$Df[2],
               p = a[["Pr(>Chisq)"]][2]),
  zero_g = list(call = "glm(y ~ terb * time, binomial) vs glmer(y ~ terb * time + (1 | id)) (Laplace)",
                loglik_glm = as.numeric(logLik(g0)), loglik_glmer = as.numeric(logLik(full)),
                chisq = 2 * (as.numeric(logLik(full)) - as.numeric(logLik(g0))),
                p_mixture = 0.5 * pchisq(2 * (as.numeric(logLik(full)) - as.numeric(logLik(g0))), 1,
                                         lower.tail = FALSE)))

## C. emmeans on glmer fits (Laplace), asymptotic df.  glmer's bobyqa stops up to ~2e-5 below the maximum of
##    these flat likelihoods (estimates ~1e-4 relative away), so the fit is polished by three Newton steps on
##    glmer's own deviance function of (theta, beta) (numDeriv Richardson gradient and Hessian), and emmeans
##    works on the polished beta with the covariance 2 H^-1 (beta block) from that Hessian, through
##    qdrg() (emmeans' reference grid from a formula, coefficients and covariance).  joint_tests() prints F
##    rounded to 3 decimals; its p-value is not rounded, so chi_square = qchisq(p, df, lower.tail = FALSE).
polish <- function(fit) {
  devfun <- update(fit, devFunOnly = TRUE)
  nth <- length(getME(fit, "theta"))
  par <- c(getME(fit, "theta"), fixef(fit))
  for (k in 1:3) par <- par - solve(numDeriv::hessian(devfun, par), numDeriv::grad(devfun, par))
  V <- 2 * solve(numDeriv::hessian(devfun, par))
  beta <- setNames(par[-seq_len(nth)], names(fixef(fit)))
  list(beta = beta, V = V[-seq_len(nth), -seq_len(nth)], loglik = -devfun(par) / 2,
       gain = (devfun(c(getME(fit, "theta"), fixef(fit))) - devfun(par)) / 2)
}
emm_refs <- function(label, fit, rhs, data, link, specs, by) {
  pol <- polish(fit)
  grid <- qdrg(rhs, data = data, coef = pol$beta, vcov = pol$V, df = Inf, link = link)
  emm <- emmeans(grid, specs, by = by)
  link_tab <- as.data.frame(summary(emm, infer = TRUE))
  resp <- as.data.frame(summary(emm, type = "response", infer = TRUE))
  con <- contrast(emm, "trt.vs.ctrl", ref = 1)
  diff_link <- as.data.frame(summary(con, infer = TRUE))
  ratio <- as.data.frame(summary(con, type = "response", infer = TRUE))
  jt <- as.data.frame(joint_tests(grid))
  cat(sprintf("%-28s %d LS means, polishing gained %.2e in the log-likelihood\n", label, nrow(link_tab), pol$gain))
  list(fixef = as.list(pol$beta), loglik = pol$loglik, loglik_glmer = as.numeric(logLik(fit)),
       lsmeans = list(spec = as.character(link_tab[[specs]]), by = as.character(link_tab[[by]]),
                      estimate = link_tab$emmean, se = link_tab$SE, lower = link_tab$asymp.LCL,
                      upper = link_tab$asymp.UCL, mean = resp[[intersect(c("prob", "rate", "response"), names(resp))]],
                      mean_se = resp$SE, mean_lower = resp$asymp.LCL, mean_upper = resp$asymp.UCL),
       differences = list(contrast = as.character(diff_link$contrast), by = as.character(diff_link[[by]]),
                          estimate = diff_link$estimate, se = diff_link$SE, z = diff_link$z.ratio,
                          p = diff_link$p.value, ratio = ratio[[intersect(c("odds.ratio", "ratio"), names(ratio))]],
                          ratio_lower = ratio$asymp.LCL, ratio_upper = ratio$asymp.UCL),
       joint_tests = list(term = as.character(jt[["model term"]]), df = jt$df1, p = jt$p.value,
                          chi_square = qchisq(jt$p.value, jt$df1, lower.tail = FALSE)))
}
tfit <- glmer(y ~ treatment * fvisit + (1 | id), toenail, binomial, control = ctrl)
efit <- glmer(y ~ trt * fperiod + lbase + lage + (1 | subject), epil, poisson, control = ctrl)
emm <- list(
  toenail = c(list(call = "glmer(y ~ treatment * factor(visit) + (1 | id), binomial), emmeans(~ treatment | visit)"),
              emm_refs("toenail", tfit, ~ treatment * fvisit, toenail, "logit", "treatment", "fvisit")),
  epil = c(list(call = "glmer(y ~ trt * factor(period) + lbase + lage + (1 | subject), poisson), emmeans(~ trt | period)"),
           emm_refs("epil", efit, ~ trt * fperiod + lbase + lage, epil, "log", "trt", "fperiod")))

out <- list(generated = format(Sys.time(), "%Y-%m-%d"), R = R.version.string,
            packages = list(lme4 = as.character(packageVersion("lme4")),
                            GLMMadaptive = as.character(packageVersion("GLMMadaptive")),
                            emmeans = as.character(packageVersion("emmeans")),
                            numDeriv = as.character(packageVersion("numDeriv"))),
            sandwich = sandwich, likelihood_ratio = lrt, emmeans = emm)
write_json(out, "inference_refs.json", digits = NA, auto_unbox = TRUE, pretty = TRUE)
