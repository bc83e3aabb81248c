"""Utilities every layer may use: input checks, atomic writes, JSON conversion, YAML loading.

NumPy only; imports nothing else from posesynth.
"""
