"""Glyph captioning: an image of one character in, its Unicode name out, word by word.

A vector-to-sequence task on data every machine with fonts has: each image is one character rendered from
an installed DejaVu font, and its caption is ``unicodedata.name(ch)`` split at spaces ("LATIN SMALL LETTER
A WITH GRAVE" is 6 words; hyphenated parts such as "HYPHEN-MINUS" stay one word). The captions are
compositional (script, case, letter, diacritics), so a caption never seen whole can still be produced from
words seen in others.

**Code points.** Those a face maps to a glyph in its character map (the TrueType ``cmap`` table, formats
4 and 12, read here with ``struct``: exact, no rendering guesswork, no fontTools; the tests check it against
Pillow, whose rendering of a code point differs from the .notdef box exactly when the cmap has it), minus control, format,
unassigned, surrogate and private-use characters (category C*), combining marks (M*), separators and spaces
(Z*), characters without a name, and glyphs that leave no ink in the image. ``ranges`` and
``max_code_points`` (a seeded subsample) restrict them.

**Images.** Every face of ``faces`` (default: every ``DejaVu*.ttf`` found under the standard font folders)
renders each code point it has: one augmentation per face (regular, bold, oblique, condensed, mono, serif,
...). Image size S (default 32) grayscale, ink 1, paper 0, rendered with Pillow at 0.69·S pixels per em, the
advance width centred and the baseline at 0.78·S: size and height carry information (small against capital
letters, subscripts), so the glyph is never rescaled, and a glyph wider than S is clipped at the sides.
Rendered once per configuration and kept in memory as uint8 (the whole set, 6,735 code points in 83,804
images at S = 32 from the 22 faces of fonts-dejavu-core + extra, 86 MB, renders in 15 s on one core, measured;
40 s when the shared machine was loaded), so no subsampling is needed.

**Split** by code point, seeded: all faces of a code point fall in one split, so every test caption is unseen
as a whole in training (its words mostly are not). The word vocabulary is the training captions' words;
other words read as ``<unk>`` (the share of test captions made only of known words bounds exact match).

**Batches** (the seq2seq convention): inputs (B, 1, S, S) float images; targets (B, T) int64 word ids then
EOS, PAD after; mask (B, T) True at the words and the EOS; lengths None. Training batch s draws B images
uniformly from the training images (a pure function of seed and s); held-out splits are walked in order.

**Scores** (per test image, i.e. per code point and face): exact match (the whole caption, EOS included);
word accuracy = Σ_i [pred_i = ref_i] / max(|pred|, |ref|), position-wise so that an extra or missing word is
charged; word error rate = word edit distance / |ref|. Floors: the best constant caption (the position-wise
most common training words, cut at the length that scores best on the training captions) and the caption of
the nearest training image in pixels within the same face (exact match 0 by construction: its captions are
training captions).

Book: 10.2.4 (an RNN that maps a fixed-size vector, here an image's features, to a sequence, Fig. 10.9).
"""
from __future__ import annotations

import glob
import hashlib
import os
import struct
import unicodedata
from collections import Counter
from dataclasses import asdict, dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np
import torch
from torch import Tensor

from recnets.tasks.base import Batch, Task, sequence_nll, step_generator
from recnets.tasks.pairs import BOS, EOS, PAD, SPECIALS, UNK, PairVocabulary
from recnets.tasks.sequence_errors import edit_distance
from recnets.tasks.series import MissingDataError

__all__ = ["PAD", "BOS", "EOS", "UNK", "SPECIALS", "FONT_FOLDERS", "GlyphCaptionConfig", "GlyphData",
           "GlyphCaptionTask", "find_dejavu_fonts", "cmap_code_points", "captionable", "caption_words",
           "render_glyph", "load_glyphs", "caption_scores"]

SPLITS = ("train", "valid", "test")
FONT_FOLDERS = ("/usr/share/fonts", "/usr/local/share/fonts", "~/.local/share/fonts", "~/.fonts",
                "/Library/Fonts", "~/Library/Fonts", "C:/Windows/Fonts")
INSTALL_HINT = "apt-get install fonts-dejavu-core (fonts-dejavu-extra adds the oblique, condensed and light faces)"
_CACHE: dict[tuple, "GlyphData"] = {}


@dataclass(frozen=True)
class GlyphCaptionConfig:
    """Which glyphs, how big, how split and batched.

    Args:
        image_size: S, the side of the square images (>= 12).
        faces: font file stems to use (e.g. ``("DejaVuSans", "DejaVuSerif")``), or None for every DejaVu
            file found.
        ranges: inclusive code-point ranges ``((first, last), ...)`` to draw from, or None for all.
        max_code_points: keep a seeded random subset of this many code points (None: all).
        valid_fraction, test_fraction: the shares of code points held out (each in (0, 0.5)).
        batch_size: training images per batch; eval_batch_size: held-out images per batch.
        seed: seeds the subsample, the split and every training batch.

    Book: 10.2.4.
    """

    image_size: int = 32
    faces: tuple[str, ...] | None = None
    ranges: tuple[tuple[int, int], ...] | None = None
    max_code_points: int | None = None
    valid_fraction: float = 0.05
    test_fraction: float = 0.1
    batch_size: int = 64
    eval_batch_size: int = 512
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("image_size", "batch_size", "eval_batch_size"):
            value, minimum = getattr(self, name), 12 if name == "image_size" else 1
            if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
                raise ValueError(f"{name}: expected an integer >= {minimum}, got {value!r}")
        if self.faces is not None and (not isinstance(self.faces, tuple) or not self.faces
                                       or not all(isinstance(f, str) and f for f in self.faces)):
            raise ValueError(f"faces: expected None or a non-empty tuple of font file stems, got {self.faces!r}")
        if self.ranges is not None:
            if not isinstance(self.ranges, tuple) or not self.ranges or not all(
                    isinstance(r, tuple) and len(r) == 2 and all(isinstance(v, int) for v in r)
                    and 0 <= r[0] <= r[1] <= 0x10FFFF for r in self.ranges):
                raise ValueError(f"ranges: expected None or a tuple of (first, last) code points with "
                                 f"0 <= first <= last <= 0x10FFFF, got {self.ranges!r}")
        if self.max_code_points is not None and (isinstance(self.max_code_points, bool)
                                                 or not isinstance(self.max_code_points, int)
                                                 or self.max_code_points < 10):
            raise ValueError(f"max_code_points: expected None or an integer >= 10, got {self.max_code_points!r}")
        for name in ("valid_fraction", "test_fraction"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < 0.5:
                raise ValueError(f"{name}: expected a number in (0, 0.5), got {value!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"seed: expected an integer >= 0, got {self.seed!r}")

    def data_key(self) -> tuple:
        """What the rendered data depends on (batch sizes do not)."""
        return (self.image_size, self.faces, self.ranges, self.max_code_points, self.valid_fraction,
                self.test_fraction, self.seed)


# ---- fonts --------------------------------------------------------------------------------------------

def find_dejavu_fonts(folders: Sequence[str] = FONT_FOLDERS) -> list[Path]:
    """Every ``DejaVu*.ttf`` under ``folders`` (searched recursively), sorted by file name.

    Raises:
        MissingDataError: none found (one line, with the command that installs them).
    """
    found: dict[str, Path] = {}
    for folder in folders:
        root = os.path.expanduser(folder)
        if not os.path.isdir(root):
            continue
        for path in glob.glob(os.path.join(root, "**", "DejaVu*.ttf"), recursive=True):
            found.setdefault(Path(path).name, Path(path))  # the first folder wins for a duplicate file
    if not found:
        raise MissingDataError(f"fonts: no DejaVu*.ttf found under {', '.join(folders)}; install them: "
                               f"{INSTALL_HINT}")
    return [found[name] for name in sorted(found)]


def cmap_code_points(path: str | os.PathLike, *, form: int | None = None) -> frozenset[int]:
    """The code points a TrueType font maps to a real glyph (glyph id != 0, i.e. not .notdef).

    Reads the ``cmap`` table's Unicode subtable: format 12 (full range) when present, else format 4 (BMP);
    ``form`` = 4 or 12 asks for that one.

    Raises:
        ValueError: the file is not a TrueType font with a Unicode cmap subtable of format 4 or 12 (of ``form``).
    """
    if form not in (None, 4, 12):
        raise ValueError(f"form: expected None, 4 or 12, got {form!r}")
    data = Path(path).read_bytes()
    try:
        tables = struct.unpack_from(">H", data, 4)[0]
        offsets = {}
        for index in range(tables):
            tag, _, offset, _ = struct.unpack_from(">4sIII", data, 12 + 16 * index)
            offsets[tag] = offset
        cmap = offsets[b"cmap"]
        subtables = struct.unpack_from(">H", data, cmap + 2)[0]
        best = None  # (rank, format, absolute offset)
        for index in range(subtables):
            platform, encoding, offset = struct.unpack_from(">HHI", data, cmap + 4 + 8 * index)
            found = struct.unpack_from(">H", data, cmap + offset)[0]
            unicode = (platform, encoding) in ((0, 3), (0, 4), (3, 1), (3, 10))
            rank = {12: 2, 4: 1}.get(found, 0) if unicode and form in (None, found) else 0
            if rank and (best is None or rank > best[0]):
                best = (rank, found, cmap + offset)
    except (struct.error, KeyError) as error:
        raise ValueError(f"path: expected a TrueType font with a cmap table, got {str(path)!r} ({error})") from None
    if best is None:
        raise ValueError(f"path: expected a Unicode cmap subtable of format {form or '4 or 12'} in {str(path)!r}, "
                         f"found none")
    _, found, at = best
    return frozenset(_format12(data, at) if found == 12 else _format4(data, at))


def _format12(data: bytes, at: int) -> Iterator[int]:
    """Segmented coverage: groups (first, last, first glyph id)."""
    groups = struct.unpack_from(">I", data, at + 12)[0]
    for group in range(groups):
        first, last, glyph = struct.unpack_from(">III", data, at + 16 + 12 * group)
        for code in range(first, last + 1):
            if glyph + code - first:
                yield code


def _format4(data: bytes, at: int) -> Iterator[int]:
    """Segment mapping to delta values: ends, starts, deltas, range offsets (into the glyph id array)."""
    count = struct.unpack_from(">H", data, at + 6)[0] // 2
    ends = struct.unpack_from(f">{count}H", data, at + 14)
    starts = struct.unpack_from(f">{count}H", data, at + 16 + 2 * count)
    deltas = struct.unpack_from(f">{count}h", data, at + 16 + 4 * count)
    offsets_at = at + 16 + 6 * count
    range_offsets = struct.unpack_from(f">{count}H", data, offsets_at)
    for segment in range(count):
        for code in range(starts[segment], ends[segment] + 1):
            if code == 0xFFFF:
                continue
            if range_offsets[segment] == 0:
                glyph = (code + deltas[segment]) & 0xFFFF
            else:  # the offset is relative to its own place in the idRangeOffset array
                where = offsets_at + 2 * segment + range_offsets[segment] + 2 * (code - starts[segment])
                glyph = struct.unpack_from(">H", data, where)[0]
                glyph = (glyph + deltas[segment]) & 0xFFFF if glyph else 0
            if glyph:
                yield code


def captionable(code: int) -> bool:
    """Whether a code point is a visible, named, non-combining character (categories L, N, P, S)."""
    character = chr(code)
    if unicodedata.category(character)[0] in "CMZ":
        return False
    return bool(unicodedata.name(character, ""))


def caption_words(character: str) -> list[str]:
    """``unicodedata.name`` split at spaces: "LATIN SMALL LETTER A WITH GRAVE" -> 6 words."""
    name = unicodedata.name(character, "")
    if not name:
        raise ValueError(f"character: expected a named character, got U+{ord(character):04X}")
    return name.split(" ")


def render_glyph(font: Any, character: str, image_size: int) -> np.ndarray:
    """One character in ``font`` (a Pillow FreeTypeFont at 0.69·S px) on an S×S canvas: (S, S) uint8 ink.

    The advance width is centred horizontally, the baseline at 0.78·S; nothing is rescaled. Fonts are opened
    with Pillow's basic layout (FreeType's own cmap lookup): with HarfBuzz (raqm), a character missing from
    the font can be drawn from its canonical decomposition (U+2260 as = and a combining slash), which is not
    the font's glyph for it.
    """
    from PIL import Image, ImageDraw

    image = Image.new("L", (image_size, image_size), 0)
    ImageDraw.Draw(image).text((image_size / 2, round(0.78 * image_size)), character, fill=255, font=font,
                               anchor="ms")
    return np.asarray(image, dtype=np.uint8)


# ---- data ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class GlyphData:
    """The rendered set, split by code point.

    Attributes:
        images: (N, S, S) uint8; code: (N,) int64 index into ``code_points`` of each image; face: (N,) int64
        index into ``faces``; split: (N,) int64 (0 train, 1 valid, 2 test).
        code_points: the kept code points, sorted; captions: their word lists; faces: font file stems;
        font_sha256: {stem: SHA-256 of the file}; unicode_version: the ``unicodedata`` version of the names;
        pillow_version, freetype_version: the renderer's.
    """

    images: np.ndarray
    code: np.ndarray
    face: np.ndarray
    split: np.ndarray
    code_points: tuple[int, ...]
    captions: tuple[tuple[str, ...], ...]
    faces: tuple[str, ...]
    font_sha256: dict[str, str]
    unicode_version: str
    pillow_version: str
    freetype_version: str

    def indices(self, split: str) -> np.ndarray:
        """The images of ``split`` ("train", "valid" or "test"), in order."""
        if split not in SPLITS:
            raise ValueError(f"split: expected one of {SPLITS}, got {split!r}")
        return np.flatnonzero(self.split == SPLITS.index(split))


def load_glyphs(config: GlyphCaptionConfig = GlyphCaptionConfig(), *,
                folders: Sequence[str] = FONT_FOLDERS) -> GlyphData:
    """Render (once per configuration; cached in memory) every kept code point in every chosen face.

    Raises:
        MissingDataError: no DejaVu fonts are installed.
        ValueError: ``faces`` names a file that is not installed; nothing is left to caption; a split is empty.
    """
    key = (config.data_key(), tuple(folders))
    if key in _CACHE:
        return _CACHE[key]
    import PIL
    from PIL import ImageFont, features

    paths = find_dejavu_fonts(folders)
    by_stem = {path.stem: path for path in paths}
    if config.faces is not None:
        missing = [stem for stem in config.faces if stem not in by_stem]
        if missing:
            raise ValueError(f"faces: expected installed DejaVu files ({', '.join(by_stem)}), got unknown "
                             f"{', '.join(missing)}")
        paths = [by_stem[stem] for stem in config.faces]
    coverage = [{code for code in cmap_code_points(path) if captionable(code)} for path in paths]
    codes = sorted(set().union(*coverage))
    if config.ranges is not None:
        codes = [c for c in codes if any(first <= c <= last for first, last in config.ranges)]
    rng = np.random.default_rng(config.seed)
    if config.max_code_points is not None and len(codes) > config.max_code_points:
        codes = sorted(rng.choice(codes, config.max_code_points, replace=False).tolist())
    if len(codes) < 10:
        raise ValueError(f"ranges: expected at least 10 captionable code points in the chosen faces, got {len(codes)}")
    size = config.image_size
    images, code_index, face_index = [], [], []
    for face, (path, covered) in enumerate(zip(paths, coverage)):
        font = ImageFont.truetype(str(path), round(0.69 * size), layout_engine=ImageFont.Layout.BASIC)
        for index, code in enumerate(codes):
            if code not in covered:
                continue
            image = render_glyph(font, chr(code), size)
            if not image.any():  # a glyph with no ink at this size
                continue
            images.append(image)
            code_index.append(index)
            face_index.append(face)
    code_index = np.asarray(code_index, dtype=np.int64)
    order = rng.permutation(len(codes))  # the split, by code point
    held = [max(1, round(fraction * len(codes))) for fraction in (config.valid_fraction, config.test_fraction)]
    split_of_code = np.zeros(len(codes), dtype=np.int64)
    split_of_code[order[:held[0]]] = 1
    split_of_code[order[held[0]:held[0] + held[1]]] = 2
    data = GlyphData(
        images=np.stack(images), code=code_index, face=np.asarray(face_index, dtype=np.int64),
        split=split_of_code[code_index], code_points=tuple(codes),
        captions=tuple(tuple(caption_words(chr(c))) for c in codes), faces=tuple(p.stem for p in paths),
        font_sha256={p.stem: hashlib.sha256(p.read_bytes()).hexdigest() for p in paths},
        unicode_version=unicodedata.unidata_version, pillow_version=PIL.__version__,
        freetype_version=str(features.version("freetype2")))
    empty = [s for s in SPLITS if not data.indices(s).size]
    if empty:
        raise ValueError(f"ranges: expected images in every split, got none in {', '.join(empty)}")
    _CACHE.clear()  # one rendered set at a time: the full set is ~90 MB
    _CACHE[key] = data
    return data


# ---- scores -------------------------------------------------------------------------------------------

def caption_scores(predicted: Sequence[Sequence[Any]], references: Sequence[Sequence[Any]]) -> dict[str, float]:
    """Exact match, position-wise word accuracy and word error rate, averaged over captions.

    Word accuracy of one caption = Σ_i [pred_i = ref_i] / max(|pred|, |ref|); word error rate = edit
    distance / |ref| (can exceed 1). Captions are word (or id) lists without the end symbol.
    """
    if len(predicted) != len(references) or not references:
        raise ValueError(f"predicted: expected {len(references)} captions (one per reference, at least one), "
                         f"got {len(predicted)}")
    exact = accuracy = errors = 0.0
    for pred, ref in zip(predicted, references):
        pred, ref = list(pred), list(ref)
        exact += pred == ref
        accuracy += sum(p == r for p, r in zip(pred, ref)) / max(len(pred), len(ref), 1)
        errors += edit_distance(pred, ref) / max(len(ref), 1)
    count = len(references)
    return {"exact_match": exact / count, "word_accuracy": accuracy / count, "word_error_rate": errors / count}


# ---- task ---------------------------------------------------------------------------------------------

class GlyphCaptionTask(Task):
    """Caption glyph images with their Unicode names; scored by cross-entropy per word (EOS included).

    Args:
        config: :class:`GlyphCaptionConfig`.
        data: the rendered set, when already loaded (otherwise rendered on first use).

    Shapes:
        inputs (B, 1, S, S) float32 in [0, 1]; targets (B, T) int64 (words, EOS, PAD); mask (B, T) bool;
        outputs (B, T, V) logits.

    Book: 10.2.4.
    """

    name = "glyph-captions"

    def __init__(self, config: GlyphCaptionConfig = GlyphCaptionConfig(), *, data: GlyphData | None = None) -> None:
        if not isinstance(config, GlyphCaptionConfig):
            raise TypeError(f"config: expected a GlyphCaptionConfig, got {type(config).__name__}")
        self.config = config
        self.seed = config.seed
        self._data = data

    @cached_property
    def data(self) -> GlyphData:
        """The rendered glyphs (on first use)."""
        return self._data if self._data is not None else load_glyphs(self.config)

    @cached_property
    def _train_indices(self) -> np.ndarray:
        """The training images, found once (not per batch)."""
        return self.data.indices("train")

    @cached_property
    def vocabulary(self) -> PairVocabulary:
        """The seq2seq vocabulary: the specials, then the training captions' words, most frequent first (ties
        in code-point order)."""
        train_codes = np.unique(self.data.code[self.data.indices("train")])
        counts = Counter(word for c in train_codes for word in self.data.captions[c])
        return PairVocabulary(sorted(counts, key=lambda word: (-counts[word], word)))

    @property
    def words(self) -> tuple[str, ...]:
        """Every token by id: the specials, then the words."""
        return self.vocabulary.tokens

    @property
    def vocab_size(self) -> int:
        return len(self.vocabulary)

    def encode(self, words: Sequence[str]) -> list[int]:
        """Word ids (``<unk>`` for words outside the vocabulary), without EOS."""
        return self.vocabulary.encode(words)

    def decode(self, ids: Sequence[int]) -> list[str]:
        """Words of ``ids``, stopping at the first EOS; specials shown by their names."""
        words = []
        for index in ids:
            if index == EOS:
                break
            words.append(self.words[index] if 0 <= index < len(self.words) else SPECIALS[UNK])
        return words

    @cached_property
    def _targets(self) -> tuple[np.ndarray, np.ndarray]:
        """Per code point: its ids then EOS, PAD after: (C, L + 1) int64, and its length with EOS (C,)."""
        encoded = [self.encode(caption) + [EOS] for caption in self.data.captions]
        lengths = np.asarray([len(ids) for ids in encoded], dtype=np.int64)
        table = np.full((len(encoded), int(lengths.max())), PAD, dtype=np.int64)
        for row, ids in enumerate(encoded):
            table[row, :len(ids)] = ids
        return table, lengths

    def references(self, split: str) -> list[list[int]]:
        """The reference word ids of every image of ``split``, in order (no EOS)."""
        table, lengths = self._targets
        codes = self.data.code[self.data.indices(split)]
        return [table[c, :lengths[c] - 1].tolist() for c in codes]

    def batch_of(self, indices: np.ndarray) -> Batch:
        """The batch of images ``indices`` (rows of ``data.images``)."""
        table, lengths = self._targets
        codes = self.data.code[indices]
        steps = int(lengths[codes].max())
        images = torch.from_numpy(self.data.images[indices]).unsqueeze(1).float().div_(255.0)  # (B, 1, S, S)
        targets = torch.from_numpy(table[codes, :steps])  # (B, T)
        mask = torch.arange(steps).unsqueeze(0) < torch.from_numpy(lengths[codes]).unsqueeze(1)  # (B, T)
        return Batch(images, targets, None, mask)

    def train_batch(self, step: int) -> Batch:
        """B training images drawn uniformly (with replacement) by ``(seed, step)``."""
        if isinstance(step, bool) or not isinstance(step, int) or step < 0:
            raise ValueError(f"step: expected an integer >= 0, got {step!r}")
        train = self._train_indices
        drawn = torch.randint(train.size, (self.config.batch_size,), generator=step_generator(self.seed, step))
        return self.batch_of(train[drawn.numpy()])

    def eval_batches(self, split: str) -> Iterator[Batch]:
        """Every image of ``split`` in order, ``eval_batch_size`` at a time."""
        indices = self.data.indices(split)
        for start in range(0, indices.size, self.config.eval_batch_size):
            yield self.batch_of(indices[start:start + self.config.eval_batch_size])

    def loss(self, outputs: Tensor, batch: Batch) -> tuple[Tensor, int]:
        """Summed cross-entropy over the masked steps (words and EOS), and their count."""
        return sequence_nll(outputs, batch.targets, None, mask=batch.mask)

    def metrics(self, total_loss: float, count: int) -> dict[str, float]:
        return {"nll_per_word": total_loss / max(count, 1)}

    def baselines(self, split: str = "test") -> dict[str, Any]:
        """Floors on ``split``: the best constant caption and the nearest training image (same face).

        Returns:
            ``{"constant_caption": [...words], "constant": scores, "nearest_neighbour": scores,
            "known_words": share of ``split``'s captions whose words are all in the vocabulary}`` with
            scores as in :func:`caption_scores`.
        """
        references = self.references(split)
        constant = self._best_constant()
        nearest = self._nearest_neighbour(split)
        return {"constant_caption": self.decode(constant), "constant": caption_scores([constant] * len(references),
                                                                                     references),
                "nearest_neighbour": caption_scores(nearest, references),
                "known_words": float(np.mean([UNK not in ref for ref in references]))}

    def _best_constant(self) -> list[int]:
        """The position-wise most common training words, cut at the length best on the training captions."""
        table, lengths = self._targets
        codes = self.data.code[self.data.indices("train")]  # one row per training image
        words, counts = table[codes], lengths[codes] - 1  # (N, L + 1) ids (EOS and PAD past each end), (N,)
        longest = int(counts.max())
        real = np.arange(words.shape[1])[None, :] < counts[:, None]  # (N, L + 1)
        majority = [int(np.bincount(words[real[:, i], i]).argmax()) for i in range(longest)]
        best, best_score = majority[:1], -1.0
        for length in range(1, longest + 1):
            matches = ((words[:, :length] == np.asarray(majority[:length])) & real[:, :length]).sum(1)
            score = float(np.mean(matches / np.maximum(counts, length)))
            if score > best_score:
                best, best_score = majority[:length], score
        return best

    def _nearest_neighbour(self, split: str) -> list[list[int]]:
        """For each image of ``split``, the caption of the closest training image (L2 in pixels) of its face."""
        data, table_refs = self.data, self._targets
        table, lengths = table_refs
        train, held = data.indices("train"), data.indices(split)
        predictions: dict[int, list[int]] = {}
        for face in range(len(data.faces)):
            pool = train[data.face[train] == face]
            queries = held[data.face[held] == face]
            if not queries.size:
                continue
            if not pool.size:
                pool = train
            bank = torch.from_numpy(data.images[pool].reshape(pool.size, -1)).float()  # (P, S·S)
            asked = torch.from_numpy(data.images[queries].reshape(queries.size, -1)).float()  # (Q, S·S)
            distances = torch.cdist(asked, bank)  # (Q, P)
            nearest = pool[distances.argmin(1).numpy()]
            for query, match in zip(queries.tolist(), nearest.tolist()):
                code = data.code[match]
                predictions[query] = table[code, :lengths[code] - 1].tolist()
        return [predictions[i] for i in held.tolist()]

    def describe(self) -> dict[str, Any]:
        data = self.data
        counts = {s: int(data.indices(s).size) for s in SPLITS}
        codes = {s: int(np.unique(data.code[data.indices(s)]).size) for s in SPLITS}
        return {"name": self.name, "config": asdict(self.config), "faces": list(data.faces),
                "font_sha256": data.font_sha256, "unicode_version": data.unicode_version,
                "pillow": data.pillow_version, "freetype": data.freetype_version, "images": counts,
                "code_points": codes, "vocabulary": self.vocab_size}
