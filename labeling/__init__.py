"""Batch labeling: files of feedback in, one labeled row per input row out.

The job (`job.py`) reads tables (`tables.py`), checks a run before it starts (`plan.py`),
labels rows through the one row logic (`rows.py`) in this process, in worker processes
(`workers.py`) or on a Ray cluster (`ray_engine.py`), and writes as it goes so a rerun resumes.
It calls `classifier` for every label; nothing here knows how a model works.
"""
