"""Plumbing every wing uses: did-you-mean names, progress bars, named random streams, the
precision a machine runs, and the executors (local processes or Slurm) behind the book and the sweep.
"""
