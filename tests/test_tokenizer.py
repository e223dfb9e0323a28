"""Tests for tinyllm.tokenizer: exact BPE, round trips, special tokens, files, CLI."""
import json

import pytest
import regex
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tinyllm.tokenizer import (ENDOFTEXT, GPT2_PATTERN, GPT4_PATTERN, Tokenizer, count_chunks,
                               render_token, train_bpe, train_naive)
from tinyllm.tokenizer_cli import main, visualise

CORPUS = (
    "First Citizen:\nBefore we proceed any further, hear me speak.\n\n"
    "All:\nSpeak, speak.\n\nFirst Citizen:\nYou are all resolved rather to die than to famish?\n"
    "Ça va? Très bien, merci. Größe, straße, naïve café.\n"
    "日本語のテキストも少し。中文也有一点。한국어 문장.\n"
    "Emoji: 🙂🙂 👍🏽 👩‍👩‍👧 and combining: e\u0301 a\u0308 n\u0303.\n"
    "Numbers 1234567 and 3.14159, tabs\tand    spaces   \r\n\r\n  end"
) * 3


@pytest.fixture(scope="module")
def tok():
    return Tokenizer.train(CORPUS, vocab_size=256 + 120 + 1)


def apply_merges_in_order(tok, text):
    """Reference encoder: apply every merge, in rank order, to each chunk."""
    ids = []
    for chunk in regex.findall(tok.pattern, text):
        s = list(chunk.encode("utf-8"))
        for k, (a, b) in enumerate(tok.merges):
            out, j = [], 0
            while j < len(s):
                if j + 1 < len(s) and s[j] == a and s[j + 1] == b:
                    out.append(256 + k)
                    j += 2
                else:
                    out.append(s[j])
                    j += 1
            s = out
        ids += s
    return ids


# -- training -----------------------------------------------------------------

def test_hand_computed_merges():
    # One chunk "aaabdaaabac" (a=97 b=98 c=99 d=100), worked by hand:
    # aa:4 -> 256; then ab:2 and (256,a):2 tie, smallest pair (97,98) -> 257;
    # (256,257):2 -> 258; then all pairs count 1: (97,99) -> 259, (100,258) -> 260.
    tok = Tokenizer.train("aaabdaaabac", 256 + 5, special_tokens=())
    assert tok.merges == [(97, 97), (97, 98), (256, 257), (97, 99), (100, 258)]
    assert tok.encode("aaabdaaabac") == [258, 260, 259]
    assert tok.vocab[258] == b"aaab"


def test_merges_respect_presplit_and_stop_early():
    # GPT-4 split: "hi", " hi", " hi". Merges: (h,i) x3 -> 256, then (" ", 256) x2 -> 257;
    # then every chunk is one token, so training stops with fewer merges than asked.
    tok = Tokenizer.train("hi hi hi", 1000, special_tokens=(ENDOFTEXT,))
    assert tok.merges == [(104, 105), (32, 256)]
    assert tok.vocab_size == 259 and tok.eot_id == 258


def test_vocab_size_counts_bytes_merges_and_specials(tok):
    assert tok.vocab_size == 256 + 120 + 1 == len(tok.merges) + 256 + 1
    assert tok.special_tokens == {ENDOFTEXT: 376}
    with pytest.raises(ValueError, match="vocab_size"):
        Tokenizer.train("abc", 256)  # no room for <|endoftext|>


corpora = st.lists(st.sampled_from(["a", "b", "ab", "aa", " ", "\n", "ba", "é", "1", "🙂"]),
                   max_size=60).map("".join)


@settings(max_examples=200, deadline=None)
@given(text=st.one_of(corpora, st.text(max_size=80)), num_merges=st.integers(0, 40))
def test_fast_trainer_equals_naive(text, num_merges):
    counts = count_chunks(text)
    assert train_bpe(counts, num_merges) == train_naive(counts, num_merges)


def test_fast_trainer_equals_naive_on_real_text():
    counts = count_chunks(CORPUS, GPT2_PATTERN)
    assert train_bpe(counts, 300) == train_naive(counts, 300)


def test_training_never_merges_across_special_tokens():
    tok = Tokenizer.train("xy<|endoftext|>xy<|endoftext|>" * 20, 300)
    assert tok.merges == [(120, 121)]  # only "xy"; nothing with "<|" or "|>"


def test_gpt2_and_gpt4_patterns_differ_on_digits():
    assert list(count_chunks("12345", GPT4_PATTERN)) == ["123", "45"]
    assert list(count_chunks("12345", GPT2_PATTERN)) == ["12345"]


# -- encoding and decoding ----------------------------------------------------

SAMPLES = ["", " ", "   ", "\n\n\n", "\r\n", "\t \t", "hello world", "🙂", "👩‍👩‍👧",
           "e\u0301", "日本語", "a  b   c    ", "ÿ\x00\x1b[0m", "\U0010ffff"]


@pytest.mark.parametrize("text", SAMPLES)
def test_round_trip_examples(tok, text):
    assert tok.decode(tok.encode(text)) == text


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text())  # any Unicode except lone surrogates (hypothesis's default)
def test_round_trip_property(tok, text):
    ids = tok.encode(text, disallowed_special=())
    assert tok.decode(ids) == text
    assert tok.decode_bytes(ids) == text.encode("utf-8")


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(alphabet=st.sampled_from(list(set(CORPUS))), max_size=200))
def test_encode_equals_applying_merges_in_order(tok, text):
    assert tok.encode(text, disallowed_special=()) == apply_merges_in_order(tok, text)


def test_training_text_compresses(tok):
    ids = tok.encode(CORPUS)
    assert len(ids) < len(CORPUS.encode()) / 2
    assert ids == apply_merges_in_order(tok, CORPUS)


def test_lone_surrogates_are_rejected(tok):
    with pytest.raises(ValueError, match="lone surrogate"):
        tok.encode("ok \ud800 not ok")
    with pytest.raises(ValueError, match="lone surrogate"):
        Tokenizer.train("abc\udfff", 300)


def test_decode_invalid_utf8_and_raw_bytes(tok):
    assert tok.decode_bytes([0xE6, 0x97]) == b"\xe6\x97"
    assert tok.decode([0xE6, 0x97]) == "\ufffd"  # an incomplete character
    assert tok.decode([104, 0xFF, 105]) == "h\ufffdi"
    for bad in ([-1], [tok.vocab_size]):
        with pytest.raises(ValueError, match="outside the vocabulary"):
            tok.decode(bad)


def test_encode_batch(tok):
    texts = ["one", "two three", "", "Ça va?"]
    assert tok.encode_batch(texts) == [tok.encode(t) for t in texts]


def test_cache_does_not_change_results(tok):
    fresh = Tokenizer(tok.merges, tok.pattern, list(tok.special_tokens))
    assert fresh.encode(CORPUS) == tok.encode(CORPUS) == tok.encode(CORPUS)


# -- special tokens -------------------------------------------------------------

def test_disallowed_special_raises(tok):
    with pytest.raises(ValueError, match="special token '<\\|endoftext\\|>' at position 5"):
        tok.encode("hello<|endoftext|>")


def test_allowed_special_is_one_token_never_split(tok):
    eot = tok.eot_id
    ids = tok.encode("hi<|endoftext|><|endoftext|> there", allowed_special="all")
    assert ids.count(eot) == 2
    assert ids == tok.encode("hi") + [eot, eot] + tok.encode(" there")
    assert tok.encode("<|endoftext|>", allowed_special={ENDOFTEXT}) == [eot]
    assert tok.decode(ids) == "hi<|endoftext|><|endoftext|> there"


def test_special_as_ordinary_text(tok):
    ids = tok.encode("<|endoftext|>", disallowed_special=())
    assert tok.eot_id not in ids and len(ids) > 1
    assert tok.decode(ids) == "<|endoftext|>"
    assert tok.encode_ordinary("<|endoftext|>") == ids


def test_bad_special_token_lists_rejected():
    for specials in (["<|a|>", "<|a|>"], [""]):
        with pytest.raises(ValueError, match="distinct non-empty"):
            Tokenizer([], special_tokens=specials)


def test_unknown_special_rejected(tok):
    with pytest.raises(ValueError, match="not special tokens"):
        tok.encode("x", allowed_special={"<|im_start|>"})


def test_several_specials_prefer_longest():
    tok = Tokenizer.train("abc abc", 300, special_tokens=("<|a|>", "<|a|>x"))
    a, ax = tok.special_tokens["<|a|>"], tok.special_tokens["<|a|>x"]
    assert ax == a + 1 == tok.vocab_size - 1
    assert tok.encode("<|a|>x<|a|>", allowed_special="all") == [ax, a]


# -- files ------------------------------------------------------------------------

def test_save_load_identical(tok, tmp_path):
    path = tmp_path / "tok.json"
    tok.save(path)
    loaded = Tokenizer.load(path)
    assert loaded.merges == tok.merges
    assert loaded.pattern == tok.pattern and loaded.special_tokens == tok.special_tokens
    assert loaded.encode(CORPUS, allowed_special="all") == tok.encode(CORPUS, allowed_special="all")
    text = path.read_text()
    assert text.count("\n") > len(tok.merges)  # one merge per line: readable
    assert "pickle" not in text and json.loads(text)["format"] == "tinyllm-bpe"


def test_dumps_loads(tok):
    text = tok.dumps()
    assert Tokenizer.loads(text).merges == tok.merges
    with pytest.raises(ValueError, match="^checkpoint meta: not a valid tokenizer"):
        Tokenizer.loads(text[:-10], source="checkpoint meta")


def test_save_load_gpt2_pattern_no_merges(tmp_path):
    tok = Tokenizer([], GPT2_PATTERN, ())
    tok.save(tmp_path / "t.json")
    loaded = Tokenizer.load(tmp_path / "t.json")
    assert loaded.pattern == GPT2_PATTERN and loaded.vocab_size == 256
    assert loaded.encode("hi") == [104, 105]


def corrupt(tmp_path, tok, edit):
    path = tmp_path / "tok.json"
    tok.save(path)
    obj = json.loads(path.read_text())
    edit(obj)
    path.write_text(json.dumps(obj))
    return path


@pytest.mark.parametrize("edit, message", [
    (lambda o: o.update(format="other"), "not a tinyllm-bpe file"),
    (lambda o: o.update(version=99), "unsupported version 99"),
    (lambda o: o.update(pattern="(unclosed"), "not a valid regex"),
    (lambda o: o.update(pattern=7), "'pattern' must be a string"),
    (lambda o: o.update(merges={}), "'merges' must be a list"),
    (lambda o: o["merges"].__setitem__(0, [300, 1]), "merge 0 is \\[300, 1\\]"),
    (lambda o: o["merges"].__setitem__(3, [1]), "merge 3 is \\[1\\]"),
    (lambda o: o["merges"].__setitem__(3, [1, "a"]), "merge 3"),
    (lambda o: o["special_tokens"].update({ENDOFTEXT: 5}), "special_tokens"),
    (lambda o: o.pop("special_tokens"), "special_tokens"),
    (lambda o: o.update(special_tokens={"": 376}), "non-empty strings"),
])
def test_corrupt_files_give_clear_errors(tok, tmp_path, edit, message):
    with pytest.raises(ValueError, match=message):
        Tokenizer.load(corrupt(tmp_path, tok, edit))


def test_truncated_file_gives_clear_error(tok, tmp_path):
    path = tmp_path / "tok.json"
    tok.save(path)
    path.write_text(path.read_text()[: 500])
    with pytest.raises(ValueError, match="truncated or corrupt"):
        Tokenizer.load(path)


def test_vocab_listing_escapes_control_characters(tok, tmp_path):
    tok.save_vocab(tmp_path / "tok.vocab")
    lines = (tmp_path / "tok.vocab").read_text(encoding="utf-8").splitlines()
    assert len(lines) == tok.vocab_size  # no raw newline inside any entry
    assert lines[10] == "10\t\\n" and lines[0] == "0\t\\x00"
    assert lines[-1] == f"{tok.eot_id}\t<|endoftext|>\t(special)"
    assert any("= [" in line for line in lines[256:])


def test_render_token():
    assert render_token(b"a\nb\t\x1b") == "a\\nb\\t\\x1b"
    assert render_token(b"\xe6\x97") == "\\xe6\\x97"  # half a character
    assert render_token(b"\\x41") == "\\\\x41"  # a literal backslash is not an escape
    assert render_token("é 🙂".encode()) == "é 🙂"


def test_pieces_and_visualise(tok):
    pieces = tok.pieces("Speak, speak.\n<|endoftext|>")
    assert "".join(t for t, _ in pieces) == "Speak, speak.\n<|endoftext|>"
    assert pieces[-1] == ("<|endoftext|>", tok.eot_id)
    plain = visualise(pieces, color=False)
    assert plain.startswith("|") and "\\n" in plain and "\x1b" not in plain
    assert plain.count("|") == len(pieces) + 1 + 2  # separators, plus the two in <|endoftext|>
    colored = visualise(pieces, color=True)
    assert colored.count("\x1b[0m") == len(pieces) and "\u21b5\n" in colored
    crab = tok.pieces("🦀")  # not in the training text: pieces are partial characters
    assert len(crab) > 1 and "".join(t for t, _ in crab) == "\\xf0\\x9f\\xa6\\x80"
    assert visualise(crab, color=False) == "|" + "|".join(t for t, _ in crab) + "|"
    assert visualise([("\t\r", 9)], color=True).count("\\t\\r") == 1


# -- command line --------------------------------------------------------------------

def test_cli_train_encode_decode_show(tmp_path, capsys):
    text = tmp_path / "corpus.txt"
    text.write_text(CORPUS, encoding="utf-8")
    out = tmp_path / "tok.json"
    assert main(["train", "--text", str(text), "--vocab-size", "300", "--out", str(out)]) == 0
    assert "bytes per token" in capsys.readouterr().out
    assert (tmp_path / "tok.vocab").exists()
    assert main(["encode", "--tokenizer", str(out), "Speak, speak."]) == 0
    ids = [int(i) for i in capsys.readouterr().out.split()]
    assert ids == Tokenizer.load(out).encode("Speak, speak.")
    assert main(["decode", "--tokenizer", str(out)] + [str(i) for i in ids]) == 0
    assert capsys.readouterr().out == "Speak, speak.\n"
    assert main(["show", "--tokenizer", str(out), "Speak, speak."]) == 0
    shown = capsys.readouterr().out
    assert shown.startswith("|") and f"{len(ids)} tokens" in shown  # not a tty: plain text


def test_cli_errors_are_clear(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    assert main(["encode", "--tokenizer", str(bad), "x"]) == 1
    assert "truncated or corrupt" in capsys.readouterr().err
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    assert main(["train", "--text", str(empty), "--vocab-size", "300", "--out", str(bad)]) == 1
    assert "empty" in capsys.readouterr().err


# -- split patterns that would lose text ---------------------------------------

@pytest.mark.parametrize("pattern", [r"\w+", "", r"\S+", r"[a-z]+|\s"])
def test_a_pattern_that_drops_text_is_refused_on_load(tok, tmp_path, pattern):
    path = corrupt(tmp_path, tok, lambda o: o.update(pattern=pattern))
    with pytest.raises(ValueError, match=f"{path}: the split pattern .* drops text"):
        Tokenizer.load(path)
    with pytest.raises(ValueError, match="drops text"):
        Tokenizer([], pattern)


def test_encode_refuses_a_pattern_that_drops_characters_the_probe_lacks():
    t = Tokenizer([], r"[^\x07]+")          # passes the probe (no BEL in it), drops BEL
    assert t.decode(t.encode("a b")) == "a b"
    with pytest.raises(ValueError, match="dropped characters"):
        t.encode("a\x07b")


def test_tokenizer_cli_still_works(tok, tmp_path, capsys):
    from tinyllm.__main__ import main as tinyllm_main
    path = tmp_path / "t.json"
    tok.save(path)
    assert tinyllm_main(["tokenizer", "encode", "--tokenizer", str(path), "hello"]) == 0
    ids = [int(i) for i in capsys.readouterr().out.split()]
    assert tok.decode(ids) == "hello"


def test_a_tokenizer_file_that_is_not_utf8_is_named(tmp_path):
    bad = tmp_path / "tok.json"
    bad.write_bytes(b'{"merges": [\xff\xfe]}')
    with pytest.raises(ValueError, match=r"tok\.json: not UTF-8 text \(byte 12\)"):
        Tokenizer.load(bad)
