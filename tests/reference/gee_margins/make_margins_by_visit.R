# make_margins_by_visit.R -- marginal (g-computation) treatment effects per visit with their
# joint covariance across visits, on the respiratory trial (../gee_published/respiratory.csv:
# 111 patients, treatment A/P, visits 1-4, outcome 0/1), for trialmlm.genmod.margins.
#
# Run from inside tests/reference/gee_margins/:   Rscript make_margins_by_visit.R
# Needs beeca 0.2.0 (github.com/openpharma/beeca, see ../gee_published/README.md), sandwich, jsonlite.
#
# Working model: logistic, fully interacted with visit,
#   outcome ~ visit * (treatment + baseline + age + sex),
# fitted to the stacked visits by glm (= the GEE with an independence working correlation),
# subject = id within center.  Per visit v and arm a, theta_va = mean over the subjects at v of
# expit(x_iv(a)' beta).  Writes margins_by_visit.json with
#   per_visit[[v]]   beeca get_marginal_effect on visit v's rows alone (outcome ~ treatment +
#                    baseline + age + sex, reference P): Ye, Ge model-based, Ge HC0 covariances
#                    of (theta_vA, theta_vP) and the diff / rr / or estimates and SEs.  The
#                    stacked fit has the same coefficients per visit, so these are the diagonal
#                    blocks of the joint covariances.
#   joint            the 8 x 8 covariances of (theta_V1A, theta_V1P, ..., theta_V4P):
#     ge_model       J vcov(glm) J' (J = d theta / d beta'), block diagonal here;
#     ge_robust      J B J', B = the cluster-robust sandwich from sandwich::estfun summed by subject
#                    and bread = vcov(glm) (= geepack's independence robust covariance);
#     influence      sum_i psi_i psi_i',  psi_iva = 1{i at v}(p_iva - theta_va)/n_v + J_va vcov(glm) U_i,
#                    U_i = rowsum(estfun(glm), subject);
#     ye             the Ye et al. moments across visits (docstring of trialmlm/genmod/margin_variance.py):
#                    for visits v, w over the subjects observed at both (all subjects here),
#                    B_ab = d_ab/pi_a {cov_a(y_v,y_w) - cov_a(y_v,p_wa) - cov_a(p_va,y_w) + cov(p_va,p_wa)}
#                           + cov_a(y_v,p_wb) + cov_b(p_va,y_w) - cov(p_va,p_wb),  Cov = B / n.

suppressPackageStartupMessages({
  library(beeca)
  library(sandwich)
  library(jsonlite)
})

TIGHT <- glm.control(epsilon = 1e-14, maxit = 100)
d <- read.csv("../gee_published/respiratory.csv")
d$visit <- factor(paste0("V", d$visit))
d$treatment <- factor(d$treatment, levels = c("A", "P"))
d$sex <- factor(d$sex)
d$subj <- paste(d$center, d$id, sep = "-")
d <- d[order(d$subj, d$visit), ]
visits <- levels(d$visit)
arms <- levels(d$treatment)

per_visit <- lapply(visits, function(v) {
  dv <- d[d$visit == v, ]
  fit <- glm(outcome ~ treatment + baseline + age + sex, family = binomial, data = dv, control = TIGHT)
  one <- function(method, type = "HC0") {
    res <- lapply(c("diff", "rr", "or"), function(ct) {
      f <- suppressWarnings(get_marginal_effect(fit, trt = "treatment", method = method, type = type,
                                                contrast = ct, reference = "P"))
      list(estimate = unname(f$marginal_est), se = unname(f$marginal_se),
           varcov = unclass(f$robust_varcov)[arms, arms], means = unname(f$counterfactual.means[arms]))
    })
    names(res) <- c("diff", "rr", "or")
    res
  }
  list(visit = v, n = nrow(dv), Ye = one("Ye"), Ge_model = one("Ge", "model-based"), Ge_HC0 = one("Ge", "HC0"))
})
names(per_visit) <- visits

fit <- glm(outcome ~ visit * (treatment + baseline + age + sex), family = binomial, data = d, control = TIGHT)
beta <- coef(fit)
V <- vcov(fit)
subj <- factor(d$subj)
n <- nlevels(subj)
pred <- list()
J <- NULL
for (v in visits) for (a in arms) {
  dv <- d
  dv$treatment <- factor(a, levels = arms)
  X <- model.matrix(formula(fit), dv)
  at <- d$visit == v
  p <- plogis(drop(X %*% beta))
  pred[[paste(v, a)]] <- ifelse(at, p, NA)
  J <- rbind(J, colSums((p * (1 - p) * X)[at, ]) / sum(at))
}
U <- rowsum(estfun(fit), d$subj)               # per subject, in sorted subject order
meat <- crossprod(U)
theta <- sapply(pred, mean, na.rm = TRUE)
wide <- function(x) tapply(x, list(d$subj, d$visit), identity)   # subjects x visits
psi <- sapply(names(pred), function(k) {
  w <- wide(pred[[k]])[, strsplit(k, " ")[[1]][1]]
  ifelse(is.na(w), 0, (w - theta[[k]]) / sum(!is.na(w)))
}) + U %*% V %*% t(J)

# Ye moments across visits (complete data: every subject at every visit)
Y <- wide(d$outcome)
P <- lapply(names(pred), function(k) wide(pred[[k]])[, strsplit(k, " ")[[1]][1]])
names(P) <- names(pred)
arm_s <- tapply(as.character(d$treatment), d$subj, `[`, 1)
ye <- matrix(0, 8, 8, dimnames = list(names(pred), names(pred)))
for (v in visits) for (w in visits) for (a in arms) for (b in arms) {
  ia <- arm_s == a
  ib <- arm_s == b
  pa <- mean(ia)
  val <- cov(Y[ia, v], P[[paste(w, b)]][ia]) + cov(P[[paste(v, a)]][ib], Y[ib, w]) -
    cov(P[[paste(v, a)]], P[[paste(w, b)]])
  if (a == b) val <- val + (cov(Y[ia, v], Y[ia, w]) - cov(Y[ia, v], P[[paste(w, a)]][ia]) -
                              cov(P[[paste(v, a)]][ia], Y[ia, w]) + cov(P[[paste(v, a)]], P[[paste(w, a)]])) / pa
  ye[paste(v, a), paste(w, b)] <- val / n
}
stopifnot(max(abs(ye[1:2, 1:2] - per_visit$V1$Ye$diff$varcov)) < 1e-12)

joint <- list(labels = names(pred), means = unname(theta), coefficients = as.list(beta),
              ge_model = unname(J %*% V %*% t(J)), ge_robust = unname(J %*% V %*% meat %*% V %*% t(J)),
              influence = unname(crossprod(psi)), ye = unname(ye))
out <- list(generated = format(Sys.Date()),
            versions = list(R = as.character(getRversion()), beeca = as.character(packageVersion("beeca")),
                            sandwich = as.character(packageVersion("sandwich"))),
            formula = "outcome ~ visit * (treatment + baseline + age + sex)", reference = "P",
            per_visit = per_visit, joint = joint)
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE, matrix = "rowmajor"),
           "margins_by_visit.json")
