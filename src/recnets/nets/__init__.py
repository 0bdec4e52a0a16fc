"""Networks composed of unrolled cells (Book: 10.2)."""
from recnets.nets.patterns import OutputEveryStep, OutputFeed, OutputRecurrentCell, OutputToHidden, SequenceToOne
from recnets.nets.readout import Readout
from recnets.nets.deep import DeepRNN, Stacked

__all__ = ["OutputEveryStep", "OutputToHidden", "OutputRecurrentCell", "OutputFeed", "SequenceToOne", "Readout"]
__all__ += ["Stacked", "DeepRNN"]
from recnets.nets.lm_decoder import LanguageModelDecoder
from recnets.nets.stopping import PredictedLengthRNN, StopUnitRNN

__all__ += ["LanguageModelDecoder", "StopUnitRNN", "PredictedLengthRNN"]
from recnets.nets.story_lstm import story_lstm

__all__ += ["story_lstm"]
from recnets.nets.bidirectional import Bidirectional, BidirectionalRNN, BidirectionalState, bidirectional_layers
from recnets.nets.delay import DelayedOutput

__all__ += ["Bidirectional", "BidirectionalState", "BidirectionalRNN", "bidirectional_layers", "DelayedOutput"]
from recnets.nets.attention import AdditiveAttention, DotAttention, GeneralAttention, make_attention
from recnets.nets.encoder_decoder import EncodedSource, EncoderDecoder, Seq2SeqDecoder, Seq2SeqEncoder, Seq2SeqState

__all__ += ["AdditiveAttention", "DotAttention", "GeneralAttention", "make_attention", "EncoderDecoder",
            "EncodedSource", "Seq2SeqDecoder", "Seq2SeqEncoder", "Seq2SeqState"]
from recnets.nets.conditioned import ConditionedRNN, ImageEncoder, InitialStateMap, conditioned_rnn

__all__ += ["ConditionedRNN", "ImageEncoder", "InitialStateMap", "conditioned_rnn"]
