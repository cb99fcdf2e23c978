"""The runtime: what scores a transaction in production, and the bundle it comes from.

Imports numpy and nothing offline (no Keras, TensorFlow, scikit-learn, pandas or matplotlib);
a bundle with the supervised stage needs LightGBM's C library, loaded when such a bundle is.
The consumer imports this package and nothing else of `training`.
"""
