"""Testing helpers: numerical gradient checks (``check_grads``) and hypothesis strategies
(``vfunc.testing.strategies``, which needs the ``test`` extra)."""

from vfunc.testing.gradients import check_grads, check_jvp, check_vjp, enable_x64

__all__ = ["check_grads", "check_jvp", "check_vjp", "enable_x64"]
