"""``embed-genes``: gene embeddings from protein sequences with ESM-2 (fair-esm)."""

from __future__ import annotations

from pathlib import Path


def add_parser(sub) -> None:
    emb = sub.add_parser(
        "embed-genes", help="compute gene embeddings from protein sequences with ESM-2 (fair-esm)",
        description="Embed each protein of a FASTA file with an ESM-2 model and write a genes x dimensions "
        "parquet table, usable with --embeddings. Gene names come from UniProt 'GN=' fields or the first "
        "word of each header. Needs fair-esm and the model weights (a pretrained name is fetched once "
        "into the torch hub cache; or give a local .pt file).",
    )
    emb.set_defaults(func=execute)
    emb.add_argument("fasta", type=Path, help="protein sequences, one record per gene")
    emb.add_argument("--out", type=Path, required=True, help="output .parquet file")
    emb.add_argument("--model", default="esm2_t36_3B_UR50D",
                     help="fair-esm model name or local .pt file (default: %(default)s, the paper's)")
    emb.add_argument("--layer", type=int, help="representation layer (default: last)")
    emb.add_argument("--pooling", choices=["mean", "last"], default="mean",
                     help="mean over residues (default) or the last residue (as the stImpute tutorial)")
    emb.add_argument("--device", default="cpu")


def execute(args) -> int:
    from ..datasets.embeddings import embed_fasta

    table = embed_fasta(args.fasta, args.out, args.model, layer=args.layer, pooling=args.pooling, device=args.device)
    print(f"wrote {table.shape[0]} genes x {table.shape[1]} dimensions to {args.out}")
    return 0
