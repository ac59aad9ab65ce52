# make_score_refs.R -- generalized score statistics for type 3 tests in a GEE (Rotnitzky & Jewell
# 1990; Boos 1992; SAS PROC GENMOD/GEE "Score Statistics For Type 3 GEE Analysis"), computed
# independently of trialmlm from the documented formula, the reference of anova(test = "score").
#
# Run from inside tests/reference/gee_small/:  Rscript make_score_refs.R   (geepack 1.3.9, jsonlite)
#
# Data: ../gee_published/respiratory.csv (111 patients, 4 visits, binary outcome; subject =
# center x id).  Model: outcome ~ treatment + sex + age + baseline + visit (visit a factor,
# reference levels as SAS: the last, i.e. treatment P, sex M, visit 4), logit link,
# exchangeable working correlation, geepack's moment estimators.
# For each term: the restricted model (the term's columns dropped = L beta = 0 for a main
# effect under reference coding) is fitted by geeglm (epsilon 1e-12); at its beta~ (zeros for
# the term) and alpha~, with the FULL design X, per cluster i (V_i = A_i^1/2 R(alpha~) A_i^1/2):
#   U_i = D_i' V_i^-1 (y_i - mu_i),  M = sum D_i' V_i^-1 D_i,  S = sum U_i,
#   Sigma = M^-1 (sum U_i U_i') M^-1,  T = (L M^-1 S)' (L Sigma L')^-1 (L M^-1 S),  df = rank(L).
# Writes score_refs.json: per term the statistic, df, p, and beta~, alpha~ of the restricted fit.
suppressPackageStartupMessages({
  library(geepack)
  library(jsonlite)
})

resp <- read.csv("../gee_published/respiratory.csv")
resp$subject <- resp$center * 1000 + resp$id
resp <- resp[order(resp$subject, resp$visit), ]
resp$treatment <- relevel(factor(resp$treatment), ref = "P")
resp$sex <- relevel(factor(resp$sex), ref = "M")
resp$visit <- relevel(factor(resp$visit), ref = "4")
full <- outcome ~ treatment + sex + age + baseline + visit
X <- model.matrix(full, resp)
y <- resp$outcome
ctrl <- geese.control(epsilon = 1e-12, maxit = 100)
terms <- c("treatment", "sex", "age", "baseline", "visit")
assign <- attr(X, "assign")

score_statistic <- function(beta, alpha, cols) {
  mu <- plogis(drop(X %*% beta))
  v <- mu * (1 - mu)
  p <- ncol(X)
  M <- matrix(0, p, p); meat <- matrix(0, p, p); S <- rep(0, p)
  for (rows in split(seq_len(nrow(X)), resp$subject)) {
    n <- length(rows)
    R <- matrix(alpha, n, n); diag(R) <- 1
    D <- v[rows] * X[rows, , drop = FALSE]
    Vinv <- solve(sqrt(v[rows]) * t(sqrt(v[rows]) * R))
    U <- t(D) %*% Vinv %*% (y[rows] - mu[rows])
    M <- M + t(D) %*% Vinv %*% D
    meat <- meat + U %*% t(U)
    S <- S + U
  }
  Minv <- solve(M)
  Sigma <- Minv %*% meat %*% Minv
  L <- diag(p)[cols, , drop = FALSE]
  g <- L %*% Minv %*% S
  drop(t(g) %*% solve(L %*% Sigma %*% t(L), g))
}

fit_full <- geeglm(full, id = subject, data = resp, family = binomial, corstr = "exchangeable",
                   control = ctrl)
results <- list(full = list(coefficients = as.list(coef(fit_full)), alpha = unname(fit_full$geese$alpha)))
for (k in seq_along(terms)) {
  cols <- which(assign == k)
  Xr <- X[, -cols, drop = FALSE]
  g0 <- geeglm(y ~ Xr - 1, id = resp$subject, family = binomial, corstr = "exchangeable", control = ctrl)
  beta <- rep(0, ncol(X)); beta[-cols] <- coef(g0)
  alpha <- unname(g0$geese$alpha)
  stat <- score_statistic(beta, alpha, cols)
  results$terms[[terms[k]]] <- list(df = length(cols), chi_square = stat,
                                    p = pchisq(stat, length(cols), lower.tail = FALSE),
                                    beta_restricted = beta, alpha_restricted = alpha)
}
results$versions <- list(R = as.character(getRversion()), geepack = as.character(packageVersion("geepack")))
writeLines(toJSON(results, auto_unbox = TRUE, digits = NA, pretty = TRUE), "score_refs.json")
