"""The sweep's face: a study as a list of jobs, run in shards here or as Slurm job arrays through
submitit, and merged into one table (``python -m depthrep sweep``).
"""
