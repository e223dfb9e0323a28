"""Numba kernels for the hot ops of a Llama, each beside its plain NumPy definition.

Every op in this file comes in three parts, in this order:

    op_ref(...)        the readable definition, in plain NumPy. Tests compare against it.
    _op_...(...)       the jitted core: explicit loops over a fixed 2-D/3-D/4-D layout.
    op(...)            the public wrapper: makes inputs contiguous, casts the small
                       side arrays (weights, tables) to the main input's dtype,
                       reshapes to the core's layout, allocates outputs, calls the core.

and the backward of an op sits right after its forward.

Conventions
-----------
* float32 and float64 both work; the output dtype is the input dtype. Row
  reductions that feed a normalisation (softmax, RMSNorm, log-sum-exp) add up in
  float64 even for float32 inputs, so a float32 result is ~1e-7 relative away from
  the float64 one. Elementwise math stays in the input dtype: scalars are cast with
  `x.dtype.type(...)` so a float32 loop never silently widens to float64.
* Each core is compiled lazily on first call, once per dtype, and cached on disk
  (`cache=True`, in autograd/__pycache__/numba-<hash of the sources>, autograd/runtime.py),
  so a warm start loads machine code instead of compiling. The wrappers pass only C-contiguous
  arrays, int64 index arrays and dtype-matched scalars, so each core has at most two
  specialisations.
* `parallel=True` + `prange` only where it pays (`bench/kernels.py --parallel-check` shows
  each parallel kernel against a serial build of the same code): softmax, SwiGLU,
  cross-entropy, matmul and attention (autograd/attention.py) gain from the second core,
  over their outer loop. AdamW gains nothing from a second core (it is memory-bound) and is
  parallel for another reason: Numba tells LLVM that a prange body's arrays do not alias,
  so the parallel build vectorises where a plain-loop build of the same code stays scalar
  (the same holds for SwiGLU). RoPE, RMSNorm and the embedding scatter are short and stay
  serial: a parallel launch costs more than they do.
* Inner loops run over a 1-D row view (`x_row = x[r]`) from index 0: that is the
  form LLVM vectorises (indexing a 3-D array inside the innermost loop is not).
  Hot loops are elementwise updates `c[j] += a * b[j]` over a contiguous axis.
* Fast-math flags, and only these two: "contract" (FMA) lets LLVM fuse a*b + c into
  one FMA instruction, which rounds once instead of twice; "reassoc" (FMA_SUM, on
  kernels with row sums) lets it split a sum into SIMD partial sums, i.e. add in a
  different order (these sums are float64 anyway). No "nnan"/"ninf": inf and nan
  keep their IEEE meaning everywhere (the causal masks rely on it).
* exp: libm's expf is an opaque call that LLVM cannot vectorise (Numba has a vector
  exp only with Intel's SVML), so float32 kernels use `_exp` below, a short
  polynomial that vectorises (~1e-7 relative error, 1 ulp); float64 uses libm's exp.

Shapes of the default model: B=16, T=256, dim 256, 8 query heads, 4 kv heads,
head dim 32, SwiGLU hidden 688, vocab 2048, tokens N = B*T = 4096.
"""

import math

import numpy as np
from numba import njit, prange, types
from numba.extending import overload

FMA = {"contract"}                  # fast-math flags: only "fuse a*b + c into one FMA"
FMA_SUM = {"contract", "reassoc"}   # ... and "sums may be split into SIMD partial sums"

__all__ = [
    "matmul", "matmul_backward", "matmul_ref",
    "softmax", "softmax_backward", "softmax_ref", "softmax_backward_ref",
    "rope_frequencies", "rope_tables", "rope", "rope_backward", "rope_ref", "rope_backward_ref",
    "rmsnorm", "rmsnorm_backward", "rmsnorm_ref", "rmsnorm_backward_ref",
    "swiglu", "swiglu_backward", "swiglu_ref", "swiglu_backward_ref",
    "cross_entropy", "cross_entropy_backward", "cross_entropy_ref", "cross_entropy_backward_ref",
    "embedding_backward", "embedding_backward_ref",
    "adamw_step", "adamw_step_ref",
]


def _floating(x, name="x"):
    """C-contiguous float32/float64 array (other dtypes are an error, not a silent cast)."""
    x = np.asarray(x)
    if x.dtype != np.float32 and x.dtype != np.float64:
        raise TypeError(f"{name}: expected float32 or float64, got {x.dtype}")
    return np.ascontiguousarray(x)


def _like(y, x):
    """y as a C-contiguous array of x's dtype (for weights, tables, upstream grads)."""
    return np.ascontiguousarray(y, dtype=x.dtype)


# ---------------------------------------------------------------------------
# exp that vectorises
# ---------------------------------------------------------------------------
# exp(x) = 2^k · e^r  with  k = round(x / ln 2),  r = x - k ln 2  in [-ln2/2, ln2/2].
# e^r = 1 + r + r² p(r) with the degree-5 polynomial p of Cephes' expf, and 2^k is
# written straight into a float32's exponent bits: (k + 127) << 23.

EXPF_LO, EXPF_HI = -87.33654, 88.37626  # exp(x) is a normal float32 (k in [-126, 127]) in between


@njit(fastmath=FMA, inline="always")
def _expf(x):
    """exp(x) for float32 x, max relative error ~1e-7; 0 below EXPF_LO, inf above EXPF_HI."""
    lo, hi = np.float32(EXPF_LO), np.float32(EXPF_HI)
    xc = lo if x < lo else (hi if x > hi else x)                        # clamp (a nan stays nan)
    k = np.floor(xc * np.float32(1.44269504) + np.float32(0.5))         # round(x / ln 2)
    r = xc - k * np.float32(0.693359375) + k * np.float32(2.12194440e-4)  # x - k ln 2 (ln 2 in 2 parts)
    p = np.float32(1.9875691500e-4)
    p = p * r + np.float32(1.3981999507e-3)
    p = p * r + np.float32(8.3334519073e-3)
    p = p * r + np.float32(4.1665795894e-2)
    p = p * r + np.float32(1.6666665459e-1)
    p = p * r + np.float32(5.0000001201e-1)
    e_r = p * (r * r) + r + np.float32(1.0)
    two_k = np.int32((np.int64(k) + 127) << 23).view(np.float32)       # 2^k from its exponent bits
    y = e_r * two_k
    if x < lo:
        y = np.float32(0.0)                                             # underflow (and -inf)
    if x > hi:
        y = np.float32(np.inf)                                          # overflow (and +inf)
    return y


def _exp(x):
    """exp in x's own precision: `_expf` for a float32 x, libm's exp otherwise (chosen at
    compile time by the overload below; in plain Python it is np.exp)."""
    return np.exp(x)


@overload(_exp, inline="always")
def _exp_for_type(x):
    if x == types.float32:
        return lambda x: _expf(x)
    return lambda x: np.exp(x)


# ---------------------------------------------------------------------------
# matmul: C = A @ B, batched over identical leading dims
# ---------------------------------------------------------------------------
# Backward of C = A @ B with upstream grad G (same shape as C):
#     dA = G @ Bᵀ      dB = Aᵀ @ G
# so the backward is two more matmuls; we transpose (copy) the small operand so
# all three products use the one kernel below.

def matmul_ref(a, b):
    """C = A @ B (NumPy / BLAS)."""
    return np.matmul(a, b)


MM_BM, MM_BK, MM_BN = 32, 128, 256  # cache blocks: rows of A, depth, columns of B


@njit(parallel=True, cache=True, fastmath=FMA)
def _matmul_kernel(a, b, c):
    """c += a @ b for a (P, M, K), b (P, K, N), c (P, M, N); c starts zeroed.

    Cache-blocked i-k-j loop: a (BM x BK) block of A meets a (BK x BN) block of B
    (128 x 256 floats = 128 KiB for float32, L2-resident). The innermost loop is
    `c_row[j] += a[i, k] * b_row[j]` over contiguous j, which LLVM vectorises into
    FMAs. Parallel over (batch, block of BM rows): each task writes its own rows of c.
    """
    P, M, K = a.shape
    N = b.shape[2]
    n_mblocks = (M + MM_BM - 1) // MM_BM
    for task in prange(P * n_mblocks):
        p = task // n_mblocks
        i0 = (task % n_mblocks) * MM_BM
        i1 = min(i0 + MM_BM, M)
        for k0 in range(0, K, MM_BK):
            k1 = min(k0 + MM_BK, K)
            for j0 in range(0, N, MM_BN):
                n = min(MM_BN, N - j0)
                for i in range(i0, i1):
                    c_row = c[p, i, j0:j0 + n]             # (n,)
                    for k in range(k0, k1):
                        aik = a[p, i, k]
                        b_row = b[p, k, j0:j0 + n]         # (n,)
                        for j in range(n):
                            c_row[j] += aik * b_row[j]


def _mm(a3, b3):
    """(P, M, K) @ (P, K, N) -> (P, M, N) through the kernel; inputs contiguous, same dtype."""
    c = np.zeros((a3.shape[0], a3.shape[1], b3.shape[2]), dtype=a3.dtype)
    _matmul_kernel(a3, b3, c)
    return c


def matmul(a, b):
    """C = A @ B for a (..., M, K) and b (..., K, N) with identical leading dims.

    b may also be a plain 2-D (K, N) matrix shared by every leading index of a
    (the Linear-layer case x @ W); then a's leading dims are folded into rows.
    A teaching kernel: BLAS (np.matmul) is faster at large shapes, see the bench.
    """
    a = _floating(a, "a")
    b = _like(b, a)
    if a.ndim < 2 or b.ndim < 2 or a.shape[-1] != b.shape[-2]:
        raise ValueError(f"matmul: shapes {a.shape} and {b.shape} do not chain")
    M, K, N = a.shape[-2], a.shape[-1], b.shape[-1]
    if b.ndim == 2:                                   # x @ W: rows of every batch at once
        c = _mm(a.reshape(1, -1, K), b.reshape(1, K, N))
        return c.reshape(a.shape[:-1] + (N,))
    if a.shape[:-2] != b.shape[:-2]:
        raise ValueError(f"matmul: leading dims differ: {a.shape} vs {b.shape}")
    c = _mm(a.reshape(-1, M, K), b.reshape(-1, K, N))  # (P, M, N)
    return c.reshape(a.shape[:-2] + (M, N))


def matmul_backward(a, b, g):
    """Gradients of C = A @ B: (dA, dB) = (G @ Bᵀ, Aᵀ @ G), shapes of a and b."""
    a = _floating(a, "a")
    b = _like(b, a)
    g = _like(g, a)
    K, N = b.shape[-2], b.shape[-1]
    if b.ndim == 2:                                   # shared W: sum dW over all rows
        a2, g2 = a.reshape(1, -1, K), g.reshape(1, -1, N)
        b2 = b.reshape(1, K, N)
    else:
        M = a.shape[-2]
        a2, g2, b2 = a.reshape(-1, M, K), g.reshape(-1, M, N), b.reshape(-1, K, N)
    bT = np.ascontiguousarray(b2.transpose(0, 2, 1))  # (P, N, K)
    aT = np.ascontiguousarray(a2.transpose(0, 2, 1))  # (P, K, M)
    ga = _mm(g2, bT)                                  # (P, M, K)
    gb = _mm(aT, g2)                                  # (P, K, N)
    return ga.reshape(a.shape), gb.reshape(b.shape)


# ---------------------------------------------------------------------------
# softmax over the last axis, optionally causal
# ---------------------------------------------------------------------------
# y_j = exp(x_j - m) / sum_k exp(x_k - m), m = max_k x_k  (m cancels; it keeps exp <= 1)
# Causal, for x (..., T, S): query i sees keys j <= i + (S - T). With S == T that is
# the usual lower triangle; with S > T the T queries are the *last* T positions of
# an S-long sequence (a KV-cache step). Masked entries of y are exactly 0.
# Backward: dx = y * (g - sum(g * y)), per row.

def softmax_ref(x, causal=False):
    """Softmax over the last axis (NumPy definition)."""
    x = np.asarray(x)
    if causal:
        T, S = x.shape[-2], x.shape[-1]
        visible = np.arange(S)[None, :] <= np.arange(T)[:, None] + (S - T)  # (T, S)
        x = np.where(visible, x, -np.inf)
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def softmax_backward_ref(y, g):
    """dx = y * (g - sum(g * y, -1))."""
    return y * (g - (g * y).sum(axis=-1, keepdims=True))


@njit(parallel=True, cache=True, fastmath=FMA_SUM)
def _softmax_fwd(x, y, causal):
    """y = softmax(x) row by row; x, y (R, T, S). Parallel over the R*T rows."""
    R, T, S = x.shape
    for row in prange(R * T):
        r, i = row // T, row % T
        n = min(i + S - T + 1, S) if causal else S     # this row sees keys 0..n-1
        x_row, y_row = x[r, i], y[r, i]                # (S,)
        m = x_row[0]
        for j in range(1, n):
            m = max(m, x_row[j])
        for j in range(n):
            y_row[j] = _exp(x_row[j] - m)
        total = 0.0                                    # float64 accumulator
        for j in range(n):
            total += y_row[j]
        inv = y.dtype.type(1.0 / total)
        for j in range(n):
            y_row[j] *= inv
        for j in range(n, S):                          # masked: exactly zero
            y_row[j] = 0.0


@njit(parallel=True, cache=True, fastmath=FMA_SUM)
def _softmax_bwd(y, g, gx):
    """gx = y * (g - sum(g*y)) row by row; all (R, S). Parallel over rows."""
    R, S = y.shape
    for r in prange(R):
        y_row, g_row, gx_row = y[r], g[r], gx[r]       # (S,)
        dot = 0.0                                      # float64 accumulator
        for j in range(S):
            dot += g_row[j] * y_row[j]
        d = y.dtype.type(dot)
        for j in range(S):
            gx_row[j] = y_row[j] * (g_row[j] - d)


def softmax(x, causal=False):
    """Softmax over the last axis of x (..., T, S); causal: query i sees keys j <= i + S - T."""
    x = _floating(x)
    if x.ndim == 1:
        if causal:
            raise ValueError("causal softmax needs x of shape (..., T, S)")
        return softmax(x[None], causal)[0]
    T, S = x.shape[-2], x.shape[-1]
    if causal and S < T:
        raise ValueError(f"causal softmax needs S >= T, got T={T}, S={S}")
    y = np.empty_like(x)
    _softmax_fwd(x.reshape(-1, T, S), y.reshape(-1, T, S), bool(causal))
    return y


def softmax_backward(y, g):
    """dx = y * (g - sum(g * y, -1)) for y = softmax(x) (masked entries of y are 0 -> dx 0)."""
    y = _floating(y, "y")
    g = _like(g, y)
    gx = np.empty_like(y)
    S = y.shape[-1]
    _softmax_bwd(y.reshape(-1, S), g.reshape(-1, S), gx.reshape(-1, S))
    return gx


# ---------------------------------------------------------------------------
# RoPE: rotate interleaved pairs (x[2j], x[2j+1]) by angle pos * theta^(-2j/hd)
# ---------------------------------------------------------------------------
# (a, b) -> (a cos - b sin, a sin + b cos). A rotation's inverse is its transpose,
# the rotation by -angle, so the backward is the same kernel with -sin.

def rope_frequencies(hd, theta=10000.0, scaling=None):
    """θ_j = theta^(-2j/hd) for j < hd/2 (float64): pair j turns by angle t·θ_j at position t.

    scaling (Llama 3.1's rope_type "llama3"): a dict of factor, low_freq_factor,
    high_freq_factor, original_max_position_embeddings (L). With wavelength λ_j = 2π/θ_j:
        λ_j < L / high_freq_factor    θ_j kept            (fast pairs: local order)
        λ_j > L / low_freq_factor     θ_j / factor        (slow pairs: stretched to a longer context)
        in between                    (1 - s) θ_j / factor + s θ_j,  s = (L/λ_j - low) / (high - low)
    """
    if hd % 2:
        raise ValueError(f"rope needs an even head dim, got {hd}")
    freq = theta ** (-np.arange(0, hd, 2, dtype=np.float64) / hd)    # (hd/2,)
    if not scaling:
        return freq
    factor, low, high = scaling["factor"], scaling["low_freq_factor"], scaling["high_freq_factor"]
    old_context = scaling["original_max_position_embeddings"]
    wavelength = 2 * np.pi / freq
    smooth = (old_context / wavelength - low) / (high - low)
    scaled = np.where(wavelength > old_context / low, freq / factor, freq)
    middle = (wavelength >= old_context / high) & (wavelength <= old_context / low)
    return np.where(middle, (1 - smooth) * freq / factor + smooth * freq, scaled)


def rope_tables(T, hd, theta=10000.0, start=0, dtype=np.float32, scaling=None):
    """cos, sin tables (T, hd//2) for positions start..start+T-1 (angles in float64)."""
    pos = np.arange(start, start + T, dtype=np.float64)               # (T,)
    angle = np.outer(pos, rope_frequencies(hd, theta, scaling))       # (T, hd/2)
    return np.cos(angle).astype(dtype), np.sin(angle).astype(dtype)


def rope_ref(x, cos, sin):
    """x (B, T, H, hd) rotated pairwise; cos/sin (T, hd//2)."""
    a, b = x[..., 0::2], x[..., 1::2]                  # (B, T, H, hd/2) each
    c, s = cos[:, None, :], sin[:, None, :]            # (T, 1, hd/2) broadcasts over B, H
    out = np.empty_like(x)
    out[..., 0::2] = a * c - b * s
    out[..., 1::2] = a * s + b * c
    return out


def rope_backward_ref(g, cos, sin):
    """The inverse rotation: rope with -sin."""
    return rope_ref(g, cos, -sin)


@njit(cache=True, fastmath=FMA)
def _rope_kernel(x, cos, sin, out):
    """out = rotate(x); x, out (B, T, H, hd), cos/sin (T, hd/2). Serial: ~1 ms, memory-bound."""
    B, T, H, hd = x.shape
    for bt in range(B * T):
        b, t = bt // T, bt % T
        c, s = cos[t], sin[t]                          # (hd/2,)
        for h in range(H):
            x_row, o_row = x[b, t, h], out[b, t, h]    # (hd,)
            for j in range(hd // 2):
                x0, x1 = x_row[2 * j], x_row[2 * j + 1]
                o_row[2 * j] = x0 * c[j] - x1 * s[j]
                o_row[2 * j + 1] = x0 * s[j] + x1 * c[j]


def _rope_call(x, cos, sin):
    x = _floating(x)
    T, H, hd = x.shape[-3], x.shape[-2], x.shape[-1]
    cos, sin = _like(cos, x), _like(sin, x)
    if hd % 2 or cos.shape != (T, hd // 2) or sin.shape != (T, hd // 2):
        raise ValueError(f"rope: x {x.shape} needs cos/sin of shape {(T, hd // 2)}, "
                         f"got {cos.shape}, {sin.shape}")
    out = np.empty_like(x)
    _rope_kernel(x.reshape(-1, T, H, hd), cos, sin, out.reshape(-1, T, H, hd))
    return out


def rope(x, cos, sin):
    """Rotary embedding of x (B, T, H, hd) (any leading dims before T) with tables (T, hd//2)."""
    return _rope_call(x, cos, sin)


def rope_backward(g, cos, sin):
    """Gradient of rope: rotate g back, i.e. rope(g, cos, -sin)."""
    return _rope_call(g, cos, -np.asarray(sin))


# ---------------------------------------------------------------------------
# RMSNorm: y = x * rstd * w, rstd = 1 / sqrt(mean(x²) + eps), per row
# ---------------------------------------------------------------------------
# Backward, per row with r = rstd and D = row length:
#     dx = r * (g*w) - r³ / D * x * sum(g * w * x)
#     dw = sum over rows of g * x * r

def rmsnorm_ref(x, w, eps):
    """(y, rstd): y = x * rstd * w over the last axis; rstd has shape x.shape[:-1]."""
    rstd = 1.0 / np.sqrt((x * x).mean(axis=-1) + eps)
    return x * rstd[..., None] * w, rstd


def rmsnorm_backward_ref(x, w, rstd, g):
    D = x.shape[-1]
    r = rstd[..., None]
    gw_x = (g * w * x).sum(axis=-1, keepdims=True)
    gx = r * g * w - r ** 3 / D * x * gw_x
    gw = (g * x * r).reshape(-1, D).sum(axis=0)
    return gx, gw


@njit(cache=True, fastmath=FMA_SUM)
def _rmsnorm_fwd(x, w, eps, y, rstd):
    """x, y (N, D); w (D,); rstd (N,). Serial: ~1 ms at (4096, 256)."""
    N, D = x.shape
    for r in range(N):
        x_row, y_row = x[r], y[r]                      # (D,)
        ss = 0.0                                       # float64 accumulator
        for j in range(D):
            ss += x_row[j] * x_row[j]
        rs = x.dtype.type(1.0 / math.sqrt(ss / D + eps))
        rstd[r] = rs
        for j in range(D):
            y_row[j] = x_row[j] * rs * w[j]


@njit(cache=True, fastmath=FMA_SUM)
def _rmsnorm_bwd(x, w, rstd, g, gx, gw):
    """gx (N, D); gw (D,) float64, zeroed: dw summed over rows. Serial: ~1.5 ms at (4096, 256)."""
    N, D = x.shape
    for r in range(N):
        x_row, g_row, gx_row = x[r], g[r], gx[r]       # (D,)
        rs = rstd[r]
        dot = 0.0                                      # sum(g * w * x), float64
        for j in range(D):
            dot += g_row[j] * w[j] * x_row[j]
        k = x.dtype.type(rs * rs * rs * dot / D)
        for j in range(D):
            gx_row[j] = rs * g_row[j] * w[j] - k * x_row[j]
            gw[j] += g_row[j] * x_row[j] * rs


def rmsnorm(x, w, eps):
    """(y, rstd) for x (..., D), w (D,): y = x * rstd * w, rstd = 1/sqrt(mean(x²) + eps)."""
    x = _floating(x)
    w = _like(w, x)
    D = x.shape[-1]
    y = np.empty_like(x)
    rstd = np.empty(x.shape[:-1], dtype=x.dtype)
    _rmsnorm_fwd(x.reshape(-1, D), w, x.dtype.type(eps), y.reshape(-1, D), rstd.reshape(-1))
    return y, rstd


def rmsnorm_backward(x, w, rstd, g):
    """(dx, dw) for y = rmsnorm(x, w); rstd as returned by the forward."""
    x = _floating(x)
    w, rstd, g = _like(w, x), _like(rstd, x), _like(g, x)
    D = x.shape[-1]
    gx = np.empty_like(x)
    gw = np.zeros(D)                                  # float64 accumulator over rows
    _rmsnorm_bwd(x.reshape(-1, D), w, rstd.reshape(-1), g.reshape(-1, D), gx.reshape(-1, D), gw)
    return gx, gw.astype(x.dtype)


# ---------------------------------------------------------------------------
# SwiGLU gate: h = silu(a) * b, silu(a) = a * sigmoid(a)
# ---------------------------------------------------------------------------
# With s = sigmoid(a):  d silu / da = s * (1 + a * (1 - s)), so
#     da = g * b * s * (1 + a * (1 - s))      db = g * a * s

def swiglu_ref(a, b):
    return a / (1.0 + np.exp(-a)) * b


def swiglu_backward_ref(a, b, g):
    s = 1.0 / (1.0 + np.exp(-a))
    return g * b * s * (1.0 + a * (1.0 - s)), g * a * s


@njit(parallel=True, cache=True, fastmath=FMA)
def _swiglu_fwd(a, b, h):
    """a, b, h (N, F). Parallel over rows."""
    N, F = a.shape
    one = a.dtype.type(1.0)
    for r in prange(N):
        a_row, b_row, h_row = a[r], b[r], h[r]         # (F,)
        for j in range(F):
            s = one / (one + _exp(-a_row[j]))          # sigmoid
            h_row[j] = a_row[j] * s * b_row[j]


@njit(parallel=True, cache=True, fastmath=FMA)
def _swiglu_bwd(a, b, g, ga, gb):
    """all (N, F). Parallel over rows."""
    N, F = a.shape
    one = a.dtype.type(1.0)
    for r in prange(N):
        a_row, b_row, g_row, ga_row, gb_row = a[r], b[r], g[r], ga[r], gb[r]
        for j in range(F):
            x = a_row[j]
            s = one / (one + _exp(-x))                 # sigmoid
            ga_row[j] = g_row[j] * b_row[j] * s * (one + x * (one - s))
            gb_row[j] = g_row[j] * x * s


def swiglu(a, b):
    """silu(a) * b, elementwise; a and b of the same shape."""
    a = _floating(a, "a")
    b = _like(b, a)
    if a.shape != b.shape:
        raise ValueError(f"swiglu: shapes differ {a.shape} vs {b.shape}")
    h = np.empty_like(a)
    F = a.shape[-1] if a.ndim else 1
    _swiglu_fwd(a.reshape(-1, F), b.reshape(-1, F), h.reshape(-1, F))
    return h


def swiglu_backward(a, b, g):
    """(da, db) for h = silu(a) * b with upstream grad g."""
    a = _floating(a, "a")
    b, g = _like(b, a), _like(g, a)
    ga, gb = np.empty_like(a), np.empty_like(a)
    F = a.shape[-1] if a.ndim else 1
    _swiglu_bwd(a.reshape(-1, F), b.reshape(-1, F), g.reshape(-1, F),
                ga.reshape(-1, F), gb.reshape(-1, F))
    return ga, gb


# ---------------------------------------------------------------------------
# Cross-entropy from logits, mean over the rows whose target is not ignored
# ---------------------------------------------------------------------------
# loss_r = logsumexp(x_r) - x_r[t_r];  loss = sum over counted rows / count
# dloss/dx_r = (softmax(x_r) - onehot(t_r)) / count, with softmax(x_r) = exp(x_r - lse_r)
# The forward saves lse (one number per row) instead of the (N, V) probabilities.
# If every row is ignored, count = 0: the loss is 0 and the gradient is all zeros.

def cross_entropy_ref(logits, targets, ignore_index=-100):
    """(mean loss, lse (N,)) for logits (N, V), int targets (N,)."""
    m = logits.max(axis=-1)
    lse = m + np.log(np.exp(logits - m[:, None]).sum(axis=-1))
    keep = targets != ignore_index
    if not keep.any():
        return logits.dtype.type(0.0), lse
    rows = np.nonzero(keep)[0]
    loss = (lse[rows] - logits[rows, targets[rows]]).mean()
    return logits.dtype.type(loss), lse


def cross_entropy_backward_ref(logits, targets, lse, ignore_index, g_scalar):
    keep = targets != ignore_index
    count = int(keep.sum())
    if count == 0:
        return np.zeros_like(logits)
    grad = np.exp(logits - lse[:, None])
    rows = np.nonzero(keep)[0]
    grad[rows, targets[rows]] -= 1.0
    grad[~keep] = 0.0
    return grad * (g_scalar / count)


@njit(parallel=True, cache=True, fastmath=FMA_SUM)
def _cross_entropy_fwd(logits, targets, ignore_index, lse, row_loss):
    """logits (N, V); lse (N,) in logits' dtype; row_loss (N,) float64. Parallel over rows."""
    N, V = logits.shape
    for r in prange(N):
        x_row = logits[r]                              # (V,)
        m = x_row[0]
        for j in range(1, V):
            m = max(m, x_row[j])
        total = 0.0                                    # float64 accumulator
        for j in range(V):
            total += _exp(x_row[j] - m)
        row_lse = m + math.log(total)                  # float64
        lse[r] = row_lse
        t = targets[r]
        row_loss[r] = 0.0 if t == ignore_index else row_lse - x_row[t]


@njit(parallel=True, cache=True, fastmath=FMA)
def _cross_entropy_bwd(logits, targets, lse, ignore_index, scale, glogits):
    """glogits = (exp(logits - lse) - onehot) * scale, ignored rows 0 (glogits comes zeroed).
    Parallel over rows."""
    N, V = logits.shape
    for r in prange(N):
        t = targets[r]
        if t != ignore_index:
            x_row, g_row = logits[r], glogits[r]       # (V,)
            lse_r = lse[r]
            for j in range(V):
                g_row[j] = _exp(x_row[j] - lse_r) * scale
            g_row[t] -= scale


def _check_targets(targets, N, V, ignore_index):
    """targets as a flat int64 array, checked: one per row, each in [0, V) or ignore_index."""
    targets = np.ascontiguousarray(targets, dtype=np.int64).reshape(-1)
    if targets.shape[0] != N:
        raise ValueError(f"cross_entropy: {N} rows of logits but {targets.shape[0]} targets")
    kept = targets[targets != ignore_index]
    if kept.size and (kept.min() < 0 or kept.max() >= V):
        raise IndexError(f"cross_entropy: target out of range [0, {V})")
    return targets


def cross_entropy(logits, targets, ignore_index=-100):
    """(loss, lse): mean of logsumexp(row) - row[target] over rows whose target != ignore_index.

    logits (N, V) (or (..., V) with targets (...)); loss is a scalar of logits' dtype,
    lse (N,) is what the backward needs. All rows ignored -> loss 0.
    """
    logits = _floating(logits, "logits")
    V = logits.shape[-1]
    x = logits.reshape(-1, V)
    t = _check_targets(targets, x.shape[0], V, ignore_index)
    lse = np.empty(x.shape[0], dtype=x.dtype)
    row_loss = np.empty(x.shape[0])
    _cross_entropy_fwd(x, t, int(ignore_index), lse, row_loss)
    count = int((t != ignore_index).sum())
    loss = row_loss.sum() / count if count else 0.0
    return logits.dtype.type(loss), lse.reshape(logits.shape[:-1])


def cross_entropy_backward(logits, targets, lse, ignore_index, g_scalar):
    """dlogits = (softmax(logits) - onehot(targets)) * g_scalar / count; ignored rows 0."""
    logits = _floating(logits, "logits")
    V = logits.shape[-1]
    x = logits.reshape(-1, V)
    t = _check_targets(targets, x.shape[0], V, ignore_index)
    count = int((t != ignore_index).sum())
    glogits = np.zeros_like(logits)
    if count == 0:
        return glogits
    scale = x.dtype.type(float(g_scalar) / count)
    _cross_entropy_bwd(x, t, _like(lse, x).reshape(-1), int(ignore_index), scale,
                       glogits.reshape(-1, V))
    return glogits


# ---------------------------------------------------------------------------
# Embedding backward: scatter-add rows of g into the table's gradient
# ---------------------------------------------------------------------------
# Forward is W[ids] (a gather, plain NumPy). Backward: dW[ids[n]] += g[n] for each n;
# repeated ids add up, which is why it is np.add.at and not dW[ids] = g.

def embedding_backward_ref(ids, g, vocab_size):
    gW = np.zeros((vocab_size, g.shape[-1]), dtype=g.dtype)
    np.add.at(gW, ids.reshape(-1), g.reshape(-1, g.shape[-1]))
    return gW


@njit(cache=True, fastmath=FMA)
def _embedding_bwd(ids, g, gW):
    """gW (V, D) zeroed; ids (N,); g (N, D). Serial (<1 ms at N=4096, D=256)."""
    N, D = g.shape
    for n in range(N):
        src, dst = g[n], gW[ids[n]]                    # (D,) rows
        for c in range(D):
            dst[c] += src[c]


def embedding_backward(ids, g, vocab_size):
    """dW (vocab_size, D) for out = W[ids]: dW[ids[n]] += g[n]. ids (...), g (..., D)."""
    g = _floating(g, "g")
    D = g.shape[-1]
    ids = np.ascontiguousarray(ids, dtype=np.int64).reshape(-1)
    g2 = g.reshape(-1, D)
    if ids.shape[0] != g2.shape[0]:
        raise ValueError(f"embedding_backward: {ids.shape[0]} ids but {g2.shape[0]} rows of g")
    if ids.size and (ids.min() < 0 or ids.max() >= vocab_size):
        raise IndexError(f"embedding_backward: id out of range [0, {vocab_size})")
    gW = np.zeros((vocab_size, D), dtype=g.dtype)
    _embedding_bwd(ids, g2, gW)
    return gW


# ---------------------------------------------------------------------------
# AdamW, one fused in-place step
# ---------------------------------------------------------------------------
#     p <- p - lr * wd * p                               (decoupled weight decay)
#     m <- b1 m + (1 - b1) g ;  v <- b2 v + (1 - b2) g²
#     p <- p - lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)   t = step >= 1
# (the bias-corrected m̂ = m / (1 - b1^t), v̂ = v / (1 - b2^t), as in PyTorch's AdamW)

def adamw_step_ref(p, g, m, v, lr, beta1, beta2, eps, weight_decay, step):
    """In-place AdamW step on arrays p, m, v (NumPy)."""
    p *= 1.0 - lr * weight_decay
    m *= beta1
    m += (1.0 - beta1) * g
    v *= beta2
    v += (1.0 - beta2) * g * g
    denom = np.sqrt(v) / math.sqrt(1.0 - beta2 ** step) + eps
    p -= lr / (1.0 - beta1 ** step) * m / denom


@njit(parallel=True, cache=True, fastmath=FMA)
def _adamw_kernel(p, g, m, v, decay, b1, one_minus_b1, b2, one_minus_b2,
                  step_size, sqrt_bc2, eps):
    """One pass over flat p, g, m, v (n,); scalars already in p's dtype. Parallel over n."""
    for i in prange(p.shape[0]):
        gi = g[i]
        mi = b1 * m[i] + one_minus_b1 * gi
        vi = b2 * v[i] + one_minus_b2 * gi * gi
        m[i] = mi
        v[i] = vi
        p[i] = p[i] * decay - step_size * mi / (math.sqrt(vi) / sqrt_bc2 + eps)


def adamw_step(p, g, m, v, lr, beta1, beta2, eps, weight_decay, step):
    """In-place AdamW step; p, m, v C-contiguous arrays of one float dtype, step >= 1."""
    for name, arr in (("p", p), ("m", m), ("v", v)):
        if not (isinstance(arr, np.ndarray) and arr.flags.c_contiguous and arr.dtype == p.dtype):
            raise ValueError(f"adamw_step: {name} must be a C-contiguous array of p's dtype")
    if p.dtype != np.float32 and p.dtype != np.float64:
        raise TypeError(f"adamw_step: expected float32 or float64, got {p.dtype}")
    if step < 1:
        raise ValueError("adamw_step: step counts from 1")
    f = p.dtype.type
    _adamw_kernel(p.reshape(-1), _like(g, p).reshape(-1), m.reshape(-1), v.reshape(-1),
                  f(1.0 - lr * weight_decay), f(beta1), f(1.0 - beta1), f(beta2), f(1.0 - beta2),
                  f(lr / (1.0 - beta1 ** step)), f(math.sqrt(1.0 - beta2 ** step)), f(eps))
