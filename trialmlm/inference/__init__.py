"""Inference on the fixed effects: covariance of beta, df methods, LS means, tests."""

from .ddf import DDF_METHODS
from .vcov import VCOV_METHODS

__all__ = ["DDF_METHODS", "VCOV_METHODS"]
