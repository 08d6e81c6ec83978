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


def read_lines(path: Path) -> list[str]:
    """A trail file's lines; bytes that are not UTF-8 stop the reader naming the file, which
    Python's own decoding error does not."""
    try:
        return path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path}: not UTF-8 ({exc.reason} at byte {exc.start})") from None


def read_chunk(path: Path) -> list[dict]:
    """Every line's object; a line that is not a JSON object with an id stops the reader, naming
    the file and line, since every file of the trail is keyed by id."""
    rows = []
    for number, line in enumerate(read_lines(path), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}: line {number}: not JSON ({exc.msg})") from None
        if not isinstance(row, dict) or "id" not in row:
            raise ValueError(f"{path}: line {number}: not a JSON object with an id")
        rows.append(row)
    return rows
