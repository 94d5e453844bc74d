"""The paper's studies on top of the engine: the same inversion over seeds and starts, local
gains, exact algebra of linear nets, spectra, the training worlds, models trained here, and the
world judge.
"""
