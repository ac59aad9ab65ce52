"""Designing a trial: analytic power and sample size, simulated trials, power by simulation.

* :func:`power_mmrm`, :func:`power_mmrm_ar1`: the MMRM comparison at the last visit with
  monotone dropout (Lu, Luo & Chen 2008; R longpower ``power.mmrm``, ``power.mmrm.ar1``);
* :func:`power_slope`: difference in mean slopes (Diggle et al. 2002, Liu & Liang 1997,
  Edland 2009; R longpower ``lmmpower``, ``edland.linear.power``);
* :class:`PowerResult`: what each returns;
* :class:`TrialDesign` (with :class:`LogisticDropout`, :class:`Covariate`) and
  :func:`simulate_trial`: simulated trials in the ADaM long format; :func:`from_fit`: the
  design of a trial like a fitted pilot study;
* :func:`simulate_power` (:class:`Analysis` in, :class:`OperatingCharacteristics` out) and
  :func:`power_curve`: power, type I error, bias, RMSE, coverage by simulation, on any
  :class:`concurrent.futures.Executor`.

See ``docs/power.md``.
"""

from .analysis import Analysis
from .design import Covariate, LogisticDropout, TrialDesign
from .mmrm import power_mmrm, power_mmrm_ar1
from .operating import OperatingCharacteristics, power_curve, simulate_power
from .result import PowerResult
from .simulate import from_fit, simulate_trial
from .slopes import power_slope

__all__ = ["Analysis", "Covariate", "LogisticDropout", "OperatingCharacteristics", "PowerResult",
           "TrialDesign", "from_fit", "power_curve", "power_mmrm", "power_mmrm_ar1", "power_slope",
           "simulate_power", "simulate_trial"]
