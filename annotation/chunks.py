"""Chunk files: what one annotator run reads (id, domain, text), and nothing that hints at a label."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from annotation.sampling import PoolText


def write_chunks(texts: Sequence[PoolText], out_dir: Path, size: int, prefix: str, start: int = 1) -> list[Path]:
    """Numbered JSONL chunks; the pool's sentiment field is left out so annotators cannot lean on it."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for number, offset in enumerate(range(0, len(texts), size), start=start):
        path = out_dir / f"{prefix}{number:02d}.jsonl"
        with path.open("w", encoding="utf-8") as handle:
            for text in texts[offset : offset + size]:
                row = {"id": text.pool_id, "domain": text.domain, "text": text.text}
                handle.write(json.dumps(row, ensure_ascii=False) + "\n")
        paths.append(path)
    return paths


def read_chunk(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]
