"""Fit a bundle's models: scaler, Keras networks, score constants, threshold, supervised stage."""
