"""Circuit model: gate facts, operations, encoders, architectures, readouts and the VQC."""

from compvqc.model.circuit import VQC, build_model
from compvqc.model.gates import GATE_TYPES, canonicalize, canonicalize_angles, circular_distance
from compvqc.model.ops import AmplitudeEncode, Encode, Fixed, Gate
from compvqc.model.readout import Readout, default_readout, interpreted, pauli_readout, softmax_cross_entropy

__all__ = ["VQC", "build_model", "GATE_TYPES", "canonicalize", "canonicalize_angles", "circular_distance",
           "Gate", "Encode", "Fixed", "AmplitudeEncode", "Readout", "default_readout", "interpreted", "pauli_readout",
           "softmax_cross_entropy"]
