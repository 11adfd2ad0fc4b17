"""`followup triage train`: retrain the second reader on the labelled corpus."""

from __future__ import annotations

import click


@click.group()
def triage() -> None:
    """The two readers of patients' replies."""


@triage.command()
def train() -> None:
    """Measure the readers, fit the model on `corpus/`, write `models/` (file and card).

    Needs scikit-learn: pip install -e '.[train]'."""
    try:
        import sklearn  # noqa: F401
    except ImportError:
        raise click.ClickException(
            "training needs scikit-learn: pip install -e '.[train]'"
        ) from None
    from followup.replies.model_card import train as train_model

    click.echo("training the second reader (cross-validation, leave-one-family-out)...")
    trained = train_model()
    recall = trained.measures["cross_validated"]["emergency_recall"]
    lofo = trained.measures["leave_one_family_out"]
    unseen = sum(f["model"] for f in lofo.values()), sum(f["emergencies"] for f in lofo.values())
    click.echo(
        f"wrote {trained.model} ({trained.model_bytes / 1e6:.1f} MB) and {trained.card} in "
        f"{trained.seconds:.0f} s\n"
        f"emergency threshold {trained.measures['threshold']}; out of fold, rules or model "
        f"caught {recall['both']} of {recall['emergencies']} emergencies (model alone "
        f"{recall['model']}); leave-one-family-out, the model alone {unseen[0]} of {unseen[1]}\n"
        f"{trained.microseconds_per_reply:.0f} µs per reply"
    )
