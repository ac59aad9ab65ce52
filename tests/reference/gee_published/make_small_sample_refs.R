# make_small_sample_refs.R -- small-sample corrections of the GEE sandwich covariance
# (Mancl-DeRouen, Kauermann-Carroll, Fay-Graubard, Morel-Bokossa-Neerchal) from R geesmv,
# with a direct matrix computation of each that checks geesmv and documents its conventions.
#
# Run from inside tests/reference/gee_published/ after make_sas_doc_data.R (reads six_cities.csv):
#   Rscript make_small_sample_refs.R
# Needs geesmv 1.3 (CRAN; not in Debian: installed from the CRAN sources of version 1.3, whose
# Imports are Debian r-cran-gee r-cran-matrixcalc r-cran-nlme r-cran-mass), geepack 1.3.9,
# gee 4.13-25, MASS 7.3-58 and jsonlite.
#
# Data: six_cities.csv (binary, 16 clusters x 4; wheeze ~ city + age + smoke, city reference
# "portage" as SAS's last level) and MASS::epil, written as epil.csv (counts, 59 clusters x 4;
# y ~ trt + lbase + lage + V4, V4 = indicator of period 4, trt reference "placebo"); working correlation exchangeable and AR(1).
#
# Writes small_sample_refs.json; for each data set d and structure s, case "<d>_<s>" holds
#   gee       what geesmv fits and uses: gee::gee(..., corstr = "exchangeable" / "AR-M", Mv = 1)
#             coefficients, the working correlation parameter alpha (= working.correlation[1, 2]),
#             the scale phi (gee's Pearson moment estimate, divisor N - p), iterations;
#   geesmv    the variances (diagonals only: geesmv returns diag) of GEE.var.lz (Liang-Zeger),
#             GEE.var.md (Mancl-DeRouen), GEE.var.kc (Kauermann-Carroll), GEE.var.fg (Fay-Graubard,
#             b = 0.75), GEE.var.mbn (Morel-Bokossa-Neerchal, d = 2, r = 1), all at gee's beta, alpha;
#   direct_at_gee  the same five covariance matrices computed below from the formulas at gee's
#             beta and alpha (full p x p matrices), plus "kc_principal": Kauermann-Carroll with the
#             principal inverse square root of I - H_i (see the geesmv quirk in README.md);
#   geeglm    geepack::geeglm fit of the same model (corstr "exchangeable" / "ar1", scale estimated):
#             coefficients, alpha, scale, its robust covariance vbeta;
#   direct_at_geeglm  LZ (equal to geeglm's vbeta: checked), MD, KC (principal root), FG, MBN at
#             geeglm's beta and alpha.
#
# Formulas (phi cancels from every sandwich, so V_i = A_i^{1/2} R_i(alpha) A_i^{1/2}):
#   A_i = diag(v(mu_ij)), D_i = A_i X_i (canonical links), e_i = y_i - mu_i,
#   M = sum_i D_i' V_i^{-1} D_i,  H_i = D_i M^{-1} D_i' V_i^{-1},  U_i = D_i' V_i^{-1} e_i,
#   LZ  = M^{-1} [sum U_i U_i'] M^{-1}
#   MD  = M^{-1} [sum D_i' V_i^{-1} (I - H_i)^{-1} e_i e_i' (I - H_i)^{-T} V_i^{-1} D_i] M^{-1}
#   KC  = the same with (I - H_i)^{-1/2} in place of (I - H_i)^{-1}
#   FG  = M^{-1} [sum B_i U_i U_i' B_i] M^{-1},  B_i = diag((1 - min(b, diag(D_i' V_i^{-1} D_i M^{-1})))^{-1/2})
#   MBN = M^{-1} [k sum U_i U_i' + delta xi M] M^{-1},  k = (N - 1)/(N - p) K/(K - 1),
#         delta = p/(K - p) if K > (d + 1) p else 1/d,  xi = max(r, trace(M^{-1} sum U_i U_i')/p)
# with K clusters, N observations, p coefficients.

suppressPackageStartupMessages({
  library(geesmv)
  library(geepack)
  library(gee)
  library(MASS)
  library(jsonlite)
})

six <- read.csv("six_cities.csv")
six$city <- factor(six$city, levels = c("portage", "kingston"))
six <- six[order(six$case, six$age), ]
data(epil, package = "MASS")
epil <- epil[order(epil$subject, epil$period), c("subject", "period", "y", "trt", "base", "age",
                                                 "lbase", "lage", "V4")]
epil$trt <- factor(as.character(epil$trt), levels = c("placebo", "progabide"))
write.csv(epil, "epil.csv", row.names = FALSE)

CASES <- list(
  six = list(data = six, formula = wheeze ~ city + age + smoke, id = "case", family = "binomial"),
  epil = list(data = epil, formula = y ~ trt + lbase + lage + V4, id = "subject", family = "poisson"))
STRUCT <- list(exch = c(gee = "exchangeable", geeglm = "exchangeable"),
               ar1 = c(gee = "AR-M", geeglm = "ar1"))

working_correlation <- function(n, alpha, s) {
  if (s == "exch") {
    R <- matrix(alpha, n, n); diag(R) <- 1; R
  } else {
    alpha^abs(outer(seq_len(n), seq_len(n), "-"))
  }
}

# Inverse square root of I - H_i: the principal root (I - H_i = V^{1/2} (I - S) V^{-1/2} with S
# symmetric, so its eigenvalues are real and positive), and geesmv's mat.sqrt.inv, which treats
# the non-symmetric matrix as symmetric: P diag(lambda^{-1/2}) P' with unit-length eigenvectors P.
inv_sqrt_principal <- function(A) {
  e <- eigen(A)
  Re(e$vectors %*% diag(1 / sqrt(Re(e$values)), nrow(A)) %*% solve(e$vectors))
}
inv_sqrt_geesmv <- function(A) {
  e <- eigen(A)
  d <- (e$values + abs(e$values)) / 2
  d2 <- 1 / sqrt(d)
  d2[d == 0] <- 0
  e$vectors %*% diag(d2, nrow(A)) %*% t(e$vectors)
}

sandwiches <- function(case, s, beta, alpha, b = 0.75, d = 2, r = 1) {
  X <- model.matrix(case$formula, case$data)
  y <- model.response(model.frame(case$formula, case$data))
  eta <- drop(X %*% beta)
  mu <- if (case$family == "binomial") plogis(eta) else exp(eta)
  v <- if (case$family == "binomial") mu * (1 - mu) else mu
  ids <- split(seq_len(nrow(X)), case$data[[case$id]])
  parts <- lapply(ids, function(rows) {
    n <- length(rows)
    Di <- v[rows] * X[rows, , drop = FALSE]
    Vi <- sqrt(v[rows]) * t(sqrt(v[rows]) * working_correlation(n, alpha, s))
    Vinv <- solve(Vi)
    list(D = Di, Vinv = Vinv, e = y[rows] - mu[rows], V = Vi)
  })
  M <- Reduce(`+`, lapply(parts, function(q) t(q$D) %*% q$Vinv %*% q$D))
  Minv <- solve(M)
  meat <- function(adjust) Reduce(`+`, lapply(parts, function(q) {
    u <- adjust(q)
    u %*% t(u)
  }))
  lever <- function(q) diag(length(q$e)) - q$D %*% Minv %*% t(q$D) %*% q$Vinv
  U <- function(q) t(q$D) %*% q$Vinv %*% q$e
  lz_meat <- meat(U)
  p <- ncol(X); K <- length(parts); N <- nrow(X)
  k <- (N - 1) / (N - p) * K / (K - 1)
  delta <- if (K > (d + 1) * p) p / (K - p) else 1 / d
  xi <- max(r, sum(diag(Minv %*% lz_meat)) / p)
  out <- list(
    lz = Minv %*% lz_meat %*% Minv,
    md = Minv %*% meat(function(q) t(q$D) %*% q$Vinv %*% solve(lever(q)) %*% q$e) %*% Minv,
    kc = Minv %*% meat(function(q) t(q$D) %*% q$Vinv %*% inv_sqrt_geesmv(lever(q)) %*% q$e) %*% Minv,
    kc_principal = Minv %*% meat(function(q)
      t(q$D) %*% q$Vinv %*% inv_sqrt_principal(lever(q)) %*% q$e) %*% Minv,
    fg = Minv %*% meat(function(q) {
      Q <- t(q$D) %*% q$Vinv %*% q$D %*% Minv
      (1 - pmin(b, diag(Q)))^(-0.5) * U(q)
    }) %*% Minv,
    mbn = Minv %*% (k * lz_meat + delta * xi * M) %*% Minv)
  out <- lapply(out, function(m) { dimnames(m) <- list(colnames(X), colnames(X)); m })
  out$mbn_constants <- list(k = k, delta = delta, xi = xi, d = d, r = r, K = K, N = N, p = p)
  out$fg_b <- b
  out
}

relative_gap <- function(a, b) max(abs(a - b) / pmax(abs(b), 1e-300))

results <- list()
for (dn in names(CASES)) for (s in names(STRUCT)) {
  case <- CASES[[dn]]
  dat <- case$data
  dat$.id <- dat[[case$id]]
  invisible(capture.output(g <- gee(case$formula, id = .id, data = dat, family = case$family,
                                    corstr = STRUCT[[s]][["gee"]], Mv = 1)))
  alpha_gee <- g$working.correlation[1, 2]
  beta_gee <- g$coefficients
  call_geesmv <- function(fun, ...) {
    invisible(capture.output(v <- fun(case$formula, id = case$id, family = case$family,
                                      data = case$data, corstr = STRUCT[[s]][["gee"]], ...)))
    setNames(v$cov.beta, names(beta_gee))
  }
  sm <- list(lz = call_geesmv(GEE.var.lz), md = call_geesmv(GEE.var.md), kc = call_geesmv(GEE.var.kc),
             fg = call_geesmv(GEE.var.fg), mbn = call_geesmv(GEE.var.mbn))
  at_gee <- sandwiches(case, s, beta_gee, alpha_gee)
  for (m in names(sm)) {
    gap <- relative_gap(diag(at_gee[[m]]), sm[[m]])
    cat(sprintf("%-5s %-4s %-3s direct vs geesmv: %.1e\n", dn, s, m, gap))
    stopifnot(gap < 1e-8)
  }
  gg <- geeglm(case$formula, id = .id, data = dat, family = case$family,
               corstr = STRUCT[[s]][["geeglm"]])
  beta_gg <- coef(gg)
  alpha_gg <- unname(gg$geese$alpha)
  at_gg <- sandwiches(case, s, beta_gg, alpha_gg)
  gap <- relative_gap(at_gg$lz, gg$geese$vbeta)
  cat(sprintf("%-5s %-4s LZ direct vs geeglm vbeta: %.1e\n", dn, s, gap))
  stopifnot(gap < 1e-6)
  vb <- gg$geese$vbeta
  dimnames(vb) <- list(names(beta_gg), names(beta_gg))
  results[[paste(dn, s, sep = "_")]] <- list(
    data = if (dn == "six") "six_cities.csv" else "epil.csv",
    formula = deparse(case$formula), id = case$id, family = case$family,
    link = if (case$family == "binomial") "logit" else "log",
    working = s, clusters = length(unique(dat$.id)), observations = nrow(dat),
    gee = list(corstr = STRUCT[[s]][["gee"]], coefficients = as.list(beta_gee), alpha = alpha_gee,
               scale = g$scale, iterations = g$iterations),
    geesmv = lapply(sm, as.list),
    direct_at_gee = at_gee,
    geeglm = list(corstr = STRUCT[[s]][["geeglm"]], coefficients = as.list(beta_gg),
                  alpha = alpha_gg, scale = unname(gg$geese$gamma), vbeta = vb),
    direct_at_geeglm = at_gg[c("lz", "md", "kc_principal", "fg", "mbn", "mbn_constants", "fg_b")])
}

results$generated <- format(Sys.Date())
results$versions <- list(R = as.character(getRversion()), geesmv = as.character(packageVersion("geesmv")),
                         geepack = as.character(packageVersion("geepack")),
                         gee = as.character(packageVersion("gee")), MASS = as.character(packageVersion("MASS")))
writeLines(toJSON(results, auto_unbox = TRUE, digits = NA, pretty = TRUE, matrix = "rowmajor"),
           "small_sample_refs.json")
