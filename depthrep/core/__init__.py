"""The engine: the staged encoder, the update rules, the batched inversion with its divergence
guard and stopping rule, distances, results and their labels, the store of kept results, and
the job, the one unit of work (:mod:`depthrep.core.jobs`). It imports nothing from the wings above.
"""

from depthrep.core.encoder import Encoder, encoder_for

# The front door (``depthrep``) holds invert, its methods and stops, results and distances; these
# read a model's layers without inverting (what ``depthrep.embed`` uses).
__all__ = ["Encoder", "encoder_for"]
