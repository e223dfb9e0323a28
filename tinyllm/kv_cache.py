"""The KV cache: every layer's keys and values of the positions generated so far.

Generating, each new token attends over the keys and values of all earlier positions. They do
not change once computed, so they are stored instead of recomputed: one KVCache serves both the
model's batched forward (the prompt, or any chunk of tokens) and decode.py's one-token steps,
which write into the same arrays.

    cache = KVCache(model.cfg)
    logits = model(prompt_ids, cache=cache)      # positions 0..T-1 stored; cache.pos = T
    logits = model([[next_id]], cache=cache)     # position T, attending over 0..T

Two layouts, chosen by the model's config:

    full      (sliding_window None)  max_seq_len slots; position p lives in slot p
    rolling   (sliding_window W)     W slots; position p lives in slot p mod W, a ring buffer

With a window a query at position p sees only positions p - W + 1 .. p, so once p ≥ W the
key in slot p mod W (position p - W) is never needed again and p overwrites it. The memory is
W slots whatever the length, and generation can go on past max_seq_len. Reading the ring
"in position order" means slots (p - W + 1) mod W, ..., p mod W: the oldest visible first.

The model itself keeps no state: it reads and writes only the cache it is handed.
"""
import numpy as np


class KVCache:
    """k, v (n_layers, B, n_kv_heads, n_slots, head_dim) and pos, the number of positions stored."""

    def __init__(self, cfg, batch=1, dtype=np.float32):
        self.window = cfg.sliding_window                      # None: full, else a ring of W slots
        self.n_slots = cfg.sliding_window or cfg.max_seq_len
        shape = (cfg.n_layers, batch, cfg.n_kv_heads, self.n_slots, cfg.head_dim)
        self.k = np.zeros(shape, dtype=dtype)                 # (L, B, Hkv, n_slots, hd)
        self.v = np.zeros(shape, dtype=dtype)
        self.pos = 0                                          # the next position to write

    @property
    def rolling(self):
        return self.window is not None

    @property
    def nbytes(self):
        return self.k.nbytes + self.v.nbytes

    def reset(self):
        """Start a new sequence (the old entries are simply overwritten)."""
        self.pos = 0

    def slot(self, position):
        """Where a position lives: p in the full layout, p mod W in the ring."""
        return position % self.n_slots

    def check_room(self, T, batch):
        """Refuse a chunk the cache cannot take: the wrong batch size, or a full cache overflowing."""
        if batch != self.k.shape[1]:
            raise ValueError(f"the KV cache holds a batch of {self.k.shape[1]}, the tokens a batch of {batch}")
        if not self.rolling and self.pos + T > self.n_slots:
            raise ValueError(f"the KV cache is full: {self.pos} + {T} positions do not fit its "
                             f"{self.n_slots} (max_seq_len); reset it and prefill again")

    def update(self, layer, k, v):
        """Store k, v (B, Hkv, T, hd) of positions pos..pos+T-1 in `layer`'s slots and return the
        earlier keys and values the T new queries can still see, (B, Hkv, n, hd) each in position
        order: all pos of them (full), or the last min(pos, W - 1) (rolling). pos itself moves on
        in `advance`, once the whole forward has run through every layer."""
        T = k.shape[2]
        first = self.pos - min(self.pos, self.window - 1) if self.rolling else 0
        seen = self.slot(np.arange(first, self.pos))          # (n,) slots of the visible past
        past_k, past_v = self.k[layer][:, :, seen], self.v[layer][:, :, seen]   # copies
        keep = min(T, self.n_slots)                           # a chunk longer than W: its last W
        into = self.slot(np.arange(self.pos + T - keep, self.pos + T))
        self.k[layer][:, :, into] = k[:, :, T - keep:]
        self.v[layer][:, :, into] = v[:, :, T - keep:]
        return past_k, past_v

    def advance(self, T):
        self.pos += T
