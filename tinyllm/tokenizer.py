"""Byte-level BPE tokenizer: train, encode, decode, save, show.

Byte-pair encoding (Sennrich et al. 2016; byte-level as in GPT-2):

* A text is UTF-8 bytes, so tokens 0..255 are the 256 byte values and any
  text can be encoded, whatever its script.
* Before BPE the text is pre-split by a regex (GPT-4's cl100k pattern by
  default) into chunks: words with their leading space, runs of digits,
  punctuation, whitespace. Merges never cross a chunk boundary.
* Training repeatedly takes the most frequent adjacent pair of tokens (a, b)
  and replaces it by a new token 256 + k, where k is the merge's rank.
  Ties go to the pair with the smallest (a, b), so training is deterministic.
* Encoding a chunk repeatedly merges the adjacent pair of lowest rank,
  exactly as training would have merged it.
* Special tokens such as <|endoftext|> get the ids after the merges. They are
  never produced by BPE and never split.

A trick used throughout: a chunk under construction is a Python str whose
characters are token ids, chr(id). Bytes become chr(0)..chr(255) (a latin-1
decode), merging the pair (a, b) into z everywhere in a chunk is
`s.replace(chr(a) + chr(b), chr(z))`, which runs in C and merges left to
right without overlap, as BPE does; and a pair is a 2-character string that
sorts exactly like the tuple (a, b).

A tokenizer read from another program's file (GGUF, tinyllm/gguf.py) keeps that file's ids:
there the single bytes and merged tokens sit wherever the file put them, so encoding first maps
each byte to its id (a str.translate table) and each merge records the id it makes
(Tokenizer.from_vocab). A byte the file's vocabulary lacks is refused, never dropped.

The split pattern cannot lose text: a tokenizer is built only if its pattern's chunks of a probe
text join back to it (check_pattern), and encode checks that the chunks cover the whole text.

Lone surrogates (e.g. "\\ud800", which Python strs may hold but UTF-8 cannot)
are not text: encode and train raise ValueError on them.

Use:
    tok = Tokenizer.train(text, vocab_size=4096)   # or Tokenizer.load("tok.json")
    ids = tok.encode(text, allowed_special="all")  # list of ints
    tok.decode(ids) == text
    tok.save("tok.json"); tok.save_vocab("tok.vocab")
    python -m tinyllm tokenizer train|encode|decode|show --help   (tinyllm/tokenizer_cli.py)
"""
import heapq
import json
import unicodedata
from collections import Counter, defaultdict
from itertools import chain, repeat
from operator import add

import regex

# The pre-split patterns of GPT-2 and GPT-4 (tiktoken's "gpt2" and "cl100k_base").
GPT2_PATTERN = r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
GPT4_PATTERN = r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]++[\r\n]*|\s*[\r\n]|\s+(?!\S)|\s+"""
# SmolLM2's (Hugging Face: Digits(individual_digits) then ByteLevel's GPT-2 split): every digit is
# a chunk of its own, and GPT-2's pattern runs on the text between digits. In one regex: a digit
# alone first, and a whitespace run may end where a digit starts, as it would at the end of a piece.
SMOLLM_PATTERN = r"""\p{N}|'(?:[sdmt]|ll|ve|re)| ?\p{L}+| ?[^\s\p{L}\p{N}]+|\s+(?![^\s\p{N}])|\s+"""
PATTERNS = {"gpt2": GPT2_PATTERN, "gpt4": GPT4_PATTERN}
# llama.cpp's names for pre-tokenizers (GGUF tokenizer.ggml.pre) whose split we know
GGUF_PRE_PATTERNS = {"smollm": SMOLLM_PATTERN, "gpt-2": GPT2_PATTERN, "gpt2": GPT2_PATTERN}
# A probe for split patterns: the chunks must give back every character of it
PATTERN_PROBE = ("Hello, world! It's 2024-12-01: 3.14 naïve CAFÉ's — 東京 Ünïcödé 🙂👍🏽 x=1;  y\n\n"
                 "\t  tabs\r\n   spaces   \u00a0nbsp don't\u2028 ¹²³ Ⅻ ٣ 'LL 've\n ")
ENDOFTEXT = "<|endoftext|>"
FORMAT = "tinyllm-bpe"
VERSION = 1
INVISIBLE = {"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"}  # Unicode categories render_token escapes
NO_TOKEN = 0x10FFFF  # stands for a byte that has no token in a file's vocabulary
CACHE_SIZE = 200_000  # chunks remembered by encode before the cache is emptied


def _utf8(text):
    """text.encode('utf-8'), with a clear error for lone surrogates."""
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as e:
        context = text[max(0, e.start - 20): e.start + 20]
        raise ValueError(f"text contains a lone surrogate {text[e.start]!r} (in {context!r}); "
                         f"it is not valid Unicode and has no UTF-8 bytes") from None


def check_pattern(pattern, source="the tokenizer"):
    """The compiled split regex, if it compiles and never drops text: its chunks of a probe text
    (letters, digits, punctuation, whitespace runs, newlines, non-ASCII, emoji) join to that text.
    Otherwise ValueError naming the source and the pattern."""
    if not isinstance(pattern, str):
        raise ValueError(f"{source}: 'pattern' must be a string, got {type(pattern).__name__}")
    try:
        splitter = regex.compile(pattern)
    except regex.error as e:
        raise ValueError(f"{source}: the split pattern {pattern!r} is not a valid regex: {e}") from None
    chunks = splitter.findall(PATTERN_PROBE)
    if not all(isinstance(c, str) for c in chunks) or "".join(chunks) != PATTERN_PROBE:
        raise ValueError(f"{source}: the split pattern {pattern!r} drops text (its chunks of a probe "
                         f"text do not join back to it); a pattern must match every character")
    return splitter


def bytes_to_unicode():
    """GPT-2's printable stand-ins for the 256 bytes, {byte: character}: printable Latin-1 bytes
    stand for themselves, the rest (space, controls, ...) are shifted to U+0100 onwards (space →
    'Ġ', newline → 'Ċ'). Byte-level vocabularies in GGUF and tokenizer.json are spelled in them."""
    keep = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    table, n = {}, 0
    for b in range(256):
        if b in keep:
            table[b] = chr(b)
        else:
            table[b] = chr(256 + n)
            n += 1
    return table


def _special_splitter(specials):
    """A regex matching any of the special strings, longest first, as a group."""
    alternatives = sorted(specials, key=len, reverse=True)
    return regex.compile("(" + "|".join(regex.escape(s) for s in alternatives) + ")")


def count_chunks(text, pattern=GPT4_PATTERN, special_tokens=()):
    """Pre-split text with the regex and count each distinct chunk.

    Special-token strings in the text are cut out first, so no chunk (and so
    no merge) ever spans one. Returns Counter {chunk: frequency}.
    """
    splitter = regex.compile(pattern)
    pieces = _special_splitter(special_tokens).split(text)[::2] if special_tokens else [text]
    counts = Counter()
    for piece in pieces:
        counts.update(splitter.findall(piece))
    _utf8("".join(counts))  # fail early and clearly on lone surrogates
    return counts


def train_naive(chunk_counts, num_merges):
    """The textbook BPE loop: recount every pair, merge the most frequent one.

    chunk_counts: {chunk str: frequency}. Returns merges [(a, b), ...], where
    merge k makes token 256 + k. O(num_merges * corpus size); for testing.
    """
    chunks = [list(_utf8(c)) for c in chunk_counts]
    freqs = list(chunk_counts.values())
    merges = []
    while len(merges) < num_merges:
        counts = Counter()
        for ids, f in zip(chunks, freqs):
            for pair in zip(ids, ids[1:]):
                counts[pair] += f
        if not counts:
            break  # every chunk is a single token: nothing left to merge
        a, b = min(counts, key=lambda p: (-counts[p], p))  # most frequent, then smallest
        z = 256 + len(merges)
        merges.append((a, b))
        for i, ids in enumerate(chunks):
            out, j = [], 0
            while j < len(ids):
                if j + 1 < len(ids) and ids[j] == a and ids[j + 1] == b:
                    out.append(z)
                    j += 2
                else:
                    out.append(ids[j])
                    j += 1
            chunks[i] = out
    return merges


def train_bpe(chunk_counts, num_merges):
    """Fast BPE training; returns the same merges as train_naive.

    Each distinct chunk is held once, weighted by its frequency. We keep
      pair_counts[pair]  how often pair occurs in the corpus,
      where[pair]        the chunks it may occur in (entries may be stale),
      heap               (-count, pair) entries for picking the best pair,
    and after each merge update them only for the chunks that contained it.
    A pair's count only falls once the pair exists (new adjacencies always
    involve the new token), so a heap entry is an upper bound: a popped entry
    whose count is out of date is pushed back with its current count, and the
    first popped entry that is up to date is the best pair (lazy deletion).
    """
    chunks = [_utf8(c).decode("latin-1") for c in chunk_counts]  # chr(byte) per byte
    freqs = list(chunk_counts.values())
    pair_counts = defaultdict(int)
    where = defaultdict(set)
    for i, (s, f) in enumerate(zip(chunks, freqs)):
        for pair in map(add, s, s[1:]):
            pair_counts[pair] += f
            where[pair].add(i)
    heap = [(-c, pair) for pair, c in pair_counts.items()]
    heapq.heapify(heap)

    merges = []
    while len(merges) < num_merges and heap:
        neg_count, pair = heapq.heappop(heap)
        count = pair_counts.get(pair, 0)
        if count != -neg_count:  # stale entry
            if count > 0:
                heapq.heappush(heap, (-count, pair))
            continue
        a, b = pair
        z = chr(256 + len(merges))
        merges.append((ord(a), ord(b)))
        new_pairs = set()
        for i in where.pop(pair):
            old = chunks[i]
            new = old.replace(pair, z)
            if len(new) == len(old):
                continue  # stale index entry: pair no longer in this chunk
            chunks[i] = new
            f = freqs[i]
            # Each boundary of each z in the new chunk: (left, a) -> (left, z)
            # and (b, right) -> (z, right). Between two z's the old pair was
            # (b, a); that boundary is handled once, as the left of the 2nd z.
            k = new.find(z)
            while k != -1:
                if k > 0:
                    left = new[k - 1]
                    pair_counts[b + a if left == z else left + a] -= f
                    new_pairs.add(left + z)
                    pair_counts[left + z] += f
                    where[left + z].add(i)
                if k + 1 < len(new) and new[k + 1] != z:
                    right = new[k + 1]
                    pair_counts[b + right] -= f
                    new_pairs.add(z + right)
                    pair_counts[z + right] += f
                    where[z + right].add(i)
                k = new.find(z, k + 1)
        del pair_counts[pair]  # every occurrence was merged
        for p in new_pairs:
            heapq.heappush(heap, (-pair_counts[p], p))
    return merges


class Tokenizer:
    """A trained byte-level BPE: merges, a pre-split pattern, special tokens."""

    def __init__(self, merges, pattern=GPT4_PATTERN, special_tokens=(), source="the tokenizer"):
        self.merges = [tuple(m) for m in merges]
        special_tokens = list(special_tokens)
        if len(set(special_tokens)) != len(special_tokens) or "" in special_tokens:
            raise ValueError(f"special tokens must be distinct non-empty strings: {special_tokens}")
        n = 256 + len(self.merges)
        vocab = [bytes([i]) for i in range(256)]  # id -> bytes
        for a, b in self.merges:
            vocab.append(vocab[a] + vocab[b])
        vocab += [s.encode("utf-8") for s in special_tokens]
        results = range(256, n)                   # merge k makes token 256 + k
        self._setup(vocab, None, results, pattern, {s: n + i for i, s in enumerate(special_tokens)},
                    source)

    def _setup(self, vocab, byte_ids, results, pattern, special_tokens, source):
        """vocab: id -> bytes; byte_ids: the id of each byte value (None: byte b is id b);
        results[k]: the id merge k makes; special_tokens {text: id}."""
        self.pattern = pattern
        self._splitter = check_pattern(pattern, source)
        self.vocab = vocab
        self.special_tokens = dict(special_tokens)
        self._byte_chars = None if byte_ids is None else {b: chr(i) for b, i in enumerate(byte_ids)}
        self._pair_of_rank = [chr(a) + chr(b) for a, b in self.merges]
        self._result_of_rank = [chr(z) for z in results]
        self._rank = {}
        for k, pair in enumerate(self._pair_of_rank):
            self._rank.setdefault(pair, k)        # a pair listed twice keeps its first rank
        self._cache = {}

    @classmethod
    def from_vocab(cls, tokens, merges, pattern, special_tokens, source="the tokenizer"):
        """A byte-level BPE whose ids are a file's own (GGUF, tokenizer.json): tokens[i] is the
        bytes of id i, merges a list of (bytes, bytes) pairs by rank (each pair's concatenation
        must be a token), special_tokens {text: id}. The 256 single bytes must all be tokens."""
        tok = cls.__new__(cls)
        id_of = {t: i for i, t in enumerate(tokens) if i not in set(special_tokens.values())}
        # A byte the vocabulary lacks (SmolLM2 has no token for 8 control bytes) cannot be
        # encoded; Hugging Face and llama.cpp drop it silently, we refuse the text (_encode_chunk).
        byte_ids = [id_of.get(bytes([b]), NO_TOKEN) for b in range(256)]
        pairs, results = [], []
        for k, (a, b) in enumerate(merges):
            if a not in id_of or b not in id_of or a + b not in id_of:
                raise ValueError(f"{source}: merge {k} ({a!r}, {b!r}) uses or makes a token that is "
                                 f"not in the vocabulary")
            pairs.append((id_of[a], id_of[b]))
            results.append(id_of[a + b])
        tok.merges = pairs
        tok._setup(list(tokens), byte_ids, results, pattern,
                   special_tokens, source)
        return tok

    @classmethod
    def from_gguf_metadata(cls, meta, source="the GGUF file"):
        """The tokenizer a GGUF's metadata describes (tokenizer.ggml.*): a byte-level BPE ('gpt2')
        with its tokens spelled in GPT-2's byte characters, its merges as "a b" strings, control
        tokens (type 3) as special tokens, and the split pattern of its pre-tokenizer."""
        model = meta.get("tokenizer.ggml.model")
        if model != "gpt2":
            raise ValueError(f"{source}: tokenizer model {model!r} is not supported (only the "
                             f"byte-level BPE 'gpt2')")
        tokens, merges = meta.get("tokenizer.ggml.tokens"), meta.get("tokenizer.ggml.merges")
        types = meta.get("tokenizer.ggml.token_type") or [1] * len(tokens or ())
        if not isinstance(tokens, list) or not isinstance(merges, list) or len(types) != len(tokens):
            raise ValueError(f"{source}: tokenizer.ggml.tokens / merges / token_type are missing or "
                             f"do not agree")
        pattern = meta.get("tinyllm.tokenizer.pattern")
        if pattern is None:
            pre = meta.get("tokenizer.ggml.pre", "default")
            if pre not in GGUF_PRE_PATTERNS:
                raise ValueError(f"{source}: pre-tokenizer {pre!r} is unknown here (known: "
                                 f"{sorted(GGUF_PRE_PATTERNS)})")
            pattern = GGUF_PRE_PATTERNS[pre]
        byte_of = {c: b for b, c in bytes_to_unicode().items()}
        specials = {t: i for i, (t, kind) in enumerate(zip(tokens, types)) if kind == 3}

        def to_bytes(t):
            if all(c in byte_of for c in t):
                return bytes(map(byte_of.__getitem__, t))
            return t.encode("utf-8")
        vocab = [t.encode("utf-8") if i in specials.values() else to_bytes(t)
                 for i, t in enumerate(tokens)]
        pairs = []
        for k, m in enumerate(merges):
            parts = m.split(" ")
            if len(parts) != 2:
                raise ValueError(f"{source}: merge {k} {m!r} is not two tokens separated by a space")
            pairs.append((to_bytes(parts[0]), to_bytes(parts[1])))
        return cls.from_vocab(vocab, pairs, pattern, specials, source)

    def gguf_metadata(self):
        """tokenizer.ggml.* keys describing this tokenizer (GPT-2 byte spelling), for save_gguf."""
        spell = bytes_to_unicode()
        text = lambda b: "".join(spell[x] for x in b)                        # noqa: E731
        special_ids = set(self.special_tokens.values())
        tokens = [self.vocab[i].decode("utf-8") if i in special_ids else text(self.vocab[i])
                  for i in range(len(self.vocab))]
        merges = [f"{tokens[a]} {tokens[b]}" for a, b in self.merges]
        return {"tokenizer.ggml.model": "gpt2", "tokenizer.ggml.pre": "default",
                "tinyllm.tokenizer.pattern": self.pattern, "tokenizer.ggml.tokens": tokens,
                "tokenizer.ggml.token_type": [3 if i in special_ids else 1 for i in range(len(tokens))],
                "tokenizer.ggml.merges": merges}

    @classmethod
    def train(cls, text, vocab_size, pattern=GPT4_PATTERN, special_tokens=(ENDOFTEXT,)):
        """Learn vocab_size - 256 - len(special_tokens) merges from text.

        Stops early (smaller vocab) if every chunk has become a single token.
        """
        num_merges = vocab_size - 256 - len(special_tokens)
        if num_merges < 0:
            raise ValueError(f"vocab_size {vocab_size} < 256 bytes + {len(special_tokens)} specials")
        counts = count_chunks(text, pattern, special_tokens)
        return cls(train_bpe(counts, num_merges), pattern, special_tokens)

    @property
    def vocab_size(self):
        return len(self.vocab)

    @property
    def eot_id(self):
        """Id of <|endoftext|>, or None if this tokenizer has no such token."""
        return self.special_tokens.get(ENDOFTEXT)

    # -- encoding ----------------------------------------------------------

    def _encode_chunk(self, chunk):
        """BPE one pre-split chunk: merge the lowest-rank pair until none is left."""
        s = _utf8(chunk).decode("latin-1")
        if self._byte_chars is not None:
            s = s.translate(self._byte_chars)  # byte b -> chr(the vocabulary's id of b)
        rank_of, pair_of, no_rank = self._rank.get, self._pair_of_rank, len(self.merges)
        result_of = self._result_of_rank
        while len(s) > 1:
            r = min(map(rank_of, map(add, s, s[1:]), repeat(no_rank)))  # all in C
            if r == no_rank:
                break  # no adjacent pair is a merge
            s = s.replace(pair_of[r], result_of[r])
        if self._byte_chars is not None and chr(NO_TOKEN) in s:
            bad = next(c for c in chunk if chr(NO_TOKEN) in _utf8(c).decode("latin-1").translate(
                self._byte_chars))
            raise ValueError(f"the text contains {bad!r}, which this tokenizer's vocabulary has no "
                             f"token for (it would be lost); remove it from the text")
        return [ord(c) for c in s]

    def encode_ordinary(self, text):
        """Encode text, treating special-token strings as ordinary text."""
        chunks = self._splitter.findall(text)
        if sum(map(len, chunks)) != len(text):  # matches never overlap: equal lengths = all covered
            raise ValueError(f"the split pattern {self.pattern!r} dropped characters of the text; "
                             f"the tokenizer would lose them")
        cache = self._cache  # chunk -> ids; a text has far fewer distinct chunks than chunks
        if len(cache) > CACHE_SIZE:
            cache.clear()
        for chunk in set(chunks).difference(cache):
            cache[chunk] = self._encode_chunk(chunk)
        return list(chain.from_iterable(map(cache.__getitem__, chunks)))

    def encode(self, text, allowed_special=(), disallowed_special="all"):
        """Encode text to ids, handling special tokens as tiktoken does.

        allowed_special: specials parsed as their single id ("all" for all).
        disallowed_special: specials whose appearance in text raises
        ValueError ("all" = every special not allowed); pass () to encode
        them as ordinary text instead.
        """
        allowed = set(self.special_tokens) if allowed_special == "all" else set(allowed_special)
        disallowed = (set(self.special_tokens) - allowed if disallowed_special == "all"
                      else set(disallowed_special))
        unknown = (allowed | disallowed) - set(self.special_tokens)
        if unknown:
            raise ValueError(f"not special tokens of this tokenizer: {sorted(unknown)}")
        for s in disallowed:
            if s in text:
                raise ValueError(
                    f"text contains the special token {s!r} at position {text.find(s)}; pass "
                    f"allowed_special={{{s!r}}} (or 'all') to encode it as one token, or "
                    f"disallowed_special=() to encode it as ordinary text")
        if not allowed:
            return self.encode_ordinary(text)
        ids = []
        parts = _special_splitter(allowed).split(text)  # text, special, text, ...
        for i, part in enumerate(parts):
            if i % 2:
                ids.append(self.special_tokens[part])
            elif part:
                ids += self.encode_ordinary(part)
        return ids

    def encode_batch(self, texts, allowed_special=(), disallowed_special="all"):
        """encode() each text in turn (one thread; shares the chunk cache)."""
        return [self.encode(t, allowed_special, disallowed_special) for t in texts]

    # -- decoding ----------------------------------------------------------

    def decode_bytes(self, ids):
        """The raw bytes the ids stand for."""
        ids = list(ids)
        if ids and not (0 <= min(ids) and max(ids) < len(self.vocab)):
            bad = next(i for i in ids if not 0 <= i < len(self.vocab))
            raise ValueError(f"token id {bad} outside the vocabulary 0..{len(self.vocab) - 1}")
        return b"".join(map(self.vocab.__getitem__, ids))

    def decode(self, ids):
        """Ids to text; bytes that are not valid UTF-8 become U+FFFD."""
        return self.decode_bytes(ids).decode("utf-8", errors="replace")

    def pieces(self, text, allowed_special="all"):
        """[(token text, id), ...] for text: what a lesson shows.

        A token that is only part of a UTF-8 character shows as \\xNN escapes.
        """
        ids = self.encode(text, allowed_special=allowed_special, disallowed_special=())
        return [(self.vocab[i].decode("utf-8", errors="backslashreplace"), i) for i in ids]

    # -- files -------------------------------------------------------------

    def dumps(self):
        """The tokenizer as JSON text, one merge per line; no pickle."""
        if self._byte_chars is not None:
            raise ValueError("this tokenizer keeps a file's own ids (from GGUF); save it with "
                             "tinyllm.gguf.save_gguf, not as a tinyllm-bpe file")
        header = {"format": FORMAT, "version": VERSION, "pattern": self.pattern,
                  "special_tokens": self.special_tokens}
        lines = [json.dumps(header, ensure_ascii=False)[:-1] + ', "merges": [']
        lines += [f"[{a}, {b}]," for a, b in self.merges]
        if self.merges:
            lines[-1] = lines[-1][:-1]
        lines.append("]}")
        return "\n".join(lines) + "\n"

    def save(self, path):
        with open(path, "w", encoding="utf-8") as f:
            f.write(self.dumps())

    @classmethod
    def load(cls, path):
        """Read a file written by save()."""
        with open(path, "rb") as f:
            raw = f.read()
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            raise ValueError(f"{path}: not UTF-8 text (byte {e.start}); a tokenizer file is the JSON "
                             f"that Tokenizer.save writes") from None
        return cls.loads(text, source=path)

    @classmethod
    def loads(cls, text, source="tokenizer text"):
        """Parse the text of dumps(), checking it thoroughly; errors name source."""
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as e:
            raise ValueError(f"{source}: not a valid tokenizer file (truncated or corrupt?): {e}") from None
        if not isinstance(obj, dict) or obj.get("format") != FORMAT:
            raise ValueError(f"{source}: not a {FORMAT} file (missing 'format': '{FORMAT}')")
        if obj.get("version") != VERSION:
            raise ValueError(f"{source}: unsupported version {obj.get('version')!r}, expected {VERSION}")
        pattern, merges, specials = obj.get("pattern"), obj.get("merges"), obj.get("special_tokens")
        check_pattern(pattern, source)
        if not isinstance(merges, list):
            raise ValueError(f"{source}: 'merges' must be a list")
        for k, m in enumerate(merges):
            ok = (isinstance(m, list) and len(m) == 2 and all(type(t) is int for t in m)
                  and all(0 <= t < 256 + k for t in m))
            if not ok:
                raise ValueError(f"{source}: merge {k} is {m!r}; expected [a, b] with ids "
                                 f"0 <= id < {256 + k} (tokens that exist before it)")
        if not isinstance(specials, dict) or "" in specials:
            raise ValueError(f"{source}: 'special_tokens' must be a dict of non-empty strings to ids")
        expected = {s: 256 + len(merges) + i for i, s in enumerate(specials)}
        if specials != expected:
            raise ValueError(f"{source}: 'special_tokens' must map each special to the ids "
                             f"after the merges, in order: {expected}")
        return cls(merges, pattern, list(specials), source)

    def save_vocab(self, path):
        """Write a human-readable listing: id, token, and the merge that made it."""
        with open(path, "w", encoding="utf-8") as f:
            f.write("\n".join(self.vocab_lines()) + "\n")

    def vocab_lines(self):
        lines = [f"{i}\t{render_token(self.vocab[i])}" for i in range(256)]
        for k, (a, b) in enumerate(self.merges):
            i = 256 + k
            lines.append(f"{i}\t{render_token(self.vocab[i])}\t"
                         f"= [{render_token(self.vocab[a])}] + [{render_token(self.vocab[b])}]")
        lines += [f"{i}\t{s}\t(special)" for s, i in self.special_tokens.items()]
        return lines


def escape_invisible(s):
    """Escape the characters a reader cannot see (control, format, line and
    paragraph separators) the way Python does: \\n, \\x1b, \\u200d."""
    return "".join(ch.encode("unicode_escape").decode("ascii")
                   if unicodedata.category(ch) in INVISIBLE else ch for ch in s)


def render_token(b):
    """Token bytes as one line of printable text, with nothing hidden or
    ambiguous: invisible characters, invalid UTF-8 bytes (\\xff) and
    backslashes (\\\\) are escaped."""
    return escape_invisible(b.replace(b"\\", b"\\\\").decode("utf-8", errors="backslashreplace"))
