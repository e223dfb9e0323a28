"""Solution 11: a Llama's parameters by formula, and its forward pass from ops
(compare tinyllm/model.py: Transformer.num_params, Block.forward, Transformer.forward)."""


def num_params(cfg):
    """The number of parameters of tinyllm.model.Transformer(cfg), from cfg's numbers alone."""
    D, hd, F, V = cfg.dim, cfg.head_dim, cfg.ffn_dim, cfg.vocab_size
    attention = D * (cfg.n_heads * hd)          # wq
    attention += 2 * D * (cfg.n_kv_heads * hd)  # wk, wv: only the kv heads (GQA)
    attention += (cfg.n_heads * hd) * D         # wo
    feed_forward = 3 * D * F                    # w1 (gate), w3 (up), w2 (down)
    norms = 2 * D                               # attention_norm, ffn_norm
    per_layer = attention + feed_forward + norms
    embedding = V * D
    head = 0 if cfg.tie_embeddings else V * D   # tied: the output head IS the embedding
    return embedding + cfg.n_layers * per_layer + D + head   # + D: the final norm


def block_forward(block, x, cos, sin, ops):
    """One pre-norm Llama block: h = x + Attention(RMSNorm(x)), out = h + SwiGLU(RMSNorm(h)).

    block: a tinyllm.model.Block, used only for its weights (block.attention.wq.weight, ...);
    x (B, T, D) a Tensor; cos, sin (T, hd/2); ops: the ops to build it from
    (ops.rms_norm, ops.rope, ops.causal_attention, ops.swiglu, ops.linear). Returns (B, T, D)."""
    att, ffn = block.attention, block.feed_forward
    B, T, D = x.shape
    H, Hkv, hd = att.n_heads, att.n_kv_heads, att.head_dim
    n = ops.rms_norm(x, block.attention_norm.weight, block.attention_norm.eps)
    q = ops.linear(n, att.wq.weight).reshape(B, T, H, hd)          # (B, T, H, hd)
    k = ops.linear(n, att.wk.weight).reshape(B, T, Hkv, hd)        # (B, T, Hkv, hd)
    v = ops.linear(n, att.wv.weight).reshape(B, T, Hkv, hd)
    q, k = ops.rope(q, cos, sin), ops.rope(k, cos, sin)            # rotate by position
    q, k, v = (t.transpose(0, 2, 1, 3) for t in (q, k, v))         # (B, heads, T, hd)
    o = ops.causal_attention(q, k, v)                              # (B, H, T, hd)
    o = o.transpose(0, 2, 1, 3).reshape(B, T, H * hd)              # heads side by side
    h = x + ops.linear(o, att.wo.weight)                           # residual 1
    n = ops.rms_norm(h, block.ffn_norm.weight, block.ffn_norm.eps)
    gate = ops.swiglu(ops.linear(n, ffn.w1.weight), ops.linear(n, ffn.w3.weight))   # (B, T, F)
    return h + ops.linear(gate, ffn.w2.weight)                     # residual 2


def transformer_forward(model, tokens, ops):
    """Logits (B, T, V) of a tinyllm.model.Transformer for tokens (B, T), built from ops
    (ops.embedding too) and block_forward; the model is used only for its weights."""
    T = tokens.shape[1]
    cos, sin = model.rope_cos[:T], model.rope_sin[:T]             # positions 0 .. T-1
    x = ops.embedding(model.tok_embeddings.weight, tokens)        # (B, T, D)
    for block in model.layers:
        x = block_forward(block, x, cos, sin, ops)
    x = ops.rms_norm(x, model.norm.weight, model.norm.eps)
    return ops.linear(x, model.output.weight)                     # (B, T, V)
