"""The fitting engine: design, likelihood, optimiser, results of a fit."""
