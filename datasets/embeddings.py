"""Gene (protein) embeddings from protein sequences with ESM-2 (``fair-esm``).

stImpute builds its gene graph from ESM-2 embeddings of each gene's protein. This module turns
a FASTA file of protein sequences into a genes x dimensions table (parquet) that datasets and
``--embeddings`` accept. Loading a pretrained model (e.g. ``esm2_t36_3B_UR50D``, the paper's)
needs its weights: from the torch hub cache (downloaded once, online) or a local ``.pt`` file.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from benchmark.errors import InputError

#: ESM-2's positional limit: longer sequences are truncated, as fair-esm's extract script does.
MAX_RESIDUES = 1022


def read_fasta(path: str | Path) -> dict[str, str]:
    """Gene -> protein sequence. The gene is the ``GN=`` field of a UniProt header if present,
    otherwise the first word of the header."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"FASTA file {path} does not exist")
    records: dict[str, str] = {}
    name, seq = None, []

    def flush():
        if name is not None:
            if name in records:
                raise InputError(f"FASTA file {path} has gene {name!r} twice; keep one sequence per gene")
            if not seq:
                raise InputError(f"FASTA record {name!r} in {path} has no sequence")
            records[name] = "".join(seq)

    for line in path.read_text().splitlines():
        line = line.strip()
        if not line:
            continue
        if line.startswith(">"):
            flush()
            header = line[1:].strip()
            m = re.search(r"\bGN=(\S+)", header)
            name, seq = (m.group(1) if m else header.split()[0] if header else ""), []
            if not name:
                raise InputError(f"FASTA file {path} has a record without a name")
        else:
            if name is None:
                raise InputError(f"FASTA file {path} does not start with a '>' header")
            seq.append(line.upper())
    flush()
    if not records:
        raise InputError(f"FASTA file {path} holds no sequences")
    return records


def load_esm(model: str):
    """An ESM model and its alphabet: a fair-esm pretrained name, or a path to a ``.pt`` file."""
    import esm

    if Path(model).is_file():
        return esm.pretrained.load_model_and_alphabet_local(model)
    return esm.pretrained.load_model_and_alphabet(model)


def embed_sequences(sequences: dict[str, str], model, alphabet, *, layer: int | None = None,
                    pooling: str = "mean", batch_size: int = 4, device: str = "cpu") -> pd.DataFrame:
    """Embed protein sequences; returns genes x dimensions (float32).

    Parameters
    ----------
    layer
        Representation layer (default: the last).
    pooling
        ``"mean"`` over residues (fair-esm's "mean" representation, the default), or ``"last"``
        (the last residue's representation, which is what the stImpute authors' tutorial took).
    """
    import torch

    if pooling not in ("mean", "last"):
        raise InputError(f"pooling must be 'mean' or 'last', got {pooling!r}")
    layer = model.num_layers if layer is None else layer
    model = model.eval().to(device)
    converter = alphabet.get_batch_converter()
    genes = list(sequences)
    out = []
    with torch.no_grad():
        for start in range(0, len(genes), batch_size):
            batch = [(g, sequences[g][:MAX_RESIDUES]) for g in genes[start:start + batch_size]]
            _, _, tokens = converter(batch)
            reps = model(tokens.to(device), repr_layers=[layer])["representations"][layer]
            for i, (_, seq) in enumerate(batch):
                residues = reps[i, 1:len(seq) + 1]  # drop the BOS token and padding
                out.append((residues.mean(0) if pooling == "mean" else residues[-1]).float().cpu().numpy())
    dims = [f"esm_{i:04d}" for i in range(out[0].shape[0])]
    return pd.DataFrame(np.stack(out), index=pd.Index(genes, name="gene"), columns=dims).astype(np.float32)


def embed_fasta(fasta: str | Path, out: str | Path, model: str = "esm2_t36_3B_UR50D", **kwargs) -> pd.DataFrame:
    """Read a FASTA file, embed every sequence with ESM, write ``out`` (parquet); return the table."""
    seqs = read_fasta(fasta)
    mdl, alphabet = load_esm(model)
    table = embed_sequences(seqs, mdl, alphabet, **kwargs)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    table.to_parquet(out)
    return table
