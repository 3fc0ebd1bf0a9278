"""SQLModel tables of the catalog: papers, vocabularies, link tables, relations, provenance and evaluations."""
from __future__ import annotations

import datetime as dt
from typing import Optional

from sqlalchemy import Column, LargeBinary, UniqueConstraint
from sqlmodel import Field, SQLModel


class VocabTerm(SQLModel):
    """Columns shared by every controlled vocabulary."""

    slug: str = Field(primary_key=True)
    name: str
    synonyms: str = "[]"  # JSON list


class Organ(VocabTerm, table=True):
    pass


class Modality(VocabTerm, table=True):
    pass


class Task(VocabTerm, table=True):
    pass


class Loss(VocabTerm, table=True):
    pass


class Metric(VocabTerm, table=True):
    pass


class Architecture(VocabTerm, table=True):
    family: Optional[str] = Field(default=None, foreign_key="architecture.slug")
    reproduction: Optional[str] = None  # reproductions/<module> that trains this family


class Dataset(VocabTerm, table=True):
    organ: Optional[str] = Field(default=None, foreign_key="organ.slug")
    modality: Optional[str] = Field(default=None, foreign_key="modality.slug")
    n_images: Optional[int] = None
    classes: str = "[]"  # JSON list
    license: Optional[str] = None
    url: Optional[str] = None


class Paper(SQLModel, table=True):
    id: Optional[int] = Field(default=None, primary_key=True)
    key: str = Field(unique=True, index=True)
    kind: str = Field(index=True)  # primary | method | dataset | related | review (catalog/records.py: KINDS)
    title: str
    year: Optional[int] = Field(default=None, index=True)
    venue: Optional[str] = None
    volume: Optional[str] = None
    issue: Optional[str] = None
    pages: Optional[str] = None
    doi: Optional[str] = Field(default=None, unique=True)
    pmid: Optional[str] = Field(default=None, unique=True)
    arxiv: Optional[str] = None
    url: Optional[str] = None
    abstract: Optional[str] = None
    code_url: Optional[str] = None
    unstated: Optional[str] = None  # comma-separated required fields no checked source states (catalog/records.py)
    # curated (catalog/data) or user (a record the user imported into their own layer: proposed tags, not verified)
    origin: str = Field(default="curated", sa_column_kwargs={"server_default": "curated"})
    embedding: Optional[bytes] = Field(default=None, sa_column=Column(LargeBinary))


class PaperAuthor(SQLModel, table=True):
    paper_id: int = Field(foreign_key="paper.id", primary_key=True)
    position: int = Field(primary_key=True)
    name: str = Field(index=True)


class TagLink(SQLModel):
    """A paper tagged with a vocabulary term; `status` is verified (sourced) or proposed (by an importer)."""

    paper_id: int = Field(foreign_key="paper.id", primary_key=True)
    status: str = "verified"


class PaperOrgan(TagLink, table=True):
    term: str = Field(foreign_key="organ.slug", primary_key=True, index=True)


class PaperModality(TagLink, table=True):
    term: str = Field(foreign_key="modality.slug", primary_key=True, index=True)


class PaperTask(TagLink, table=True):
    term: str = Field(foreign_key="task.slug", primary_key=True, index=True)


class PaperArchitecture(TagLink, table=True):
    term: str = Field(foreign_key="architecture.slug", primary_key=True, index=True)


class PaperLoss(TagLink, table=True):
    term: str = Field(foreign_key="loss.slug", primary_key=True, index=True)


class PaperMetric(TagLink, table=True):
    term: str = Field(foreign_key="metric.slug", primary_key=True, index=True)


class PaperDataset(TagLink, table=True):
    term: str = Field(foreign_key="dataset.slug", primary_key=True, index=True)


class PaperEffect(SQLModel, table=True):
    """What a paper gained by adding synthetic images: one reported comparison (catalog/records.py: Effect).

    `text` is the row in one line (the free text of the older form, or a summary of the structured row); the
    structured columns are empty for free-text rows."""

    id: Optional[int] = Field(default=None, primary_key=True)
    paper_id: int = Field(foreign_key="paper.id", index=True)
    text: str
    task: Optional[str] = Field(default=None, index=True)  # classification | segmentation | detection | ...
    metric: Optional[str] = Field(default=None, foreign_key="metric.slug", index=True)
    measure: Optional[str] = None  # the paper's own name of the measure
    value_without: Optional[float] = None  # without synthetic data
    value_with: Optional[float] = None  # with synthetic data
    change: Optional[float] = None  # with - without, or the difference the paper reports
    unit: Optional[str] = None
    real_data: Optional[str] = None  # amount of real training data
    comparison: Optional[str] = None  # the paper's own comparison
    source: Optional[str] = None  # the source that shows the figures
    note: Optional[str] = None
    arm: Optional[str] = None  # classical | synthetic | classical+synthetic, when the paper reports several
    classifier: Optional[str] = None  # the downstream model as the paper names it, when it reports several


class PaperAttribute(SQLModel, table=True):
    paper_id: int = Field(foreign_key="paper.id", primary_key=True)
    name: str = Field(primary_key=True)
    value: str


class PaperRelation(SQLModel, table=True):
    """source cites target, or source and target are similar (stored once, read both ways)."""

    source_id: int = Field(foreign_key="paper.id", primary_key=True)
    target_id: int = Field(foreign_key="paper.id", primary_key=True, index=True)
    kind: str = Field(primary_key=True)


class Provenance(SQLModel, table=True):
    """Where one field of one record was checked, and when."""

    __table_args__ = (UniqueConstraint("entity", "entity_key", "field", "source"),)
    id: Optional[int] = Field(default=None, primary_key=True)
    entity: str = Field(index=True)  # paper | dataset
    entity_key: str = Field(index=True)
    field: str
    source: str  # a URL or stored path; for a field derived by rule, 'rule:<rule>' (e.g. rule:arxiv)
    checked: dt.date
    source_class: str = "web"  # catalog/sourcerank.py: publisher | pubmed | arxiv | dblp | repository | code | ...
    tier: str = Field(default="secondary", index=True)  # primary | secondary | derived
    secondary_only: bool = False  # every source of this field is secondary


class Meta(SQLModel, table=True):
    """Build facts: source hash, build time, counts."""

    name: str = Field(primary_key=True)
    value: str


class Evaluation(SQLModel, table=True):
    """One measured figure of a zoo model, or of a real-data floor or baseline (reproductions/results/evaluations.jsonl)."""

    id: Optional[int] = Field(default=None, primary_key=True)
    model_id: str = Field(index=True)
    dataset: str = Field(index=True)
    kind: str  # model | floor | baseline
    metric: str = Field(index=True)
    value: float
    n: int
    n_real: Optional[int] = None
    seed: int
    features: Optional[str] = None
    reference: Optional[str] = None
    commit: Optional[str] = None
    hardware: Optional[str] = None
    seconds: Optional[float] = None
    command: Optional[str] = None
    recorded_at: Optional[str] = None
    facts: str = "{}"  # JSON object of the row's further facts (feature weights sha256, KID subset size, recipe)


VOCAB_TABLES: dict[str, type[VocabTerm]] = {
    "organ": Organ, "modality": Modality, "task": Task, "architecture": Architecture,
    "loss": Loss, "metric": Metric, "dataset": Dataset,
}
LINK_TABLES: dict[str, type[TagLink]] = {
    "organ": PaperOrgan, "modality": PaperModality, "task": PaperTask, "architecture": PaperArchitecture,
    "loss": PaperLoss, "metric": PaperMetric, "dataset": PaperDataset,
}
