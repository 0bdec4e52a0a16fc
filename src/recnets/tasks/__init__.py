"""Tasks: data, losses, metrics and trivial baselines."""
from recnets.tasks.base import Batch, Task, sequence_nll, step_generator
from recnets.tasks.char_corpus import CharLMConfig, CharLMTask, Vocabulary, stdlib_documents, text_file_documents
from recnets.tasks.floors import compressor_bpc, ngram_bpc, unigram_bpc

__all__ = ["Batch", "Task", "sequence_nll", "step_generator", "CharLMConfig", "CharLMTask", "Vocabulary",
           "stdlib_documents", "text_file_documents", "compressor_bpc", "ngram_bpc", "unigram_bpc"]
from recnets.tasks.arithmetic import (AddingTask, ArithmeticConfig, MultiplicationTask, PascanuAddingTask,
                                      PascanuMultiplicationTask)
from recnets.tasks.generated import GeneratedConfig, GeneratedTask, success_rate
from recnets.tasks.long_term import TASKS, make_task
from recnets.tasks.memory_tasks import (CopyConfig, CopyMemoryTask, LatchingConfig, LatchingTask, MemorizationConfig,
                                        MemorizationTask, PermutationConfig, RandomPermutationTask)
from recnets.tasks.temporal_order import TemporalOrder2BitTask, TemporalOrder3BitTask, TemporalOrderConfig
from recnets.tasks.waveform import SumOfSinesTask, WaveformConfig

__all__ += ["AddingTask", "ArithmeticConfig", "MultiplicationTask", "PascanuAddingTask", "PascanuMultiplicationTask",
            "GeneratedConfig", "GeneratedTask", "success_rate", "TASKS", "make_task", "CopyConfig", "CopyMemoryTask",
            "LatchingConfig", "LatchingTask", "MemorizationConfig", "MemorizationTask", "PermutationConfig",
            "RandomPermutationTask", "TemporalOrder2BitTask", "TemporalOrder3BitTask", "TemporalOrderConfig",
            "SumOfSinesTask", "WaveformConfig"]
from recnets.tasks.series import (JapaneseVowels, MissingDataError, check_series, japanese_vowels, load_series,
                                  mackey_glass, narma10, santafe_laser)

__all__ += ["JapaneseVowels", "MissingDataError", "check_series", "japanese_vowels", "load_series", "mackey_glass",
            "narma10", "santafe_laser"]
from recnets.tasks.babi import BabiConfig, BabiTask, Example, flat_tokens, generate_examples
from recnets.tasks.babi_views import FlatStoryBabiTask, StronglySupervisedBabiTask
from recnets.tasks.ntm_tasks import (AssociativeRecallConfig, AssociativeRecallTask, BitSequenceTask, BitTaskConfig,
                                     CopyTask, DynamicNGramsConfig, DynamicNGramsTask, PrioritySortConfig,
                                     PrioritySortTask, RepeatCopyConfig, RepeatCopyTask)

__all__ += ["BabiConfig", "BabiTask", "Example", "flat_tokens", "generate_examples", "FlatStoryBabiTask",
            "StronglySupervisedBabiTask", "BitTaskConfig", "BitSequenceTask", "CopyTask", "RepeatCopyConfig",
            "RepeatCopyTask", "AssociativeRecallConfig", "AssociativeRecallTask", "PrioritySortConfig",
            "PrioritySortTask", "DynamicNGramsConfig", "DynamicNGramsTask"]
from recnets.tasks.token_tagging import (LABELS, TokenTaggingConfig, TokenTaggingTask, character_labels,
                                         load_token_tagging, tagging_scores)
from recnets.tasks.window_regression import WindowRegressionConfig, WindowRegressionTask

__all__ += ["LABELS", "TokenTaggingConfig", "TokenTaggingTask", "character_labels", "load_token_tagging",
            "tagging_scores", "WindowRegressionConfig", "WindowRegressionTask"]
from recnets.tasks.cmudict import CMUDict, cmudict_task, load_cmudict
from recnets.tasks.conll import TaggingTask, format_conll, read_conll
from recnets.tasks.pairs import PairsTask, PairVocabulary, read_pairs_tsv, split_pairs
from recnets.tasks.sequence_errors import edit_distance, error_rates, phoneme_error_rate, word_error_rate

__all__ += ["CMUDict", "cmudict_task", "load_cmudict", "TaggingTask", "format_conll", "read_conll", "PairsTask",
            "PairVocabulary", "read_pairs_tsv", "split_pairs", "edit_distance", "error_rates", "phoneme_error_rate",
            "word_error_rate"]
from recnets.tasks.string_reversal import StringReversalConfig, StringReversalTask

__all__ += ["StringReversalConfig", "StringReversalTask"]
from recnets.tasks.digit_recurrence import DigitRecurrenceConfig, DigitRecurrenceTask, digit_recurrence

__all__ += ["DigitRecurrenceConfig", "DigitRecurrenceTask", "digit_recurrence"]
from recnets.tasks.glyph_captions import GlyphCaptionConfig, GlyphCaptionTask, caption_scores, load_glyphs

__all__ += ["GlyphCaptionConfig", "GlyphCaptionTask", "caption_scores", "load_glyphs"]
