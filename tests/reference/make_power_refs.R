# Reference values for the analytic power calculations (trialmlm.power).
# R 4.2, longpower 1.0.27 (not in Debian: built from github.com/mcdonohue/longpower, the commit
# is written to the JSON; its Depends lme4 and nlme are Debian's r-cran-lme4, r-cran-nlme).
# Run in this folder: Rscript make_power_refs.R
#
# Each configuration is solved four times, for the total sample size, the power, the effect
# and the level; the inputs of the last three are the first solution's, with n_total = the
# unrounded n of the first solve rounded to a "planned" number.  Every value is longpower's
# unrounded output; trialmlm reports the ceiling per arm as the sample size.
# "py" holds the same configuration in trialmlm.power's arguments.
library(longpower)
library(jsonlite)

tol <- .Machine$double.eps^2

# Standardised solver: fun(n_total, delta, power, alpha) -> list(n_total, delta, power, alpha),
# one of the four NULL.  Each wrapper translates n_total to the function's own n.
solve4 <- function(fun, delta, power, alpha, one_sided) {
  first <- fun(NULL, delta, power, alpha)
  n_plan <- round(first$n_total * 0.9)
  list(
    list(solve = "n_total", result = first),
    list(solve = "power", result = fun(n_plan, delta, NULL, alpha)),
    list(solve = "delta", result = fun(n_plan, NULL, power, alpha)),
    list(solve = "alpha", result = if (one_sided) alpha_root(fun, n_plan, delta, power)
                                   else fun(n_plan, delta, power, NULL)))
}

# longpower's own level search brackets (0, 1), where the one-sided equation has two roots
# and uniroot finds no sign change: the one-sided level is the root in (0, 1/2) of
# longpower's sample size at that level minus n_total.
alpha_root <- function(fun, n_plan, delta, power) {
  a <- uniroot(function(a) fun(NULL, delta, power, a)$n_total - n_plan, c(1e-10, 0.5), tol = tol)$root
  r <- fun(NULL, delta, power, a)
  r$n_total <- n_plan
  r
}

std <- function(n_total, r) list(n_total = n_total, delta = r$delta, power = r$power, alpha = r$sig.level)

mmrm <- function(args, lambda) function(N, delta, power, alpha) {
  r <- do.call(power.mmrm, c(args, list(N = N, delta = delta, power = power, sig.level = alpha,
                                         lambda = lambda, tol = tol)))
  std(r$n1 + r$n2, r)
}
mmrm_ar1 <- function(args, lambda) function(N, delta, power, alpha) {
  r <- do.call(power.mmrm.ar1, c(args, list(N = N, delta = delta, power = power, sig.level = alpha,
                                             lambda = lambda, tol = tol)))
  std(r$n1 + r$n2, r)
}
# lmmpower: n per arm (liuliang: N = 2 n); results hold N (liuliang, edland) or n per arm (diggle)
lmm <- function(args) function(N, delta, power, alpha) {
  call <- function(power, alpha) do.call(lmmpower, c(args, list(n = if (is.null(N)) NULL else N / 2,
                                                                delta = delta, power = power,
                                                                sig.level = alpha, tol = tol)))
  r <- if (is.null(alpha) && args$method == "edland") level_from_power(call, power) else call(power, alpha)
  std(if (is.null(r$N)) 2 * r$n[1] else r$N, r)
}
diggle <- function(args) function(N, delta, power, alpha) {
  r <- do.call(diggle.linear.power, c(args, list(n = if (is.null(N)) NULL else N / 2, delta = delta,
                                                  power = power, sig.level = alpha, tol = tol)))
  std(r$N, r)
}
liuliang <- function(args) function(N, delta, power, alpha) {
  r <- do.call(liu.liang.linear.power, c(args, list(N = N, delta = delta, power = power,
                                                     sig.level = alpha, tol = tol)))
  std(r$N, r)
}
# edland.linear.power: n is arm a's, n_total = n (1 + 1/lambda)
edland <- function(args) function(N, delta, power, alpha) {
  lam <- args$lambda
  call <- function(power, alpha) do.call(edland.linear.power, c(args, list(
    n = if (is.null(N)) NULL else N * lam / (1 + lam), delta = delta, power = power, sig.level = alpha)))
  r <- if (is.null(alpha)) level_from_power(call, power) else call(power, alpha)
  std(r$N, r)
}

# edland.linear.power does not solve for the level: the level is the root of its power
# minus the target (uniroot at longpower's tolerance)
level_from_power <- function(call, power) {
  a <- uniroot(function(a) call(NULL, a)$power - power, c(1e-10, 1 - 1e-10), tol = tol)$root
  r <- call(NULL, a)
  r$power <- power
  r
}

cs <- function(k, rho) { m <- matrix(rho, k, k); diag(m) <- 1; m }
ar1 <- function(t, rho) rho^abs(outer(t, t, "-"))
re_cov <- function(t, s0, s1, s01, se) {
  z <- cbind(1, t); z %*% matrix(c(s0, s01, s01, s1), 2) %*% t(z) + diag(se, length(t))
}
un5 <- matrix(c(1, .62, .55, .48, .41,
                .62, 1, .66, .58, .50,
                .55, .66, 1, .70, .61,
                .48, .58, .70, 1, .72,
                .41, .50, .61, .72, 1), 5)

configs <- list()
add <- function(name, fun, py, delta, power, alpha) {
  one_sided <- identical(py$alternative, "one-sided")
  configs[[length(configs) + 1]] <<- list(name = name, py = py, solves = solve4(fun, delta, power, alpha, one_sided))
}

# 1. power.mmrm, compound symmetry, equal allocation (longpower's own example)
ra <- c(1, 0.9, 0.8, 0.7)
add("mmrm_cs", mmrm(list(Ra = cs(4, 0.25), ra = ra, sigmaa = 1), 1),
    list(`function` = "power_mmrm", correlation = cs(4, 0.25), retention = ra, sd = 1),
    delta = 0.5, power = 0.8, alpha = 0.05)

# 2. power.mmrm, unstructured correlation in arm a, CS in arm b, different dropout, lambda = 2, one-sided
ra <- c(1, 0.92, 0.85, 0.8, 0.75); rb <- c(1, 0.95, 0.9, 0.85, 0.82)
add("mmrm_un_unequal_onesided",
    mmrm(list(Ra = un5, ra = ra, sigmaa = 2.5, Rb = cs(5, 0.4), rb = rb, alternative = "one.sided"), 2),
    list(`function` = "power_mmrm", correlation = un5, retention = ra, sd = 2.5, correlation_b = cs(5, 0.4),
         retention_b = rb, allocation = 2, alternative = "one-sided"),
    delta = 1.2, power = 0.9, alpha = 0.025)

# 3. power.mmrm.ar1, Lu, Luo & Chen's Table 5 set-up: arm-specific retention, lambda = sqrt(1.25/1.75)
ra <- c(100, 76, 63, 52) / 100; rb <- c(100, 87, 81, 78) / 100
add("mmrm_ar1_table5", mmrm_ar1(list(rho = 0.6, ra = ra, sigmaa = 1, rb = rb), sqrt(1.25 / 1.75)),
    list(`function` = "power_mmrm_ar1", rho = 0.6, retention = ra, sd = 1, retention_b = rb,
         allocation = sqrt(1.25 / 1.75)),
    delta = 0.9, power = 0.904, alpha = 0.05)

# 4. power.mmrm.ar1 with unequal visit times, one-sided
tt <- c(0, 2, 4, 8, 12); ra <- c(1, 0.95, 0.9, 0.85, 0.8)
add("mmrm_ar1_times_onesided",
    mmrm_ar1(list(rho = 0.8, ra = ra, sigmaa = 3, times = tt, alternative = "one.sided"), 1),
    list(`function` = "power_mmrm_ar1", rho = 0.8, retention = ra, sd = 3, times = tt,
         alternative = "one-sided"),
    delta = 2, power = 0.85, alpha = 0.025)

# 5.-7. lmmpower: random intercept and slope (the longpower vignette's ADAS-Cog-like variances)
tt <- seq(0, 1.5, 0.25); s0 <- 55; s1 <- 24; s01 <- 0.8 * sqrt(55 * 24); se <- 10
for (m in c("diggle", "liuliang", "edland")) {
  add(paste0("lmmpower_", m),
      lmm(list(t = tt, sig2.i = s0, sig2.s = s1, cov.s.i = s01, sig2.e = se, method = m)),
      list(`function` = "power_slope", method = c(diggle = "diggle", liuliang = "liu-liang", edland = "edland")[[m]],
           times = tt, var_intercept = s0, var_slope = s1, cov_intercept_slope = s01, var_residual = se),
      delta = 1.5, power = 0.8, alpha = 0.05)
}

# 8. diggle.linear.power with an explicit covariance (exchangeable 0.6, sigma2 = 4), one-sided
tt <- c(0, 1, 2, 3)
add("diggle_exchangeable_onesided",
    diggle(list(t = tt, R = 0.6, sigma2 = 4, alternative = "one.sided")),
    list(`function` = "power_slope", method = "diggle", times = tt, covariance = 4 * cs(4, 0.6),
         alternative = "one-sided"),
    delta = 0.4, power = 0.8, alpha = 0.025)

# 9. liu.liang.linear.power: unequal allocation (Pi = 2/3, 1/3) and a different covariance per arm
tt <- 0:4
va <- re_cov(tt, 4, 1, 0.5, 2); vb <- re_cov(tt, 5, 0.6, 0.3, 2.5)
u <- list(u1 = tt, u2 = rep(0, 5)); v <- list(v1 = cbind(1, 1, tt), v2 = cbind(1, 0, tt))
add("liuliang_unequal_two_covariances",
    liuliang(list(u = u, v = v, R.list = list(va, vb), Pi = c(2, 1) / 3)),
    list(`function` = "power_slope", method = "liu-liang", times = tt, covariance = va,
         arm_b = list(covariance = vb), allocation = 2),
    delta = 0.5, power = 0.85, alpha = 0.05)

# 10. edland.linear.power with dropout (p: last visit), lambda = 1.5 and arm-specific variances
tt <- c(0, 0.5, 1, 1.5, 2)
p <- c(0.05, 0.05, 0.1, 0.1, 0.7); p2 <- c(0, 0.1, 0.1, 0.1, 0.7)
add("edland_dropout_unequal",
    edland(list(t = tt, lambda = 1.5, sig2.int = 50, sig2.s = 20, sig.b0b1 = 12, sig2.e = 9,
                sig2.int_2 = 45, sig2.s_2 = 26, sig.b0b1_2 = 8, sig2.e_2 = 11, p = p, p_2 = p2)),
    list(`function` = "power_slope", method = "edland", times = tt, allocation = 1.5,
         var_intercept = 50, var_slope = 20, cov_intercept_slope = 12, var_residual = 9,
         retention = rev(cumsum(rev(p))),
         arm_b = list(var_intercept = 45, var_slope = 26, cov_intercept_slope = 8, var_residual = 11,
                      retention = rev(cumsum(rev(p2))))),
    delta = 2, power = 0.9, alpha = 0.05)

commit <- "189c4b023aa3cc8029ecf9401323cfdbe567b0ae"
writeLines(toJSON(list(source = paste("R", getRversion(), "longpower", packageVersion("longpower"),
                                      "(github.com/mcdonohue/longpower at commit", commit, ")"),
                       generated = format(Sys.Date()), configs = configs),
                  digits = NA, auto_unbox = TRUE, pretty = TRUE, matrix = "rowmajor"), "power_refs.json")
