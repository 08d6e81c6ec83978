"""Need-mix monitoring: how the share of each need level and complaint cause moves over time, per segment.

``needlens label`` says what each text needs; this package watches the mix of those labels
in time windows, per customer segment, against a baseline, and raises an alert when a
segment's mix moves further than noise explains (``monitor.index`` documents the measure).
Data flows one way: labeled rows → ``observations`` → ``tallies`` → ``index`` → ``alerts``
→ ``pipeline`` (the figures as records) → ``summary``, ``charts`` and ``html_report``.
Rows may come from a labeled file or from any iterable of the same dicts (a store, a DataFrame).
"""
