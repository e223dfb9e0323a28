"""autograd: a small reverse-mode automatic differentiation engine on NumPy.

    from autograd import Tensor, no_grad, gradcheck
    import autograd.functional as F

Importing it applies the process's thread and memory policy first (autograd/runtime.py).
"""
from autograd import runtime
runtime.apply()                     # before NumPy and Numba start their thread pools

from autograd.tensor import Tensor, as_tensor, no_grad, is_grad_enabled
from autograd.gradcheck import gradcheck, GradcheckError, GradcheckResult

__all__ = ["Tensor", "as_tensor", "no_grad", "is_grad_enabled", "gradcheck", "GradcheckError", "GradcheckResult"]
