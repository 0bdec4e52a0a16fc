"""Networks composed of unrolled cells (Book: 10.2)."""
from recnets.nets.patterns import OutputEveryStep, OutputFeed, OutputRecurrentCell, OutputToHidden, SequenceToOne
from recnets.nets.readout import Readout

__all__ = ["OutputEveryStep", "OutputToHidden", "OutputRecurrentCell", "OutputFeed", "SequenceToOne", "Readout"]
