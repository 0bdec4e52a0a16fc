"""Glyph captioning data (Book: 10.2.4): the cmap reader against Pillow's own lookup, the split by code point,
the seq2seq batch convention, the scores and the floors against brute force."""
from __future__ import annotations

import os
import unicodedata

import numpy as np
import pytest
import torch

from recnets.tasks.glyph_captions import (BOS, EOS, PAD, UNK, GlyphCaptionConfig, GlyphCaptionTask, caption_scores,
                                          caption_words, captionable, cmap_code_points, find_dejavu_fonts,
                                          load_glyphs)
from recnets.tasks.sequence_errors import edit_distance
from recnets.tasks.series import MissingDataError


def fonts_or_skip():
    try:
        return {path.stem: path for path in find_dejavu_fonts()}
    except MissingDataError as error:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI installs fonts-dejavu, yet: {error}")
        pytest.skip(str(error))


SMALL = GlyphCaptionConfig(image_size=16, faces=("DejaVuSans", "DejaVuSerif"), ranges=((0x21, 0x17F), (0x391, 0x3C9)),
                           valid_fraction=0.1, test_fraction=0.2, batch_size=8, eval_batch_size=50)


@pytest.fixture(scope="module")
def task() -> GlyphCaptionTask:
    fonts_or_skip()
    return GlyphCaptionTask(SMALL)


@pytest.mark.parametrize("stem", ["DejaVuSans", "DejaVuSerif-Italic", "DejaVuMathTeXGyre"])
def test_cmap_agrees_with_pillows_lookup(stem):
    """A code point renders as something other than the .notdef box exactly when the cmap maps it."""
    from PIL import ImageFont

    fonts = fonts_or_skip()
    if stem not in fonts:
        pytest.skip(f"{stem}.ttf is not installed")
    covered = cmap_code_points(fonts[stem])
    font = ImageFont.truetype(str(fonts[stem]), 12, layout_engine=ImageFont.Layout.BASIC)

    def drawn(code: int) -> tuple:
        mask = font.getmask(chr(code))
        return mask.size, bytes(mask)

    notdef = drawn(0x4E00)  # a CJK ideograph: in no DejaVu face
    assert 0x4E00 not in covered
    sample = list(range(0x20, 0xD800, 17)) + list(range(0xE000, 0x20000, 97))
    disagree = [hex(code) for code in sample if (drawn(code) != notdef) != (code in covered)]
    assert not disagree
    assert sum(code in covered for code in sample) > 50


def test_format_4_and_format_12_agree_on_the_basic_plane():
    path = fonts_or_skip().get("DejaVuSans") or pytest.skip("DejaVuSans.ttf is not installed")
    full, basic = cmap_code_points(path, form=12), cmap_code_points(path, form=4)
    assert basic == {code for code in full if code <= 0xFFFF}
    assert ord("A") in basic and 0x20AC in basic  # EURO SIGN
    with pytest.raises(ValueError, match="form: expected"):
        cmap_code_points(path, form=6)


def test_captionable_and_caption_words():
    assert caption_words("à") == ["LATIN", "SMALL", "LETTER", "A", "WITH", "GRAVE"]
    assert caption_words("-") == ["HYPHEN-MINUS"]
    assert captionable(ord("à")) and captionable(ord("€")) and captionable(ord("7"))
    for code in (0x0A, 0x20, 0x00A0, 0x0301, 0x200B, 0xE000, 0x0378):  # control, spaces, combining, format, PUA, unassigned
        assert not captionable(code), hex(code)
    with pytest.raises(ValueError, match="character: expected a named character"):
        caption_words("\n")


def test_missing_fonts_is_one_line_with_the_install_command(tmp_path):
    with pytest.raises(MissingDataError, match="fonts-dejavu-core") as raised:
        find_dejavu_fonts([str(tmp_path)])
    assert "\n" not in str(raised.value)


def test_split_is_by_code_point(task):
    data = task.data
    splits = {split: set(data.code[data.indices(split)].tolist()) for split in ("train", "valid", "test")}
    assert not splits["train"] & splits["test"] and not splits["train"] & splits["valid"]
    assert not splits["valid"] & splits["test"]
    train_captions = {data.captions[c] for c in splits["train"]}
    assert all(data.captions[c] not in train_captions for c in splits["test"])  # unseen as whole captions
    assert len(splits["test"]) == round(0.2 * len(data.code_points))
    # every face renders each of its code points once, and only code points it has
    for face, stem in enumerate(data.faces):
        covered = cmap_code_points(fonts_or_skip()[stem])
        codes = data.code[data.face == face]
        assert len(set(codes.tolist())) == codes.size
        assert all(data.code_points[c] in covered for c in codes.tolist())
    assert data.images.dtype == np.uint8 and data.images.shape[1:] == (16, 16)
    assert all(image.any() for image in data.images)


def test_batches_follow_the_seq2seq_convention(task):
    batch = task.train_batch(3)
    again = task.train_batch(3)
    assert torch.equal(batch.inputs, again.inputs) and torch.equal(batch.targets, again.targets)
    assert batch.inputs.shape == (8, 1, 16, 16) and batch.inputs.dtype == torch.float32
    assert 0.0 <= float(batch.inputs.min()) and float(batch.inputs.max()) <= 1.0
    assert batch.lengths is None
    lengths = batch.mask.sum(1)
    for row in range(8):
        n = int(lengths[row])
        assert int(batch.targets[row, n - 1]) == EOS  # the last real step is the end symbol
        assert bool((batch.targets[row, n:] == PAD).all()) and bool(batch.mask[row, :n].all())
        assert not bool((batch.targets[row, :n - 1] == EOS).any()) and not bool((batch.targets[row] == BOS).any())
    test = list(task.eval_batches("test"))
    assert sum(b.inputs.shape[0] for b in test) == task.data.indices("test").size
    references = task.references("test")
    first = test[0]
    for row in range(3):
        n = int(first.mask[row].sum())
        assert first.targets[row, :n - 1].tolist() == references[row]
        code = task.data.code[task.data.indices("test")[row]]
        assert task.decode(references[row] + [EOS, 5]) == [w if w in task.words else "<unk>"
                                                            for w in task.data.captions[code]]


def test_vocabulary_is_the_training_words(task):
    words = task.words
    assert words[:4] == ("<pad>", "<bos>", "<eos>", "<unk>")
    train_words = {w for c in task.data.code[task.data.indices("train")] for w in task.data.captions[c]}
    assert set(words[4:]) == train_words
    assert task.encode(["LATIN", "NOT-A-WORD"]) == [words.index("LATIN"), UNK]


def test_word_edit_distance_and_scores():
    assert edit_distance("kitten", "sitting") == 3
    assert edit_distance([], ["A", "B"]) == 2
    predicted = [["LATIN", "SMALL", "LETTER", "A"], ["LATIN", "CAPITAL"], ["DIGIT", "ONE", "EXTRA"]]
    reference = [["LATIN", "SMALL", "LETTER", "A"], ["LATIN", "SMALL", "LETTER", "B"], ["DIGIT", "ONE"]]
    scores = caption_scores(predicted, reference)
    assert scores["exact_match"] == pytest.approx(1 / 3)
    assert scores["word_accuracy"] == pytest.approx((1 + 1 / 4 + 2 / 3) / 3)  # charged for extra words too
    assert scores["word_error_rate"] == pytest.approx((0 + 3 / 4 + 1 / 2) / 3)
    with pytest.raises(ValueError, match="predicted: expected 3 captions"):
        caption_scores(predicted[:2], reference)


def test_floors_against_brute_force(task):
    floors = task.baselines("test")
    data = task.data
    train, test = data.indices("train"), data.indices("test")
    references = task.references("test")
    expected = []
    for index in test:
        pool = train[data.face[train] == data.face[index]]
        distance = ((data.images[pool].astype(np.float64) - data.images[index].astype(np.float64)) ** 2).sum((1, 2))
        code = data.code[pool[int(np.argmin(distance))]]
        expected.append(task.encode(data.captions[code]))
    assert floors["nearest_neighbour"] == pytest.approx(caption_scores(expected, references))
    assert floors["nearest_neighbour"]["exact_match"] == 0.0  # it can only answer training captions
    constant = task.encode(floors["constant_caption"])
    train_refs = task.references("train")
    best = max(caption_scores([constant[:n]] * len(train_refs), train_refs)["word_accuracy"]
               for n in range(1, len(constant) + 1))
    assert caption_scores([constant] * len(train_refs), train_refs)["word_accuracy"] == pytest.approx(best)
    assert floors["constant"] == pytest.approx(caption_scores([constant] * len(references), references))
    assert 0 < floors["known_words"] <= 1


def test_config_errors_are_one_line():
    with pytest.raises(ValueError, match="image_size: expected an integer >= 12"):
        GlyphCaptionConfig(image_size=8)
    with pytest.raises(ValueError, match="ranges: expected None or a tuple"):
        GlyphCaptionConfig(ranges=((10, 5),))
    with pytest.raises(ValueError, match="test_fraction: expected a number in"):
        GlyphCaptionConfig(test_fraction=0.7)
    fonts_or_skip()
    with pytest.raises(ValueError, match="faces: expected installed DejaVu files"):
        load_glyphs(GlyphCaptionConfig(faces=("Comic",)))
    with pytest.raises(ValueError, match="ranges: expected at least 10 captionable"):
        load_glyphs(GlyphCaptionConfig(faces=("DejaVuSans",), ranges=((0x41, 0x43),)))


def test_names_come_from_unicodedata(task):
    for code, caption in zip(task.data.code_points[:20], task.data.captions[:20]):
        assert " ".join(caption) == unicodedata.name(chr(code))
    assert task.describe()["unicode_version"] == unicodedata.unidata_version
