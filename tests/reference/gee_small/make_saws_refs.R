# make_saws_refs.R -- Fay-Graubard degrees of freedom of Wald t tests with sandwich variances
# (R saws 0.9-7.0, M. P. Fay), the reference of trialmlm's df = "fg".
#
# Run from inside tests/reference/gee_small/ (reads ../gee_published/six_cities.csv, epil.csv):
#   R_LIBS=<library holding saws> Rscript make_saws_refs.R
# saws is not a Debian package: built from its CRAN sources (github.com/cran/saws, version
# 0.9-7.0) with `R CMD INSTALL`; it needs gee (Debian r-cran-gee).
#
# For each case (the data, model and gee fit of ../gee_published/make_small_sample_refs.R:
# gee::gee(..., corstr = "exchangeable"), Six Cities wheeze ~ city + age + smoke with city
# reference portage, epil y ~ trt + lbase + lage + V4) writes saws_refs.json with gee's
# coefficients and alpha, and for method "d5" (Fay-Graubard's sandwich, bound 0.75, df from
# Psi-tilde) and "d3" (the Liang-Zeger sandwich, df from Psi-tilde) the test matrix rows,
# se and df of each row.  Tests: the identity (each coefficient) and one contrast.
suppressPackageStartupMessages({
  library(gee)
  library(saws)
  library(jsonlite)
})

six <- read.csv("../gee_published/six_cities.csv")
six$city <- factor(six$city, levels = c("portage", "kingston"))
six <- six[order(six$case, six$age), ]
epil <- read.csv("../gee_published/epil.csv")
epil$trt <- factor(epil$trt, levels = c("placebo", "progabide"))

CASES <- list(
  six_exch = list(data = six, formula = wheeze ~ city + age + smoke, id = "case", family = binomial),
  epil_exch = list(data = epil, formula = y ~ trt + lbase + lage + V4, id = "subject", family = poisson))

results <- list()
for (name in names(CASES)) {
  case <- CASES[[name]]
  dat <- case$data
  dat$.id <- dat[[case$id]]
  invisible(capture.output(g <- gee(case$formula, id = .id, data = dat, family = case$family,
                                    corstr = "exchangeable")))
  uo <- geeUOmega(g)
  p <- length(coef(g))
  contrast <- matrix(c(0, 1, 0, rep(-1, p - 3)[seq_len(p - 3)][1], rep(0, max(0, p - 4))), 1, p)
  tests <- rbind(diag(p), contrast)
  out <- list()
  for (method in c("d5", "d3")) {
    rows <- lapply(seq_len(nrow(tests)), function(j) {
      s <- suppressWarnings(saws(uo, test = tests[j, , drop = FALSE], method = method))
      list(test = tests[j, ], se = unname(s$se), df = unname(s$df))
    })
    out[[method]] <- rows
  }
  results[[name]] <- list(coefficients = as.list(coef(g)), alpha = g$working.correlation[1, 2],
                          saws = out)
}
results$versions <- list(R = as.character(getRversion()), saws = as.character(packageVersion("saws")),
                         gee = as.character(packageVersion("gee")))
writeLines(toJSON(results, auto_unbox = TRUE, digits = NA, pretty = TRUE), "saws_refs.json")
