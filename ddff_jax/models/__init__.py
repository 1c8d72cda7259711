"""Flax NNX models: DDFFNet (+ the paper's variants), the DDFS network, and the classical baseline."""
