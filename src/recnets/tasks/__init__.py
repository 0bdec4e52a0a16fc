"""Tasks: data, losses, metrics and trivial baselines."""
from recnets.tasks.base import Batch, Task, sequence_nll, step_generator
from recnets.tasks.char_corpus import CharLMConfig, CharLMTask, Vocabulary, stdlib_documents, text_file_documents
from recnets.tasks.floors import compressor_bpc, ngram_bpc, unigram_bpc

__all__ = ["Batch", "Task", "sequence_nll", "step_generator", "CharLMConfig", "CharLMTask", "Vocabulary",
           "stdlib_documents", "text_file_documents", "compressor_bpc", "ngram_bpc", "unigram_bpc"]
