"""Inference on the fixed effects: covariance of beta, df methods, LS means, tests."""

from .methods import DDF, DDF_METHODS, VCOV, VCOV_METHODS, resolve

__all__ = ["DDF", "DDF_METHODS", "VCOV", "VCOV_METHODS", "resolve"]
