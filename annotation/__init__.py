"""Annotating real texts: choosing what to read, handing it out in chunks, checking and merging readings.

Labels here are always an annotator's reading of a text against the spec; this package only
moves texts and readings around and never decides a label itself.
"""
