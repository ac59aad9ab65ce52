# make_sas_doc_data.R -- data sets of the SAS PROC GENMOD / PROC GEE documentation examples, as CSV.
#
# Run from inside tests/reference/gee_published/:   Rscript make_sas_doc_data.R
# Needs geepack 1.3.9 and jsonlite (Debian r-cran-geepack r-cran-jsonlite).
#
# Writes
#   six_cities.csv   the DATA step `six` of "The GENMOD Procedure > Getting Started > Generalized
#                    Estimating Equations" (16 children x ages 9-12; case city age smoke wheeze),
#                    transcribed from the datalines printed in the documentation (copied verbatim
#                    into the character vector SIX below).
#   children.csv     the DATA step `Children` of "The GEE Procedure > Getting Started" (25 children
#                    x ages 8-11; ID City Age Smoke Symptom), transcribed likewise (CHILDREN below).
#   respiratory.csv  the respiratory-disorder trial of Stokes, Davis and Koch used by GENMOD
#                    Examples "GEE for Binary Data with Logit Link Function" and "Log Odds Ratios
#                    and the ALR Algorithm" and by PROC GEE Examples 1 and 4 (111 patients x 4
#                    visits); the SAS documentation prints only the first rows, so the full data
#                    are geepack's `respiratory` (same trial, same coding), with SAS's variable
#                    names: center id treatment(A/P) sex(M/F) age baseline visit outcome.
#   sas_doc_checks.json  checks of the data: row counts and column sums (so a test can detect a
#                    damaged CSV), and for respiratory.csv the printed first rows of Output 39.5.1.

suppressPackageStartupMessages({
  library(geepack)
  library(jsonlite)
})

wide_to_long <- function(lines, id, group) {
  rows <- lapply(lines, function(s) {
    f <- strsplit(trimws(s), " +")[[1]]
    data.frame(id = as.integer(f[1]), group = f[2],
               age = as.integer(f[c(3, 6, 9, 12)]),
               smoke = as.integer(f[c(4, 7, 10, 13)]),
               y = as.integer(f[c(5, 8, 11, 14)]))
  })
  d <- do.call(rbind, rows)
  names(d) <- c(id, group, names(d)[3:5])
  d
}

SIX <- c(
  " 1 portage   9 0 1  10 0 1  11 0 1  12 0 0",
  " 2 kingston  9 1 1  10 2 1  11 2 0  12 2 0",
  " 3 kingston  9 0 1  10 0 0  11 1 0  12 1 0",
  " 4 portage   9 0 0  10 0 1  11 0 1  12 1 0",
  " 5 kingston  9 0 0  10 1 0  11 1 0  12 1 0",
  " 6 portage   9 0 0  10 1 0  11 1 0  12 1 0",
  " 7 kingston  9 1 0  10 1 0  11 0 0  12 0 0",
  " 8 portage   9 1 0  10 1 0  11 1 0  12 2 0",
  " 9 portage   9 2 1  10 2 0  11 1 0  12 1 0",
  "10 kingston  9 0 0  10 0 0  11 0 0  12 1 0",
  "11 kingston  9 1 1  10 0 0  11 0 1  12 0 1",
  "12 portage   9 1 0  10 0 0  11 0 0  12 0 0",
  "13 kingston  9 1 0  10 0 1  11 1 1  12 1 1",
  "14 portage   9 1 0  10 2 0  11 1 0  12 2 1",
  "15 kingston  9 1 0  10 1 0  11 1 0  12 2 1",
  "16 portage   9 1 1  10 1 1  11 2 0  12 1 0")

CHILDREN <- c(
  " 1 steelcity  8 0 1  9 0 1  10 0 1  11 0 0",
  " 2 steelcity  8 2 1  9 2 1  10 2 1  11 1 0",
  " 3 steelcity  8 2 1  9 2 0  10 1 0  11 0 0",
  " 4 greenhills 8 0 0  9 1 1  10 1 1  11 0 0",
  " 5 steelcity  8 0 0  9 1 0  10 1 0  11 1 0",
  " 6 greenhills 8 0 1  9 0 0  10 0 0  11 0 1",
  " 7 steelcity  8 1 1  9 1 1  10 0 1  11 0 0",
  " 8 greenhills 8 1 0  9 1 0  10 1 0  11 2 0",
  " 9 greenhills 8 2 1  9 2 0  10 1 1  11 1 0",
  "10 steelcity  8 0 0  9 0 0  10 0 0  11 1 0",
  "11 steelcity  8 1 1  9 0 0  10 0 0  11 0 1",
  "12 greenhills 8 0 0  9 0 0  10 0 0  11 0 0",
  "13 steelcity  8 2 1  9 2 1  10 1 0  11 0 1",
  "14 greenhills 8 0 1  9 0 1  10 0 0  11 0 0",
  "15 steelcity  8 2 0  9 0 0  10 0 0  11 2 1",
  "16 greenhills 8 1 0  9 1 0  10 0 0  11 1 0",
  "17 greenhills 8 0 0  9 0 1  10 0 1  11 1 1",
  "18 steelcity  8 1 1  9 2 1  10 0 0  11 1 0",
  "19 steelcity  8 2 1  9 1 0  10 0 1  11 0 0",
  "20 greenhills 8 0 0  9 0 1  10 0 1  11 0 0",
  "21 steelcity  8 1 0  9 1 0  10 1 0  11 2 1",
  "22 greenhills 8 0 1  9 0 1  10 0 0  11 0 0",
  "23 steelcity  8 1 1  9 1 0  10 0 1  11 0 0",
  "24 greenhills 8 1 0  9 1 1  10 1 1  11 2 1",
  "25 greenhills 8 0 1  9 0 0  10 0 0  11 0 0")

six <- wide_to_long(SIX, "case", "city")
names(six)[5] <- "wheeze"
children <- wide_to_long(CHILDREN, "ID", "City")
names(children) <- c("ID", "City", "Age", "Smoke", "Symptom")

data(respiratory, package = "geepack")
resp <- with(respiratory, data.frame(
  center = as.integer(center), id = as.integer(id),
  treatment = ifelse(treat == "A", "A", "P"), sex = as.character(sex),
  age = as.integer(age), baseline = as.integer(baseline),
  visit = as.integer(visit), outcome = as.integer(outcome)))
resp <- resp[order(resp$center, resp$id, resp$visit), ]

write.csv(six, "six_cities.csv", row.names = FALSE)
write.csv(children, "children.csv", row.names = FALSE)
write.csv(resp, "respiratory.csv", row.names = FALSE)

sums <- function(d) lapply(d[sapply(d, is.numeric)], sum)
checks <- list(
  generated = format(Sys.Date()),
  six_cities = list(rows = nrow(six), subjects = length(unique(six$case)), column_sums = sums(six)),
  children = list(rows = nrow(children), subjects = length(unique(children$ID)),
                  column_sums = sums(children)),
  respiratory = list(rows = nrow(resp), subjects = nrow(unique(resp[c("center", "id")])),
                     column_sums = sums(resp),
                     first_rows_center1_id1_2 = resp[resp$center == 1 & resp$id %in% 1:2, ]))
# Output 39.5.1 prints center 1 id 1 (P, M, 46, baseline 0, outcome 0 0 0 0) and id 2
# (P, M, 28, baseline 0, ...): the same as geepack's rows.
stopifnot(all(resp$treatment[resp$center == 1 & resp$id %in% 1:2] == "P"),
          all(resp$age[resp$center == 1 & resp$id == 1] == 46),
          all(resp$age[resp$center == 1 & resp$id == 2] == 28))
writeLines(toJSON(checks, auto_unbox = TRUE, digits = NA, pretty = TRUE, dataframe = "rows"),
           "sas_doc_checks.json")
