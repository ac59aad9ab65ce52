# Reference values for Rubin's rules with Barnard-Rubin df (trialmlm.missing.rubin.pool).
# R 4.2, mice (Debian r-cran-mice).  Run in this folder: Rscript make_rubin_refs.R
library(mice)
library(jsonlite)
set.seed(20261122)
cases <- list()
for (case in 1:6) {
  m <- c(2, 5, 20, 100, 7, 3)[case]
  dfcom <- c(10, 57, 250, 1e7, 4, 120)[case]
  q <- rnorm(m, mean = 1.5, sd = c(0.1, 0.5, 0.2, 0.05, 1, 0)[case])
  u <- rgamma(m, shape = 20, rate = 20 / 0.3^2)
  # pool.scalar(n, k) uses dfcom = n - k
  p <- pool.scalar(Q = q, U = u, n = dfcom + 1, k = 1)
  cases[[case]] <- list(Q = q, U = u, dfcom = dfcom, qbar = p$qbar, t = p$t, df = p$df, fmi = p$fmi,
                        b = p$b, ubar = p$ubar)
}
writeLines(toJSON(list(source = paste("R", getRversion(), "mice", packageVersion("mice"), "pool.scalar"),
                       generated = format(Sys.Date()), cases = cases),
                  digits = NA, auto_unbox = TRUE, pretty = TRUE), "rubin_refs.json")
