"""Check for exercise 13: impl.adamw_step against kernels.adamw_step_ref and tinyllm.optim.AdamW,
impl.clip_grad_norm against tinyllm.optim.clip_grad_norm."""
import numpy as np

from _harness import CheckFailure, expect_close, no_delegating
from autograd import Tensor, kernels
from tinyllm.optim import AdamW
from tinyllm.optim import clip_grad_norm as library_clip

# while your functions run, these library pieces are traps (lessons/checks/_harness.py)
TRAPS = [
    "autograd.kernels.adamw_step",
    "autograd.kernels.adamw_step_ref",
    "autograd.kernels._adamw_kernel",
    "tinyllm.optim.AdamW.step",
    "tinyllm.optim.clip_grad_norm",
]
# make exercise N=13 HINT=1, 2, ...: a nudge first, the answer last
HINTS = [
    "AdamW keeps two running averages (of g and of g²), corrects their start-up bias, and decays the "
     "weights separately from the gradient (section 4).",
    "m ← β1 m + (1-β1) g; v ← β2 v + (1-β2) g²; m̂ = m/(1-β1ᵗ), v̂ = v/(1-β2ᵗ); update IN PLACE (p -="
     " ..., m *= ...). Clipping: one norm for all arrays together.",
    "p *= 1 - lr·wd first, then p -= lr·m̂/(√v̂ + eps). clip: norm = √(Σ over arrays of Σ g²); if "
     "norm > max_norm scale every array by max_norm/(norm + 1e-6) in place; return norm.",
]

HINT_STEP = ("p ← p(1 − lr·wd) first (decoupled: the decay never enters m or v), then "
             "m ← β1 m + (1−β1) g, v ← β2 v + (1−β2) g², p ← p − lr·m̂/(√v̂ + eps) with "
             "m̂ = m/(1−β1ᵗ), v̂ = v/(1−β2ᵗ) (lessons/13_adamw.py, sections 2-4)")


def _steps(impl, p0, grads, hp):
    p, m, v = p0.copy(), np.zeros_like(p0), np.zeros_like(p0)
    for t, g in enumerate(grads, start=1):
        impl.adamw_step(p, g.copy(), m, v, hp["lr"], hp["beta1"], hp["beta2"], hp["eps"],
                        hp["weight_decay"], t)   # in place on p, m, v
    return p, m, v


def check(impl):
    impl = no_delegating(impl, TRAPS)
    rng = np.random.default_rng(13)
    # 1) several steps, several settings, against the library's NumPy reference
    settings = [dict(lr=1e-2, beta1=0.9, beta2=0.99, eps=1e-8, weight_decay=0.0),
                dict(lr=3e-3, beta1=0.9, beta2=0.95, eps=1e-8, weight_decay=0.1),
                dict(lr=1e-1, beta1=0.5, beta2=0.9, eps=1e-3, weight_decay=0.5)]
    for hp in settings:
        p0 = rng.standard_normal((6, 5))
        grads = [rng.standard_normal((6, 5)) * s for s in (1.0, 10.0, 0.1, 1.0, 3.0, 0.01)]
        p, m, v = _steps(impl, p0, grads, hp)
        if np.array_equal(p, p0):
            raise CheckFailure("adamw_step: p did not change (error: nothing was updated in place)"
                               "\nHINT: update the arrays in place (p -= ..., m *= ..., m += ...), "
                               "not new local arrays (p = p - ... only rebinds the name)")
        p_ref, m_ref, v_ref = p0.copy(), np.zeros_like(p0), np.zeros_like(p0)
        for t, g in enumerate(grads, start=1):
            kernels.adamw_step_ref(p_ref, g, m_ref, v_ref, hp["lr"], hp["beta1"], hp["beta2"],
                                   hp["eps"], hp["weight_decay"], t)
        what = f"adamw_step with {hp}, after {len(grads)} steps"
        expect_close(f"{what}: m vs kernels.adamw_step_ref", m, m_ref,
                     "m ← β1·m + (1−β1)·g, in place, with the raw gradient g: in AdamW the weight "
                     "decay acts on p directly and never enters m or v (section 4)", tol=1e-10)
        expect_close(f"{what}: v vs kernels.adamw_step_ref", v, v_ref,
                     "v ← β2·v + (1−β2)·g², in place, with the raw gradient g (no weight decay in it)", tol=1e-10)
        expect_close(f"{what}: p vs kernels.adamw_step_ref", p, p_ref, HINT_STEP, tol=1e-10)

    # 2) the optimizer class the trainer uses, on a Tensor
    hp = settings[1]
    p0 = rng.standard_normal((3, 4))
    grads = [rng.standard_normal((3, 4)) for _ in range(4)]
    w = Tensor(p0.copy(), requires_grad=True)
    opt = AdamW([("w", w)], lr=hp["lr"], betas=(hp["beta1"], hp["beta2"]), eps=hp["eps"],
                weight_decay=hp["weight_decay"])
    for g in grads:
        w.grad = g
        opt.step()
    p, _, _ = _steps(impl, p0, grads, hp)
    expect_close("adamw_step vs tinyllm.optim.AdamW (4 steps)", p, w.data, HINT_STEP, tol=1e-10)

    # 3) clipping: a norm above max_norm is scaled down to it, one below is left alone
    for scale, max_norm in ((50.0, 1.0), (0.01, 1.0), (3.0, 2.5)):
        arrays = [rng.standard_normal(s) * scale for s in ((4, 3), (7,), (2, 2, 2))]
        mine = [a.copy() for a in arrays]
        params = [Tensor(np.zeros_like(a), requires_grad=True) for a in arrays]
        for prm, a in zip(params, arrays):
            prm.grad = a.copy()
        norm_lib = library_clip(params, max_norm)
        norm = impl.clip_grad_norm(mine, max_norm)
        if norm is None:
            raise CheckFailure("clip_grad_norm: returned None (error: it should return the norm before "
                               "clipping)\nHINT: return the global norm √(Σ g²) you computed")
        expect_close(f"clip_grad_norm (max_norm {max_norm}): returned norm vs tinyllm.optim.clip_grad_norm",
                     np.array(norm), np.array(norm_lib),
                     "the global norm is one number for ALL arrays: √(Σ over arrays of Σ g²)", tol=1e-10)
        for i, (a, prm) in enumerate(zip(mine, params)):
            expect_close(f"clip_grad_norm (max_norm {max_norm}, norm {norm_lib:.3g}): array {i} after clipping",
                         a, prm.grad, "scale every array by max_norm / (norm + 1e-6), in place, "
                         "and only when norm > max_norm", tol=1e-10)
