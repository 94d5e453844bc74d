"""The engine: the staged encoder, the update rules, the batched inversion with its divergence
guard and stopping rule, distances, results and their labels, the store of kept results, and
the job, the one unit of work (:mod:`depthrep.core.jobs`). It imports nothing from the wings above.
"""
