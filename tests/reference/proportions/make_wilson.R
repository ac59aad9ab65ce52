# Wilson score intervals for trialmlm.inference.proportions.wilson_interval:
# R prop.test(x, n, correct = FALSE)$conf.int (the Wilson score interval without continuity correction).
# Run: Rscript tests/reference/proportions/make_wilson.R  (writes wilson.csv beside this script)
cases <- expand.grid(x = c(0, 1, 4, 17, 50), n = c(1, 17, 50, 99), conf = c(0.95, 0.90))
cases <- cases[cases$x <= cases$n, ]
ci <- t(mapply(function(x, n, conf) prop.test(x, n, conf.level = conf, correct = FALSE)$conf.int,
               cases$x, cases$n, cases$conf))
out <- data.frame(cases, lower = ci[, 1], upper = ci[, 2])
here <- dirname(sub("--file=", "", grep("--file=", commandArgs(FALSE), value = TRUE)))
write.csv(out, file.path(here, "wilson.csv"), row.names = FALSE)
