# make_random_group_refs.R -- reference values for random effects combined with a per-group
# residual structure: SAS
#   RANDOM INT TIME / SUBJECT=ID TYPE=UN;
#   REPEATED AVISIT / SUBJECT=ID TYPE=AR(1) GROUP=TRT;
# trialmlm: Y ~ TRT * TIME + (1 + TIME | ID) + ar1(AVISIT | TRT / ID).
#
# Run from inside tests/reference/:   Rscript make_random_group_refs.R
# Needs R with nlme, numDeriv, jsonlite (Debian: r-cran-nlme r-cran-numderiv r-cran-jsonlite).
#
# No R package fits this model (nlme's varIdent + corAR1 separates the residual variance by
# group but keeps one AR(1) correlation), so the script
#   1. simulates random_group.csv: two arms (ACT, PBO), 160 subjects, 6 visits (TIME 0, 1, 2,
#      4, 6, 8), random intercept and slope, AR(1) residuals with their own variance and
#      correlation per arm, monotone dropout and a few intermittent gaps;
#   2. fits the nested model nlme::lme(Y ~ TRT * TIME, random = ~ 1 + TIME | ID,
#      correlation = corAR1(~ VISN | ID), weights = varIdent(~ 1 | TRT)) (REML), a lower bound;
#   3. writes a dense, textbook REML evaluator for the GROUP= model,
#        -2 l_R = (n - p) log 2 pi + sum_i log|V_i| + log|X'V^-1 X| + r'V^-1 r,
#        V_i = Z_i G Z_i' + sigma2_g(i) * rho_g(i)^|j - k|  (j, k visit positions),
#      and checks it against nlme's log-likelihood at nlme's estimates (restricted
#      parameters: one rho, sigma2_g = sigma2 * delta_g^2) -- it must agree to 1e-8;
#   4. maximises that evaluator over the 7 parameters (log-Cholesky G, atanh rho_g,
#      log sigma2_g) with optim (BFGS from nlme's estimates, reltol 1e-15), then polishes by
#      Newton steps on numDeriv's gradient and Hessian in the natural parameters, and records
#      the optimum (parameters, -2 l_R, fixed effects and model-based SEs, BLUPs
#      G Z_i' V_i^-1 (y_i - X_i beta)) with the final gradient and Newton step;
#   5. evaluates -2 l_R, beta and the BLUPs at three parameter points away from the optimum.
#
# Writes random_group.csv and random_group_refs.json.  Deterministic (set.seed).

suppressPackageStartupMessages({
  library(nlme)
  library(numDeriv)
  library(jsonlite)
})
SEED <- 20260311

## 1. data --------------------------------------------------------------------------------
set.seed(SEED)
n_per_arm <- 80
times <- c(0, 1, 2, 4, 6, 8)
G_true <- matrix(c(4, 0.3, 0.3, 0.25), 2)
resid_true <- list(ACT = c(rho = 0.3, sigma2 = 2), PBO = c(rho = 0.65, sigma2 = 4))
rows <- list()
for (i in seq_len(2 * n_per_arm)) {
  arm <- if (i <= n_per_arm) "ACT" else "PBO"
  b <- drop(t(chol(G_true)) %*% rnorm(2))
  rp <- resid_true[[arm]]
  R <- rp[["sigma2"]] * rp[["rho"]]^abs(outer(1:6, 1:6, "-"))
  e <- drop(t(chol(R)) %*% rnorm(6))
  mu <- 10 - 0.5 * times - (arm == "ACT") * 0.3 * times
  y <- mu + b[1] + b[2] * times + e
  last <- if (runif(1) < 0.3) sample(2:5, 1) else 6
  keep <- seq_len(last)
  if (last == 6 && runif(1) < 0.15) keep <- setdiff(keep, sample(2:5, 1))
  rows[[i]] <- data.frame(ID = sprintf("S%03d", i), TRT = arm, AVISIT = paste0("V", keep), VISN = keep,
                          TIME = times[keep], Y = round(y[keep], 3))
}
dat <- do.call(rbind, rows)
write.csv(dat, "random_group.csv", row.names = FALSE)
dat <- read.csv("random_group.csv", stringsAsFactors = FALSE)
dat$TRT <- factor(dat$TRT, levels = c("ACT", "PBO"))

## 2. nested nlme model (common AR(1) correlation, per-arm residual variance) --------------
ctrl <- lmeControl(maxIter = 500, msMaxIter = 500, tolerance = 1e-12, msTol = 1e-14, niterEM = 0)
fit0 <- lme(Y ~ TRT * TIME, random = ~ 1 + TIME | ID, correlation = corAR1(form = ~ VISN | ID),
            weights = varIdent(form = ~ 1 | TRT), data = dat, method = "REML", control = ctrl)
sigma0 <- fit0$sigma
rho0 <- as.numeric(coef(fit0$modelStruct$corStruct, unconstrained = FALSE))
delta <- c(ACT = 1, coef(fit0$modelStruct$varStruct, unconstrained = FALSE))
delta <- delta[c("ACT", "PBO")]
G0 <- unclass(getVarCov(fit0))[1:2, 1:2]
nlme_params <- list(G = unname(G0), rho = c(ACT = rho0, PBO = rho0), sigma2 = sigma0^2 * delta^2)

## 3. dense REML evaluator ---------------------------------------------------------------
X <- model.matrix(~ TRT * TIME, dat)
Z <- cbind(1, dat$TIME)
by_id <- split(seq_len(nrow(dat)), dat$ID)
arm_of <- as.character(dat$TRT)

dense <- function(G, rho, sigma2) {
  p <- ncol(X)
  logdet <- 0
  XVX <- matrix(0, p, p)
  XVy <- numeric(p)
  yVy <- 0
  vinv <- list()
  for (id in names(by_id)) {
    r <- by_id[[id]]
    a <- arm_of[r[1]]
    v <- dat$VISN[r]
    V <- Z[r, , drop = FALSE] %*% G %*% t(Z[r, , drop = FALSE]) +
      sigma2[[a]] * rho[[a]]^abs(outer(v, v, "-"))
    L <- chol(V)
    logdet <- logdet + 2 * sum(log(diag(L)))
    Vi <- chol2inv(L)
    vinv[[id]] <- Vi
    XVX <- XVX + t(X[r, , drop = FALSE]) %*% Vi %*% X[r, , drop = FALSE]
    XVy <- XVy + drop(t(X[r, , drop = FALSE]) %*% Vi %*% dat$Y[r])
    yVy <- yVy + drop(t(dat$Y[r]) %*% Vi %*% dat$Y[r])
  }
  beta <- solve(XVX, XVy)
  C <- solve(XVX)
  m2ll <- (nrow(X) - p) * log(2 * pi) + logdet + determinant(XVX)$modulus[1] + yVy - sum(XVy * beta)
  blup <- t(sapply(names(by_id), function(id) {
    r <- by_id[[id]]
    drop(G %*% t(Z[r, , drop = FALSE]) %*% vinv[[id]] %*% (dat$Y[r] - X[r, , drop = FALSE] %*% beta))
  }))
  list(m2ll = m2ll, beta = drop(beta), se = sqrt(diag(C)), blup = blup)
}

check <- dense(nlme_params$G, nlme_params$rho, nlme_params$sigma2)
nlme_loglik <- as.numeric(logLik(fit0))
dense_vs_nlme <- abs(-0.5 * check$m2ll - nlme_loglik)
cat(sprintf("nlme REML loglik %.10f; dense evaluator %.10f (difference %.2e)\n", nlme_loglik,
            -0.5 * check$m2ll, dense_vs_nlme))
if (dense_vs_nlme > 1e-8) stop("the dense evaluator does not reproduce nlme's REML log-likelihood")
if (max(abs(check$beta - fixef(fit0))) > 1e-8) stop("dense GLS beta differs from nlme's")

## 4. the GROUP= model: maximise the dense evaluator ----------------------------------------
natural <- function(th) {  # theta -> (UN(1,1), UN(2,1), UN(2,2), rho_ACT, s2_ACT, rho_PBO, s2_PBO)
  L <- matrix(c(exp(th[1]), th[2], 0, exp(th[3])), 2)
  G <- L %*% t(L)
  c(G[1, 1], G[2, 1], G[2, 2], tanh(th[4]), exp(th[5]), tanh(th[6]), exp(th[7]))
}
unpack <- function(phi) list(G = matrix(c(phi[1], phi[2], phi[2], phi[3]), 2),
                             rho = c(ACT = phi[4], PBO = phi[6]), sigma2 = c(ACT = phi[5], PBO = phi[7]))
m2ll_phi <- function(phi) {
  u <- unpack(phi)
  out <- tryCatch(dense(u$G, u$rho, u$sigma2)$m2ll, error = function(e) Inf)
  out
}
L0 <- t(chol(G0))
theta0 <- c(log(L0[1, 1]), L0[2, 1], log(L0[2, 2]), atanh(rho0), log(nlme_params$sigma2[["ACT"]]),
            atanh(rho0), log(nlme_params$sigma2[["PBO"]]))
opt <- optim(theta0, function(th) m2ll_phi(natural(th)), method = "BFGS",
             control = list(reltol = 1e-15, maxit = 2000, ndeps = rep(1e-5, 7)))
if (opt$convergence != 0) stop("optim did not converge")
phi <- natural(opt$par)
for (it in 1:4) {  # Newton polish in the natural parameters
  g <- grad(m2ll_phi, phi)
  H <- hessian(m2ll_phi, phi)
  step <- solve(H, g)
  phi <- phi - step
}
g <- grad(m2ll_phi, phi)
H <- hessian(m2ll_phi, phi)
newton <- solve(H, g)
cat(sprintf("GROUP= optimum: -2 l_R %.10f; |gradient| %.2e; Newton step %.2e\n", m2ll_phi(phi),
            max(abs(g)), max(abs(newton))))
if (max(abs(newton)) > 1e-6) stop("not at the optimum")
opt_u <- unpack(phi)
at_opt <- dense(opt_u$G, opt_u$rho, opt_u$sigma2)
if (-0.5 * at_opt$m2ll < nlme_loglik - 1e-8) stop("the GROUP= optimum is below the nested nlme model")

## 5. points away from the optimum -------------------------------------------------------------
factors <- list(c(1.2, 0.5, 0.8, 1.1, 0.9, 0.7, 1.3),
                c(0.7, -1.0, 1.5, 0.5, 1.4, 1.2, 0.8),
                c(1.0, 1.0, 1.0, -0.5, 1.0, 1.0, 1.0))
points <- lapply(factors, function(f) {
  p <- phi * f
  u <- unpack(p)
  d <- dense(u$G, u$rho, u$sigma2)
  list(phi = p, m2ll = d$m2ll, beta = unname(d$beta), se = unname(d$se),
       blups = list(ID = rownames(d$blup), Intercept = unname(d$blup[, 1]), TIME = unname(d$blup[, 2])))
})

phi_names <- c("UN(1,1) ID", "UN(2,1) ID", "UN(2,2) ID", "AR(1) TRT=ACT", "Residual TRT=ACT",
               "AR(1) TRT=PBO", "Residual TRT=PBO")
out <- list(
  generated = format(Sys.Date()),
  R = R.version.string,
  packages = lapply(c(nlme = "nlme", numDeriv = "numDeriv", jsonlite = "jsonlite"),
                    function(p) as.character(packageVersion(p))),
  seed = SEED,
  data = "random_group.csv",
  formula = "Y ~ TRT * TIME + (1 + TIME | ID) + ar1(AVISIT | TRT / ID)",
  n_obs = nrow(dat), n_subjects = length(by_id),
  fixed_effect_names = colnames(X),
  nlme_restricted = list(
    call = "lme(Y ~ TRT * TIME, random = ~ 1 + TIME | ID, correlation = corAR1(form = ~ VISN | ID), weights = varIdent(form = ~ 1 | TRT), method = 'REML')",
    loglik = nlme_loglik, G = nlme_params$G, rho = rho0, sigma2 = unname(nlme_params$sigma2),
    dense_minus_nlme = -0.5 * check$m2ll - nlme_loglik),
  optimum = list(phi_names = phi_names, phi = phi, m2ll = at_opt$m2ll, loglik = -0.5 * at_opt$m2ll,
                 beta = unname(at_opt$beta), se = unname(at_opt$se),
                 gradient = g, newton_step = newton,
                 blups = list(ID = rownames(at_opt$blup), Intercept = unname(at_opt$blup[, 1]),
                              TIME = unname(at_opt$blup[, 2]))),
  points = points
)
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE), "random_group_refs.json")
cat("wrote random_group.csv, random_group_refs.json\n")
