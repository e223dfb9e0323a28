"""Solution 11: a Llama's parameters by formula (compare tinyllm/model.py, Transformer.num_params)."""


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
