# Reference values for the spatial structures sp_exp, sp_pow, sp_gau, sp_sph
# (SAS TYPE=SP(EXP), SP(POW), SP(GAU), SP(SPH)) on the FEV data of the R mmrm package.
#
#   Rscript make_spatial_refs.R        (from inside tests/reference/, about a minute)
#
# Reads fev_data.csv (written by make_fev_refs.R from data/fev_data.rda of
# https://github.com/openpharma/mmrm, commit ec290b2) and writes spatial_refs.json:
#
# (A) nlme::gls fits (corExp, corGaus, corSpher with nugget = FALSE; the same correlation
#     functions as SAS SP(EXP), SP(GAU), SP(SPH) with theta = nlme's range) of
#     FEV1 ~ 1 with coordinates VISITN and (VISITN, VISITN2), REML and ML, polished by
#     Newton steps on a dense (RE)ML evaluator written here.  sp_pow is sp_exp with
#     rho = exp(-1 / range).
# (B) Kenward-Roger for FEV1 ~ ARMCD, REML, coordinates (VISITN, VISITN2) (the model of the
#     SAS listings design/ddfm_covtype/kr1_spexp.txt and design/SAS/sas_sp_gau_kr.txt):
#     a dense Kenward & Roger (1997) adjusted covariance of beta in each structure's SAS
#     parameterisation, Phi_A = C + 2 C [sum_ij W_ij (Q_ij - P_i C P_j - R_ij / 4)] C,
#     W = 2 (Hessian of -2 l_R)^-1 (observed information, as SAS), derivatives of V by
#     numDeriv::genD (Richardson extrapolation); "linear" drops R_ij (SAS DDFM=KR(LINEAR)).
#     Satterthwaite df of the TRT - PBO difference, 2 (l'Cl)^2 / (g' W g).
#     Evaluated at the polished optimum and, for sp_exp and sp_gau, at the covariance
#     parameters SAS printed.

suppressPackageStartupMessages({
  library(nlme)
  library(numDeriv)
  library(jsonlite)
})

fev_data <- read.csv("fev_data.csv")
dat <- fev_data[!is.na(fev_data$FEV1), ]
dat$ARMCD <- factor(dat$ARMCD, levels = c("PBO", "TRT"))

CORR <- list(
  sp_exp = function(p, d) exp(-d / p),
  sp_pow = function(p, d) p^d,
  sp_gau = function(p, d) exp(-(d / p)^2),
  sp_sph = function(p, d) ifelse(d <= p, 1 - 1.5 * d / p + 0.5 * (d / p)^3, 0))

# distances between the rows of one subject; Inf between subjects (correlation 0)
distances <- function(coords) {
  xy <- as.matrix(dat[, coords, drop = FALSE])
  D <- as.matrix(dist(xy))
  D[outer(dat$USUBJID, dat$USUBJID, "!=")] <- Inf
  D
}

# -2 (RE)ML log-likelihood with SAS's constant, at phi = (p, sigma2)
m2ll <- function(phi, struct, D, X, y, reml) {
  V <- phi[2] * CORR[[struct]](phi[1], D)
  U <- chol(V)
  Xs <- backsolve(U, X, transpose = TRUE)
  ys <- backsolve(U, y, transpose = TRUE)
  A <- crossprod(Xs)
  beta <- solve(A, crossprod(Xs, ys))
  r <- ys - Xs %*% beta
  n <- length(y)
  k <- if (reml) n - ncol(X) else n
  val <- 2 * sum(log(diag(U))) + sum(r^2) + k * log(2 * pi)
  if (reml) val <- val + as.numeric(determinant(A)$modulus)
  val
}

polish <- function(phi, f) {
  for (i in 1:5) {
    g <- grad(f, phi)
    step <- solve(hessian(f, phi), g)
    phi <- phi - step
    if (max(abs(step / phi)) < 1e-9) break
  }
  list(phi = phi, grad = grad(f, phi), max_rel_step = max(abs(step / phi)))
}

## (A) intercept-only fits --------------------------------------------------------------
GLS_COR <- list(sp_exp = corExp, sp_gau = corGaus, sp_sph = corSpher)
GLS_NAME <- list(sp_exp = "corExp", sp_gau = "corGaus", sp_sph = "corSpher")
fits <- list()
for (struct in names(GLS_COR)) for (coords in list("VISITN", c("VISITN", "VISITN2"))) {
  for (method in c("REML", "ML")) {
    form <- as.formula(paste("~", paste(coords, collapse = " + "), "| USUBJID"))
    fit <- gls(FEV1 ~ 1, data = dat, method = method,
               correlation = GLS_COR[[struct]](form = form, nugget = FALSE),
               control = glsControl(maxIter = 500, msMaxIter = 5000, tolerance = 1e-10))
    range <- unname(coef(fit$modelStruct$corStruct, unconstrained = FALSE))
    X <- matrix(1, nrow(dat), 1)
    D <- distances(coords)
    f <- function(phi) m2ll(phi, struct, D, X, dat$FEV1, method == "REML")
    start <- c(range, fit$sigma^2)
    stopifnot(abs(f(start) + 2 * as.numeric(logLik(fit))) < 1e-6)
    pol <- polish(start, f)
    cases <- list(list(structure = struct, phi = pol$phi))
    if (struct == "sp_exp")
      cases[[2]] <- list(structure = "sp_pow", phi = c(exp(-1 / pol$phi[1]), pol$phi[2]))
    for (cs in cases) {
      name <- sprintf("%s_%dd_%s", cs$structure, length(coords), tolower(method))
      fits[[name]] <- list(
        structure = cs$structure, coordinates = coords, method = method,
        formula = sprintf("FEV1 ~ 1 + %s(%s | USUBJID)", cs$structure, paste(coords, collapse = ", ")),
        r_call = sprintf("gls(FEV1 ~ 1, data = fev_data[!is.na(FEV1), ], method = \"%s\", correlation = %s(form = %s, nugget = FALSE))",
                         method, GLS_NAME[[struct]], deparse(form)),
        nlme_m2ll = -2 * as.numeric(logLik(fit)), m2ll = f(pol$phi),
        phi = cs$phi, newton_max_rel_step = pol$max_rel_step, gradient = pol$grad)
      cat(sprintf("%-18s -2LL %.8f (nlme %.8f)  phi %s\n", name, f(pol$phi),
                  -2 * as.numeric(logLik(fit)), paste(signif(cs$phi, 10), collapse = ", ")))
    }
  }
}

## (B) Kenward-Roger, FEV1 ~ ARMCD --------------------------------------------------------
kenward_roger <- function(struct, phi, D, X, y) {
  f <- function(p) m2ll(p, struct, D, X, y, TRUE)
  # sp_sph: Richardson steps from 2e-4 relative (numDeriv's default 0.1 would step over the
  # kink of the spherical function at d = theta; the nearest distance is 1.9e-3 from theta)
  W <- 2 * solve(hessian(f, phi, method.args = list(d = if (struct == "sp_sph") 2e-4 else 0.1)))
  pos <- which(is.finite(D))
  dvec <- D[pos]
  gd <- genD(function(p) CORR[[struct]](p, dvec), phi[1])$D  # columns: f', f''
  mat <- function(v) { M <- matrix(0, nrow(D), ncol(D)); M[pos] <- v; M }
  Fm <- mat(CORR[[struct]](phi[1], dvec))
  F1 <- mat(gd[, 1])
  F2 <- mat(gd[, 2])
  V <- phi[2] * Fm
  dV <- list(phi[2] * F1, Fm)
  d2V <- list(list(phi[2] * F2, F1), list(F1, 0 * Fm))
  Vi <- solve(V)
  C <- solve(t(X) %*% Vi %*% X)
  ViX <- Vi %*% X
  P <- lapply(dV, function(a) t(ViX) %*% a %*% ViX)
  total <- list(full = 0, linear = 0)
  for (i in 1:2) for (j in 1:2) {
    Q <- t(ViX) %*% dV[[i]] %*% Vi %*% dV[[j]] %*% ViX
    R <- t(ViX) %*% d2V[[i]][[j]] %*% ViX
    lin <- W[i, j] * (Q - P[[i]] %*% C %*% P[[j]])
    total$linear <- total$linear + lin
    total$full <- total$full + lin - 0.25 * W[i, j] * R
  }
  L <- c(0, 1)
  g <- sapply(P, function(p) -as.numeric(t(L) %*% C %*% p %*% C %*% L))  # d(l'Cl)/dphi
  beta <- as.numeric(C %*% t(ViX) %*% y)
  list(m2ll = f(phi), phi = phi, W = W, beta = beta,
       estimate = beta[2], se_model = sqrt(as.numeric(t(L) %*% C %*% L)),
       se_kr = sqrt(as.numeric(t(L) %*% (C + 2 * C %*% total$full %*% C) %*% L)),
       se_kr_linear = sqrt(as.numeric(t(L) %*% (C + 2 * C %*% total$linear %*% C) %*% L)),
       df_satterthwaite = 2 * as.numeric(t(L) %*% C %*% L)^2 / as.numeric(t(g) %*% W %*% g))
}

X <- model.matrix(~ARMCD, dat)
D2 <- distances(c("VISITN", "VISITN2"))
kr_cases <- list()
for (struct in names(GLS_COR)) {
  fit <- gls(FEV1 ~ ARMCD, data = dat, method = "REML",
             correlation = GLS_COR[[struct]](form = ~VISITN + VISITN2 | USUBJID, nugget = FALSE),
             control = glsControl(maxIter = 500, msMaxIter = 5000, tolerance = 1e-10))
  range <- unname(coef(fit$modelStruct$corStruct, unconstrained = FALSE))
  f <- function(phi) m2ll(phi, struct, D2, X, dat$FEV1, TRUE)
  pol <- polish(c(range, fit$sigma^2), f)
  structs <- if (struct == "sp_exp") c("sp_exp", "sp_pow") else struct
  for (s in structs) {
    phi <- if (s == "sp_pow") c(exp(-1 / pol$phi[1]), pol$phi[2]) else pol$phi
    kr <- kenward_roger(s, phi, D2, X, dat$FEV1)
    kr$newton_max_rel_step <- pol$max_rel_step
    kr$formula <- sprintf("FEV1 ~ ARMCD + %s(VISITN, VISITN2 | USUBJID)", s)
    kr$point <- "optimum"
    kr_cases[[paste0(s, "_optimum")]] <- kr
    cat(sprintf("%-22s -2LL %.8f  SE %.8f  KR %.8f  KR-linear %.8f  df %.6f\n", s, kr$m2ll,
                kr$se_model, kr$se_kr, kr$se_kr_linear, kr$df_satterthwaite))
  }
}
SAS_PHI <- list(sp_exp = c(1.0898, 83.3648), sp_gau = c(1.3379, 85.3830))
for (s in names(SAS_PHI)) {
  kr <- kenward_roger(s, SAS_PHI[[s]], D2, X, dat$FEV1)
  kr$formula <- sprintf("FEV1 ~ ARMCD + %s(VISITN, VISITN2 | USUBJID)", s)
  kr$point <- "covariance parameters printed by SAS"
  kr_cases[[paste0(s, "_sas_parameters")]] <- kr
  cat(sprintf("%-22s -2LL %.8f  SE %.8f  KR %.8f  KR-linear %.8f  df %.6f\n", paste(s, "at SAS"),
              kr$m2ll, kr$se_model, kr$se_kr, kr$se_kr_linear, kr$df_satterthwaite))
}

out <- list(
  generated = format(Sys.Date()),
  r_version = R.version.string,
  packages = list(nlme = as.character(packageVersion("nlme")),
                  numDeriv = as.character(packageVersion("numDeriv"))),
  data = "fev_data.csv (rows with FEV1 observed; 537 of 800)",
  fits = fits, kenward_roger = kr_cases)
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE), "spatial_refs.json")
