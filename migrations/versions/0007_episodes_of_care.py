"""episodes of care: visits share one series; next appointments

Revision ID: 0007
Revises: 0006

Existing visits are grouped into episodes per patient: a visit more than
FOLLOWUP_EPISODE_GAP_DAYS (as set when upgrading) after the previous one, or after the
patient's discharge, opens a new episode. A plan step keeps one message per episode
and channel: the one that reached the patient, else the latest planned; the other
pending copies (a second welcome from a second visit) are cancelled with the reason.
"""

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime, timedelta

import sqlalchemy as sa
from alembic import op

from followup.config import Settings

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

REACHED = ("sending", "sent", "delivered", "unknown")
PENDING = ("scheduled", "queued")

episodes = sa.table(
    "episodes",
    sa.column("id", sa.Integer),
    sa.column("patient_id", sa.Integer),
    sa.column("opened_at", sa.DateTime),
    sa.column("closed_at", sa.DateTime),
    sa.column("close_reason", sa.String),
)
visits = sa.table(
    "visits",
    sa.column("id", sa.Integer),
    sa.column("patient_id", sa.Integer),
    sa.column("episode_id", sa.Integer),
    sa.column("visited_at", sa.DateTime),
)
patients = sa.table(
    "patients", sa.column("id", sa.Integer), sa.column("discharged_at", sa.DateTime)
)
messages = sa.table(
    "messages",
    sa.column("id", sa.Integer),
    sa.column("visit_id", sa.Integer),
    sa.column("episode_id", sa.Integer),
    sa.column("step", sa.String),
    sa.column("channel", sa.String),
    sa.column("status", sa.String),
    sa.column("last_error", sa.Text),
)


def upgrade() -> None:
    op.create_table(
        "episodes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("opened_at", sa.DateTime(), nullable=False),
        sa.Column("closed_at", sa.DateTime(), nullable=True),
        sa.Column("close_reason", sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(["patient_id"], ["patients.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("episodes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_episodes_patient_id"), ["patient_id"], unique=False)
    with op.batch_alter_table("visits", schema=None) as batch_op:
        batch_op.add_column(sa.Column("episode_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("next_appointment_at", sa.DateTime(), nullable=True))
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("episode_id", sa.Integer(), nullable=True))
    _group_visits()
    _one_message_per_step()
    with op.batch_alter_table("visits", schema=None) as batch_op:
        batch_op.alter_column("episode_id", existing_type=sa.Integer(), nullable=False)
        batch_op.create_index(batch_op.f("ix_visits_episode_id"), ["episode_id"], unique=False)
        batch_op.create_foreign_key(
            "fk_visits_episode_id_episodes", "episodes", ["episode_id"], ["id"]
        )
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_constraint("uq_messages_visit_step_channel", type_="unique")
        batch_op.create_unique_constraint(
            "uq_messages_episode_step_channel", ["episode_id", "step", "channel"]
        )
        batch_op.create_foreign_key(
            "fk_messages_episode_id_episodes", "episodes", ["episode_id"], ["id"]
        )


def _group_visits() -> None:
    bind = op.get_bind()
    gap = timedelta(days=Settings.from_env().episode_gap_days)
    discharged = dict(bind.execute(sa.select(patients.c.id, patients.c.discharged_at)).all())
    by_patient: dict[int, list[tuple[int, datetime]]] = defaultdict(list)
    for row in bind.execute(
        sa.select(visits.c.id, visits.c.patient_id, visits.c.visited_at).order_by(
            visits.c.patient_id, visits.c.visited_at, visits.c.id
        )
    ):
        by_patient[row.patient_id].append((row.id, row.visited_at))
    for patient_id, rows in by_patient.items():
        episode_id, last = 0, None
        end = discharged.get(patient_id)
        for visit_id, visited_at in rows:
            after_discharge = end is not None and last is not None and last <= end < visited_at
            if last is None or after_discharge or visited_at - last > gap:
                episode_id = bind.execute(
                    sa.insert(episodes)
                    .values(patient_id=patient_id, opened_at=visited_at)
                    .returning(episodes.c.id)
                ).scalar_one()
            bind.execute(
                sa.update(visits).where(visits.c.id == visit_id).values(episode_id=episode_id)
            )
            last = visited_at
    # A discharged patient's latest episode is closed by the discharge.
    for patient_id, at in discharged.items():
        latest = bind.execute(
            sa.select(episodes.c.id)
            .where(episodes.c.patient_id == patient_id)
            .order_by(episodes.c.opened_at.desc())
            .limit(1)
        ).scalar()
        if at is not None and latest is not None:
            bind.execute(
                sa.update(episodes)
                .where(episodes.c.id == latest)
                .values(closed_at=at, close_reason="discharged")
            )


def _one_message_per_step() -> None:
    bind = op.get_bind()
    groups: dict[tuple[int, str, str], list[sa.Row[tuple[int, int, str, str, str]]]] = defaultdict(
        list
    )
    for row in bind.execute(
        sa.select(messages.c.id, visits.c.episode_id, messages.c.step, messages.c.channel)
        .add_columns(messages.c.status)
        .join(visits, messages.c.visit_id == visits.c.id)
        .where(messages.c.step.is_not(None))
        .order_by(messages.c.id)
    ):
        groups[(row.episode_id, row.step, row.channel)].append(row)
    for (episode_id, _, _), rows in groups.items():
        # What reached the patient first wins; else the latest planned copy.
        keeper = min(
            rows, key=lambda r: (r.status not in REACHED, r.id if r.status in REACHED else -r.id)
        )
        bind.execute(
            sa.update(messages).where(messages.c.id == keeper.id).values(episode_id=episode_id)
        )
        others = [row.id for row in rows if row.id != keeper.id and row.status in PENDING]
        if others:
            bind.execute(
                sa.update(messages)
                .where(messages.c.id.in_(others))
                .values(
                    status="cancelled",
                    last_error=f"same step as message #{keeper.id} in this episode of care",
                )
            )


def downgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_constraint("fk_messages_episode_id_episodes", type_="foreignkey")
        batch_op.drop_constraint("uq_messages_episode_step_channel", type_="unique")
        batch_op.create_unique_constraint(
            "uq_messages_visit_step_channel", ["visit_id", "step", "channel"]
        )
        batch_op.drop_column("episode_id")
    with op.batch_alter_table("visits", schema=None) as batch_op:
        batch_op.drop_constraint("fk_visits_episode_id_episodes", type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_visits_episode_id"))
        batch_op.drop_column("next_appointment_at")
        batch_op.drop_column("episode_id")
    with op.batch_alter_table("episodes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_episodes_patient_id"))
    op.drop_table("episodes")
