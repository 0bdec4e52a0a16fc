"""Reservoir computing: echo state networks with a fixed reservoir and a learned linear readout.

Book: 10.8.
"""
from recnets.analysis.spectrum import spectral_radius
from recnets.reservoir.cell import ReservoirCell
from recnets.reservoir.esn import SOLVERS, EchoStateNetwork, ESNState, FitReport
from recnets.reservoir.measures import (EchoStateCheck, MemoryCapacity, echo_state_property, memory_capacity, nmse,
                                        nrmse)
from recnets.reservoir.readout import LeastSquaresStatistics, QRRidgeAccumulator, RidgeAccumulator, RLSReadout, log_grid
from recnets.reservoir.weights import random_matrix, reservoir_matrix

__all__ = ["ReservoirCell", "EchoStateNetwork", "ESNState", "FitReport", "SOLVERS", "EchoStateCheck",
           "MemoryCapacity", "echo_state_property", "memory_capacity", "nmse", "nrmse", "LeastSquaresStatistics",
           "RidgeAccumulator", "QRRidgeAccumulator", "RLSReadout", "log_grid", "random_matrix", "reservoir_matrix",
           "spectral_radius"]
