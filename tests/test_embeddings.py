"""ESM-2 gene embeddings from FASTA, with a tiny randomly initialised ESM model (no downloads)."""

from __future__ import annotations

import numpy as np
import pytest

from benchmark.datasets.embeddings import embed_sequences, read_fasta
from benchmark.errors import InputError

FASTA = """>sp|P61922|GABT_MOUSE 4-aminobutyrate aminotransferase OS=Mus musculus OX=10090 GN=Abat PE=1 SV=1
MASMLLAQRLACSFQHSYRLLVPGSRHISQAAAKVDVEFDYDGPLMKTEVPGPRSRELMKQLNIIQNAEAVHFFCNYEES
RGNYLVDVDGNRMLDLYSQISSIPIGYSHPALLKLIQQ
>Gad1 plain header
MASSTPSPATSSNAGADPNTTNLRPTTYDTWCGVAHG
>Slc17a7
MEFRQEEFRKLAGRALGKLHRLLEKRQEGAETLELSADGRPVTTQTRDPPVVDCTCFGLPRRYIIAIMSGLGFCISFGIRC
"""


def test_read_fasta_names_and_sequences(tmp_path):
    path = tmp_path / "p.fasta"
    path.write_text(FASTA)
    seqs = read_fasta(path)
    assert list(seqs) == ["Abat", "Gad1", "Slc17a7"]  # UniProt GN= field, else the first word
    assert seqs["Abat"].startswith("MASMLLAQ") and seqs["Abat"].endswith("LIQQ")


def test_read_fasta_errors(tmp_path):
    path = tmp_path / "dup.fasta"
    path.write_text(">A\nMK\n>A\nMV\n")
    with pytest.raises(InputError, match="twice"):
        read_fasta(path)
    with pytest.raises(InputError, match="does not exist"):
        read_fasta(tmp_path / "missing.fasta")


def test_embed_with_tiny_esm(tmp_path):
    esm = pytest.importorskip("esm", reason="fair-esm is not installed")
    import torch

    torch.manual_seed(0)
    alphabet = esm.data.Alphabet.from_architecture("ESM-1b")
    model = esm.model.esm2.ESM2(num_layers=2, embed_dim=16, attention_heads=2, alphabet=alphabet)
    path = tmp_path / "p.fasta"
    path.write_text(FASTA)
    seqs = read_fasta(path)
    table = embed_sequences(seqs, model, alphabet, batch_size=2)
    assert table.shape == (3, 16) and list(table.index) == ["Abat", "Gad1", "Slc17a7"]
    assert np.isfinite(table.to_numpy()).all()
    again = embed_sequences(seqs, model, alphabet, batch_size=3)  # batching must not change results
    np.testing.assert_allclose(table.to_numpy(), again.to_numpy(), rtol=1e-4, atol=1e-5)
    last = embed_sequences(seqs, model, alphabet, pooling="last")
    assert not np.allclose(last.to_numpy(), table.to_numpy())


def test_embed_genes_command(tmp_path, monkeypatch, capsys):
    """`python -m benchmark embed-genes` writes a table the suite reads back as gene embeddings."""
    esm = pytest.importorskip("esm", reason="fair-esm is not installed")
    import torch

    from benchmark.cli import main
    from benchmark.datasets import embeddings
    from benchmark.datasets.io import read_embeddings

    torch.manual_seed(0)
    alphabet = esm.data.Alphabet.from_architecture("ESM-1b")
    tiny = esm.model.esm2.ESM2(num_layers=2, embed_dim=16, attention_heads=2, alphabet=alphabet)
    monkeypatch.setattr(embeddings, "load_esm", lambda name: (tiny, alphabet))  # no weights download
    path = tmp_path / "p.fasta"
    path.write_text(FASTA)
    out = tmp_path / "emb.parquet"
    assert main(["embed-genes", str(path), "--out", str(out), "--model", "tiny"]) == 0
    assert "3 genes x 16 dimensions" in capsys.readouterr().out
    assert read_embeddings(out).shape == (3, 16)
