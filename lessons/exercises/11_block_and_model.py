"""Exercise 11: count a Llama's parameters by formula, without building it.

Read lessons/11_block_and_model.py, section 2, then write `num_params` below.
Check it:   python lessons/exercise.py 11
The check compares your count with Transformer(cfg).num_params() (tinyllm/model.py) for several
shapes: grouped-query and multi-head attention, tied and untied output heads, explicit widths.
"""


def num_params(cfg):
    """The number of parameters of tinyllm.model.Transformer(cfg), from cfg's numbers alone.

    cfg is a tinyllm.model.ModelConfig: dim, n_layers, n_heads, n_kv_heads, vocab_size,
    head_dim (= dim // n_heads), ffn_dim (the SwiGLU width), tie_embeddings.
    Every Linear is a matrix (out, in) without bias; every RMSNorm has one gain vector of size dim.
    """
    raise NotImplementedError("num_params: see lessons/11_block_and_model.py, section 2")
