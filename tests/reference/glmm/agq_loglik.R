## Independent adaptive Gauss-Hermite log-likelihood of a logit/log-link GLMM with one grouping factor
## and a q-vector random effect b_i ~ N(0, D) (product rule, Pinheiro & Bates 1995, as GLMMadaptive and
## SAS GLIMMIX METHOD=QUAD):
##   l_i(b)  = sum_j log f(y_ij | eta_ij = x_ij'beta + z_ij'b) + log phi_q(b; 0, D)
##   b_hat_i = argmax l_i,  H_i = -d2 l_i / db db' at b_hat_i,  L_i = chol(H_i^{-1}) (lower)
##   log L_i = (q/2) log 2 + log|L_i| + log sum_k w_k exp(|x_k|^2) exp(l_i(b_hat_i + sqrt(2) L_i x_k))
## where x_k, w_k run over the nAGQ^q product grid of Gauss-Hermite nodes/weights for exp(-x^2).
## The grid is re-centred at every parameter value; nAGQ = 1 is the Laplace approximation.
## Sourced by make_glmer_refs.R and make_glmmadaptive_refs.R.
gauss_hermite <- function(n) {
  ## Golub-Welsch for the physicists' Hermite polynomials (weight exp(-x^2))
  J <- matrix(0, n, n)
  if (n > 1) for (i in seq_len(n - 1)) J[i, i + 1] <- J[i + 1, i] <- sqrt(i / 2)
  e <- eigen(J, symmetric = TRUE)
  list(x = rev(e$values), w = rev(sqrt(pi) * e$vectors[1, ]^2))
}

## y: events (binomial) or counts (poisson); trials: binomial totals (default 1, Bernoulli).  The result
## is the full log-likelihood, constants log C(n, y) and -log y! included.
agq_loglik <- function(beta, D, y, X, Z, id, family = c("binomial", "poisson"), nAGQ, trials = NULL,
                       by_subject = FALSE) {
  family <- match.arg(family)
  if (is.null(trials)) trials <- rep(1, length(y))
  q <- ncol(Z)
  gh <- gauss_hermite(nAGQ)
  grid <- as.matrix(expand.grid(rep(list(gh$x), q)))
  wgrid <- exp(rowSums(log(as.matrix(expand.grid(rep(list(gh$w), q))))) + rowSums(grid^2))
  Dinv <- solve(D); logdetD <- as.numeric(determinant(D)$modulus)
  eta0 <- c(X %*% beta)
  ids <- unique(id)
  out <- numeric(length(ids))
  for (s in seq_along(ids)) {
    r <- which(id == ids[s]); yi <- y[r]; ni <- trials[r]; Zi <- Z[r, , drop = FALSE]; ei <- eta0[r]
    logf <- function(b) {
      eta <- ei + c(Zi %*% b)
      ll <- if (family == "binomial") {
        yi * eta - ni * log1p(exp(eta)) + lchoose(ni, yi)
      } else {
        yi * eta - exp(eta) - lgamma(yi + 1)
      }
      sum(ll) - 0.5 * sum(b * (Dinv %*% b)) - 0.5 * (q * log(2 * pi) + logdetD)
    }
    b <- rep(0, q)
    for (it in 1:200) {                                   # Newton with step halving
      eta <- ei + c(Zi %*% b)
      mu <- if (family == "binomial") ni * plogis(eta) else exp(eta)
      w <- if (family == "binomial") mu * (1 - mu / ni) else mu
      g <- c(crossprod(Zi, yi - mu)) - c(Dinv %*% b)
      H <- crossprod(Zi, w * Zi) + Dinv
      step <- solve(H, g)
      f0 <- logf(b)
      while (logf(b + step) < f0 && max(abs(step)) > 1e-14) step <- step / 2
      b <- b + step
      if (max(abs(step)) < 1e-10) break
    }
    eta <- ei + c(Zi %*% b)
    mu <- if (family == "binomial") ni * plogis(eta) else exp(eta)
    w <- if (family == "binomial") mu * (1 - mu / ni) else mu
    L <- t(chol(solve(crossprod(Zi, w * Zi) + Dinv)))
    pts <- sweep(sqrt(2) * grid %*% t(L), 2, b, "+")
    lv <- apply(pts, 1, logf)
    m <- max(lv)
    out[s] <- (q / 2) * log(2) + sum(log(diag(L))) + m + log(sum(wgrid * exp(lv - m)))
  }
  if (by_subject) out else sum(out)
}
