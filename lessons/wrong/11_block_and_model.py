"""WRONG on purpose (the check must catch it): counts wk and wv as if every query head had its
own key/value head (D × D each), forgetting grouped-query attention. Right whenever
n_kv_heads == n_heads, too big otherwise."""


def num_params(cfg):
    D, F, V = cfg.dim, cfg.ffn_dim, cfg.vocab_size
    per_layer = 4 * D * D + 3 * D * F + 2 * D   # wq, wk, wv, wo all D × D
    head = 0 if cfg.tie_embeddings else V * D
    return V * D + cfg.n_layers * per_layer + D + head
