"""The model, data and settings that tests/test_ddp.py and tests/ddp_ranks.py share."""
import numpy as np

from tinyllm.model import ModelConfig, Transformer
from tinyllm.optim import AdamW

CONTEXT, LR, CLIP, SEED = 16, 3e-3, 0.5, 7


def build(dtype):
    """(model, AdamW, training tokens, batch generator): the same on every rank and in one process."""
    cfg = ModelConfig.preset("tiny", vocab_size=300, max_seq_len=CONTEXT)
    model = Transformer(cfg, seed=SEED, dtype=np.dtype(dtype))
    opt = AdamW(model.named_parameters(), LR, (0.9, 0.99), weight_decay=0.1)
    tokens = np.random.default_rng(SEED).integers(0, 300, size=5000).astype(np.uint16)
    return model, opt, tokens, np.random.default_rng(SEED + 1)
