"""Exercise 11: count a Llama's parameters by formula, and write its forward pass.

Read lessons/11_block_and_model.py, sections 1 and 2, then write `num_params`, `block_forward`
and `transformer_forward` below. The forward is built from `ops`: the check hands you the
library's ops; lessons/21_your_llama.py hands you YOURS (exercises 04-10) and trains the result.
Stuck?      make exercise N=11 HINT=1   (then HINT=2, ...)
Check it:   python lessons/exercise.py 11
The check compares your count with Transformer(cfg).num_params() (tinyllm/model.py) for several
shapes: grouped-query and multi-head attention, tied and untied output heads, explicit widths;
and, given the library model's weights, your forward's outputs, logits and gradients with the
library's. The model's own forward (model(tokens), block(x, ...)) is unavailable while yours runs.
"""


def num_params(cfg):
    """The number of parameters of tinyllm.model.Transformer(cfg), from cfg's numbers alone.

    cfg is a tinyllm.model.ModelConfig: dim, n_layers, n_heads, n_kv_heads, vocab_size,
    head_dim (= dim // n_heads), ffn_dim (the SwiGLU width), tie_embeddings.
    Every Linear is a matrix (out, in) without bias; every RMSNorm has one gain vector of size dim.
    """
    raise NotImplementedError("num_params: see lessons/11_block_and_model.py, section 2")


def block_forward(block, x, cos, sin, ops):
    """One pre-norm Llama block: h = x + Attention(RMSNorm(x)), out = h + SwiGLU(RMSNorm(h)).

    block: a tinyllm.model.Block, used only for its weights (block.attention_norm.weight,
    block.attention_norm.eps, block.attention.wq.weight, .wk, .wv, .wo, block.attention.n_heads,
    .n_kv_heads, .head_dim, block.ffn_norm, block.feed_forward.w1.weight, .w2, .w3);
    x (B, T, D) a Tensor; cos, sin (T, hd/2) the RoPE tables of positions 0..T-1;
    ops: what to build it from, each an autograd op on Tensors:
        ops.rms_norm(x, weight, eps)   ops.rope(x (B, T, heads, hd), cos, sin)
        ops.causal_attention(q, k, v)  with q (B, H, T, hd), k and v (B, Hkv, T, hd)
        ops.swiglu(a, b)               ops.linear(x, weight) = x @ weightᵀ
    and Tensor's own .reshape, .transpose, +. Returns a (B, T, D) Tensor."""
    raise NotImplementedError("block_forward: see lessons/11_block_and_model.py, section 1")


def transformer_forward(model, tokens, ops):
    """The logits (B, T, V) Tensor of a tinyllm.model.Transformer for tokens (B, T) ints: the
    embedding (ops.embedding(weight, ids)), every block of model.layers with your block_forward,
    the final norm (model.norm), the output head (model.output.weight). Use only the weights
    and the RoPE tables (model.rope_cos, model.rope_sin: rows are positions) of the model."""
    raise NotImplementedError("transformer_forward: see lessons/11_block_and_model.py, section 1")
