# Sourced by make_condmean_refs.R and make_condmean_delta_refs.R: replaces mmrm::mmrm (which rbmi calls) by a
# fit run to convergence (optim BFGS with reltol 1e-14, else nlminb with rel.tol 1e-10).
mmrm_as_shipped <- mmrm::mmrm
converged_mmrm <- function(formula, data, reml, n_cores, accept_singular) {
  fit_with <- function(optimizer, optimizer_control) {
    mmrm_as_shipped(formula = formula, data = data, reml = reml,
                    control = mmrm::mmrm_control(n_cores = n_cores, accept_singular = accept_singular,
                                                 optimizer = optimizer, optimizer_control = optimizer_control))
  }
  tryCatch(fit_with("BFGS", list(reltol = 1e-14, maxit = 1000)),
           error = function(e) fit_with("nlminb", list(rel.tol = 1e-10, eval.max = 1000, iter.max = 1000)))
}
assignInNamespace("mmrm", converged_mmrm, ns = "mmrm")
